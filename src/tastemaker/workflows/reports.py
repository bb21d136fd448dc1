"""What the library's state looks like: the seed's statistics (progress through the
library, agreement with the database), and what the statistics page, the gallery and
``stats --plot`` show.

Three counts, one word each, everywhere: a **choice** is one decision on one set shown;
an **appearance** is one image shown in one set (a pair gives two); a **pairwise
outcome** is one (winner, loser) pair a choice implies (a set of ``k`` gives ``k - 1``,
one row each in ``export --comparisons``). So appearances = choices + pairwise outcomes.

Everything here is read from the store (the authority, whichever process rated) and
derived on the spot; nothing is written. The ranking convergence replays the seed's Elo
once, in order, stopping at each batch's last choice: O(pairwise outcomes) in all,
however many batches there are.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tastemaker.errors import TastemakerError
from tastemaker.rating import elo
from tastemaker.rating import odd_one_out as odd
from tastemaker.rating.agreement import Agreement
from tastemaker.rating.consistency import GENERIC_CEILING, Consistency
from tastemaker.rating.ranks import pearson, ranks_from_top, tied_ranks, zscore
from tastemaker.storage.library import Library
from tastemaker.storage.store import Batch, Comparison, RatingColumns, Store
from tastemaker.workflows.ratings import Outcomes, database_scores, outcomes

SCORE_BINS = 30
GALLERY_SORTS = ("database", "model", "disagreement")
GALLERY_LIMIT = 500  # the most images one gallery page holds


@dataclass(frozen=True)
class BatchPoint:
    """One stored batch: the person's agreement with the database during it, and how
    much the database's ranking moved because of it."""

    number: int  # 1 for the profile's first batch: other profiles' batches are not counted
    session_id: int
    ended_at: float  # unix time
    choices: int  # in this batch
    choices_so_far: int  # all choices (not withdrawn) up to the batch's last one
    matched: int
    contradicted: int
    unpredicted: int
    agreement: float | None  # matched / (matched + contradicted)
    # Spearman's rho between the present images' Elo before and after the batch; None
    # when either ranking is still flat (all scores equal: nothing to correlate yet)
    convergence: float | None


@dataclass(frozen=True)
class CurrentBatch:
    """The batch under way: the newest session's choices since its last stored batch (all
    of them before its first), so that progress shows before a batch ends."""

    session_id: int
    choices: int  # in it so far
    size: int | None  # the choices that end it (the session's --batch), where known
    choices_so_far: int  # all choices (not withdrawn), this batch's included
    matched: int
    contradicted: int
    unpredicted: int
    agreement: float | None  # matched / (matched + contradicted)


@dataclass(frozen=True)
class Histogram:
    """``counts[i]`` values fall in ``[edges[i], edges[i + 1])`` (the last bin closed)."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    mean: float | None = None
    sd: float | None = None


@dataclass(frozen=True)
class ProgressData:
    images: int  # present images
    choices: int  # not withdrawn
    appearances: int  # images shown in those choices, every image (missing ones too)
    pairwise_outcomes: int  # the (winner, loser) pairs those choices imply
    agreement: Agreement  # the database's, over all those choices
    batches: tuple[BatchPoint, ...]
    current: CurrentBatch | None  # the batch under way (None before any session)
    # appearances per present image, one bin per count 0, 1, 2, …; its mean is the
    # present images' appearances / present images
    appearances_per_image: Histogram
    database_scores: Histogram  # Elo of the present images
    model_scores: Histogram | None = None  # the model in the loop's scores, when one is
    # the agreement any database can be expected to reach: the person's own repeat
    # consistency once measured, the generic 75% before
    ceiling: float = GENERIC_CEILING
    ceiling_source: str = "generic"

    def to_dict(self) -> dict[str, object]:
        """Every field as JSON has it, the two score histograms under ``scores``."""
        d = asdict(self, dict_factory=_json_lists)
        d["agreement"] = self.agreement.to_dict()
        d["scores"] = {"database": d.pop("database_scores"), "model": d.pop("model_scores")}
        return d


def _json_lists(items: list[tuple[str, object]]) -> dict[str, object]:
    """A dataclass's fields as :func:`~dataclasses.asdict` gives them, tuples as lists."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in items}


def progress_data(
    store: Store,
    model_scores: Mapping[int, float] | None = None,
    consistency: Consistency | None = None,
) -> ProgressData:
    """The progress of a library: the counts, agreement and ranking convergence per batch
    and in the batch under way, appearances per image, and the distribution of the
    database's (and the model's) scores. ``consistency`` gives the ceiling (default:
    measured from the store's repeats)."""
    with store.snapshot():  # one state, though a live session chooses meanwhile
        choices = store.comparisons()
        o = outcomes(store)
        present_ids, elo_now, _ = store.rating_arrays()
        repeats = store.repeat_outcomes()
        batches = store.batches()
        newest = store.newest_session()
    present = np.isin(o.ids, present_ids)
    consistency = consistency or Consistency.from_outcomes(repeats)
    model = None
    if model_scores:
        values = [model_scores[int(i)] for i in present_ids if int(i) in model_scores]
        model = histogram(values)
    return ProgressData(
        images=len(present_ids),
        choices=len(choices),
        appearances=int(o.counts.sum()),
        pairwise_outcomes=len(o.winners),
        agreement=Agreement.from_counts(Counter(c.prediction for c in choices)),
        batches=_batch_points(batches, choices, o, present),
        current=None if newest is None else _current_batch(*newest, batches, choices),
        appearances_per_image=count_histogram(o.counts[present]),
        database_scores=histogram(elo_now),
        model_scores=model,
        ceiling=consistency.ceiling,
        ceiling_source=consistency.ceiling_source,
    )


def _batch_points(
    batches: list[Batch], choices: list[Comparison], o: Outcomes, present: np.ndarray
) -> tuple[BatchPoint, ...]:
    numbers = {b.id: n for n, b in enumerate(batches, start=1)}
    # batches in the order of their last choice (two sessions' batches may interleave)
    batches = sorted(batches, key=lambda b: (b.last_comparison_id, b.id))
    ids = np.array([c.id for c in choices], np.int64)
    made = np.searchsorted(ids, [b.last_comparison_id for b in batches], side="right")
    outcomes_made = np.r_[0, np.cumsum([len(c.shown) - 1 for c in choices])][made]
    rho = convergence(o.priors, o.winners, o.losers, o.k, outcomes_made, present)
    points = []
    for b, so_far, r in zip(batches, made, rho, strict=True):
        points.append(
            BatchPoint(
                number=numbers[b.id],
                session_id=b.session_id,
                ended_at=b.ended_at,
                choices=b.choices,
                choices_so_far=int(so_far),
                matched=b.matched,
                contradicted=b.contradicted,
                unpredicted=b.unpredicted,
                agreement=Agreement.of(b).agreement,
                convergence=r,
            )
        )
    return tuple(points)


def _current_batch(
    session_id: int, settings: Mapping[str, object], batches: list[Batch], choices: list[Comparison]
) -> CurrentBatch:
    """The choices of session ``session_id`` after its last stored batch."""
    after = max((b.last_comparison_id for b in batches if b.session_id == session_id), default=0)
    made = Agreement.from_counts(
        Counter(c.prediction for c in choices if c.session_id == session_id and c.id > after)
    )
    size = settings.get("batch")
    return CurrentBatch(
        session_id=session_id,
        choices=made.choices,
        size=size if isinstance(size, int) else None,
        choices_so_far=len(choices),
        matched=made.matched,
        contradicted=made.contradicted,
        unpredicted=made.unpredicted,
        agreement=made.agreement,
    )


def convergence(
    initial: ArrayLike,
    winners: ArrayLike,
    losers: ArrayLike,
    k: ArrayLike,
    ends: ArrayLike,
    mask: ArrayLike | None = None,
) -> list[float | None]:
    """Spearman's rho between the Elo ratings before and after each stretch of outcomes:
    the ratings after ``winners[:ends[i]] > losers[:ends[i]]`` against those after
    ``[:ends[i - 1]]`` (``ends[-1]`` taken as 0), over the ratings ``mask`` keeps. None
    where either ranking is flat (all scores equal: nothing to correlate yet).

    The outcomes are replayed once (``ends`` must not decrease), each stretch with
    :func:`elo.replay` on just the images it touches; the ranks of each snapshot are
    re-sorted from the last one's order (nearly sorted already), so a stretch costs
    O(its outcomes) plus an O(images) pass, not a fresh replay and sort."""
    ratings = np.array(initial, np.float64)  # a copy, replayed in place
    winners, losers = np.asarray(winners, np.int64), np.asarray(losers, np.int64)
    k = np.broadcast_to(np.asarray(k, np.float64), winners.shape)
    keep = np.ones(len(ratings), bool) if mask is None else np.asarray(mask, bool)
    kept = ratings[keep]
    ranks, order = tied_ranks(kept)
    flat = len(kept) < 2 or np.ptp(kept) == 0
    result: list[float | None] = []
    start = 0
    for end in np.asarray(ends, np.int64).tolist():
        if end < start:
            raise ValueError(f"ends must not decrease ({end} after {start})")
        w, lo = winners[start:end], losers[start:end]
        touched, local = np.unique(np.concatenate([w, lo]), return_inverse=True)
        ratings[touched] = elo.replay(
            ratings[touched], local[: len(w)], local[len(w) :], k[start:end]
        )
        kept = ratings[keep]
        after, order = tied_ranks(kept, order)
        was_flat, flat = flat, len(kept) < 2 or np.ptp(kept) == 0
        result.append(None if was_flat or flat else pearson(ranks, after))
        ranks, start = after, end
    return result


def count_histogram(counts: ArrayLike) -> Histogram:
    """How many images have each count 0, 1, 2, … (of appearances): bin ``i`` is
    ``[i, i + 1)``."""
    counts = np.asarray(counts, np.int64)
    per = np.bincount(counts) if len(counts) else np.zeros(1, np.int64)
    return Histogram(
        edges=tuple(float(e) for e in range(len(per) + 1)),
        counts=tuple(int(n) for n in per),
        mean=float(counts.mean()) if len(counts) else None,
        sd=float(counts.std()) if len(counts) else None,
    )


def histogram(values: ArrayLike, bins: int = SCORE_BINS) -> Histogram:
    """Equal-width bins over the values' range (one bin around the value when all are
    equal, e.g. every Elo still 0)."""
    values = np.asarray(values, np.float64)
    if len(values) == 0:
        return Histogram(edges=(0.0, 1.0), counts=(0,))
    low, high = float(values.min()), float(values.max())
    if high == low:  # an odd number of bins puts the value in the middle one
        low, high, bins = low - 0.5, high + 0.5, bins | 1
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    return Histogram(
        edges=tuple(float(e) for e in edges),
        counts=tuple(int(n) for n in counts),
        mean=float(values.mean()),
        sd=float(values.std()),
    )


# -- the gallery ---------------------------------------------------------------------


class NeedsModel(TastemakerError):
    """A view asked for the model's scores where there is no model in the loop."""


@dataclass(frozen=True)
class GalleryImage:
    id: int
    hash: str
    path: str
    folder: str  # the folder it is in, relative to the library ("" for the top)
    score: float  # the database's (Elo)
    appearances: int  # in the choices not withdrawn
    rank: int  # by the database, 1 = best of all present images
    model_score: float | None = None
    model_rank: int | None = None  # by the model, among the images it scored
    model_uncertainty: float | None = None  # its score's sd, for a model that has one


@dataclass(frozen=True)
class Gallery:
    images: tuple[GalleryImage, ...]  # this page of them
    total: int  # images matching the folder filter
    folders: tuple[tuple[str, int], ...]  # every folder (with its sub-folders) and its count
    has_model: bool
    sort: str
    descending: bool
    folder: str
    offset: int
    limit: int

    def to_dict(self) -> dict[str, object]:
        return {
            "sort": self.sort,
            "order": "desc" if self.descending else "asc",
            "folder": self.folder,
            "offset": self.offset,
            "limit": self.limit,
            "total": self.total,
            "has_model": self.has_model,
            "folders": [{"path": p, "images": n} for p, n in self.folders],
            "images": [asdict(im) for im in self.images],
        }


def gallery(
    store: Store,
    model_scores: Mapping[int, float] | None = None,
    sort: str = "database",
    descending: bool = True,
    folder: str = "",
    offset: int = 0,
    limit: int = 100,
    model_uncertainties: Mapping[int, float] | None = None,
) -> Gallery:
    """One page of the gallery, read afresh (see :class:`GalleryPages`, which the server
    keeps between pages)."""
    pages = GalleryPages(store, model_scores, model_uncertainties)
    return pages.page(sort, descending, folder, offset, limit)


class GalleryPages:
    """The gallery of a library as a server keeps it between pages: every present image's
    place is worked out once per state of the store (a choice, a rescan, another
    process's commit each make a new one), so that a page then costs its own images, not
    the library's. ``model_scores`` and ``model_uncertainties`` are the model in the
    loop's, fixed while it is kept."""

    def __init__(
        self,
        store: Store,
        model_scores: Mapping[int, float] | None = None,
        model_uncertainties: Mapping[int, float] | None = None,
    ) -> None:
        self.store = store
        self.model_scores = model_scores or {}
        self.model_uncertainties = model_uncertainties or {}
        self._lock = threading.RLock()
        self._built: tuple[tuple[int, int], _GalleryIndex] | None = None

    def index(self) -> _GalleryIndex:
        """The index of the store as it is now: the one kept, unless the store changed."""
        with self._lock:  # one build at a time; the others wait for it and share it
            changes = self.store.changes()  # before the reads: a commit after them rebuilds
            if self._built is None or self._built[0] != changes:
                previous = self._built[1] if self._built else None
                self._built = (
                    changes,
                    _GalleryIndex.build(self.store.rating_columns(), self.model_scores, previous),
                )
            return self._built[1]

    def page(
        self,
        sort: str = "database",
        descending: bool = True,
        folder: str = "",
        offset: int = 0,
        limit: int = 100,
    ) -> Gallery:
        """One page of the present images, best first by the database's Elo
        (``database``), by the model's score (``model``), or those the two disagree on
        most first (``disagreement``: ``|z(model) - z(database)|``, both standardised);
        equal keys in id order. ``folder`` keeps the images in that folder and its
        sub-folders. Each model score comes with its uncertainty where there is one."""
        if sort not in GALLERY_SORTS:
            raise TastemakerError(f"sort is one of {', '.join(GALLERY_SORTS)}, not {sort!r}")
        if sort != "database" and not self.model_scores:
            raise NeedsModel(f"sort={sort} needs a model in the loop; this session has none")
        if offset < 0 or not 1 <= limit <= GALLERY_LIMIT:
            raise TastemakerError(f"offset must be >= 0 and limit 1 to {GALLERY_LIMIT}")
        folder = folder.strip("/")
        with self._lock:
            index = self.index()
            order = index.order(sort, descending, folder)
        return Gallery(
            images=tuple(
                index.image(i, self.model_uncertainties)
                for i in order[offset : offset + limit].tolist()
            ),
            total=len(order),
            folders=index.folder_counts,
            has_model=bool(self.model_scores),
            sort=sort,
            descending=descending,
            folder=folder,
            offset=offset,
            limit=limit,
        )


ORDERS_KEPT = 16  # sorted orders an index keeps (sort, direction and folder each)


@dataclass(frozen=True)
class _GalleryIndex:
    """The present images by id, with their ranks and folders, and the orders asked for
    so far."""

    columns: RatingColumns
    rank: NDArray[np.int64]  # by the database, 1 = best
    model: NDArray[np.float64]  # the model's score, NaN where it gave none
    model_rank: NDArray[np.int64]  # among the images it scored (0 for the others)
    folder_names: list[str]  # each folder that holds an image directly
    folder_of: NDArray[np.int64]  # each image's, in folder_names
    folder_counts: tuple[tuple[str, int], ...]
    orders: dict[tuple[str, bool, str], NDArray[np.intp]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        columns: RatingColumns,
        model_scores: Mapping[int, float],
        previous: _GalleryIndex | None = None,
    ) -> _GalleryIndex:
        """The index of ``columns``; the model's part taken from ``previous`` when it
        holds the same images (a choice changes ratings, not which images there are)."""
        ids = columns.image_ids
        if previous is not None and np.array_equal(previous.columns.image_ids, ids):
            model, model_rank = previous.model, previous.model_rank
        else:
            model = np.array([model_scores.get(i, np.nan) for i in ids.tolist()], np.float64)
            scored = ~np.isnan(model)
            model_rank = np.zeros(len(ids), np.int64)
            model_rank[scored] = ranks_from_top(model[scored])
        codes: dict[str, int] = {}
        folder_of = np.array(  # stored paths are relative and slash-separated: no dirname
            [codes.setdefault(p.rpartition("/")[0], len(codes)) for p in columns.paths], np.int64
        )
        names = list(codes)
        return cls(
            columns=columns,
            rank=ranks_from_top(columns.elo),
            model=model,
            model_rank=model_rank,
            folder_names=names,
            folder_of=folder_of,
            folder_counts=_folder_counts(names, np.bincount(folder_of, minlength=len(names))),
        )

    def order(self, sort: str, descending: bool, folder: str) -> NDArray[np.intp]:
        """Positions of the images in the folder, in the page order asked for."""
        key = (sort, descending, folder)
        found = self.orders.get(key)
        if found is None:
            found = self._sorted(sort, descending)
            if folder:
                inside = [
                    k
                    for k, name in enumerate(self.folder_names)
                    if name == folder or name.startswith(folder + "/")
                ]
                found = found[np.isin(self.folder_of[found], inside)]
            if len(self.orders) >= ORDERS_KEPT:
                self.orders.pop(next(iter(self.orders)))
            self.orders[key] = found
        return found

    def _sorted(self, sort: str, descending: bool) -> NDArray[np.intp]:
        elo = self.columns.elo
        if sort == "database":
            key = elo
        elif sort == "model":
            key = self.model
        else:
            key = np.abs(zscore(self.model) - zscore(elo))
        key = np.where(np.isnan(key), -np.inf if descending else np.inf, key)  # unscored last
        # stable, so equal keys keep the id order either way
        return np.argsort(-key if descending else key, kind="stable")

    def image(self, i: int, uncertainties: Mapping[int, float]) -> GalleryImage:
        c = self.columns
        image_id = int(c.image_ids[i])
        scored = not np.isnan(self.model[i])
        return GalleryImage(
            id=image_id,
            hash=c.hashes[i],
            path=c.paths[i],
            folder=self.folder_names[self.folder_of[i]],
            score=float(c.elo[i]),
            appearances=int(c.comparisons[i]),
            rank=int(self.rank[i]),
            model_score=float(self.model[i]) if scored else None,
            model_rank=int(self.model_rank[i]) if scored else None,
            model_uncertainty=uncertainties.get(image_id),
        )


def _folder_counts(folders: list[str], counts: ArrayLike) -> tuple[tuple[str, int], ...]:
    """Every folder with images in it or below it, and how many, from each folder's own
    count: ``("", all)`` first."""
    total: dict[str, int] = {}
    for f, n in zip(folders, np.asarray(counts).tolist(), strict=True):
        total[""] = total.get("", 0) + n
        parts = f.split("/") if f else []
        for k in range(1, len(parts) + 1):
            prefix = "/".join(parts[:k])
            total[prefix] = total.get(prefix, 0) + n
    return tuple(sorted(total.items()))


@dataclass(frozen=True)
class LibraryCounts:
    """What the library statistics are made of: read from the store by
    :func:`library_counts`, or kept in step with it by a rating session, which cannot
    afford a full read for every choice."""

    statuses: Mapping[str, int]  # images by status
    paths: Sequence[str]  # of the present images, in the order of the arrays below
    scores: NDArray[np.float64]  # their database scores
    shown: NDArray[np.int64]  # their appearances (imported counts not included)
    appearances: int  # of every image, missing ones too: all the choices showed
    predictions: Mapping[tuple[int, int | None], int]  # choices by (database, model) call
    consistency: Consistency


@dataclass(frozen=True)
class LibraryStats:
    images: int  # present images, the ones shown
    missing: int
    unreadable: int
    choices: int  # made, withdrawn ones left out
    appearances: int  # images shown in those choices (a pair: two), missing ones too
    appearances_per_image: float  # the present images' appearances / present images
    never_shown: int  # present images in no choice (imported counts aside)
    agreement: Agreement
    batches: list[Batch] = field(default_factory=list)
    odd_one_out: dict[str, int] = field(default_factory=lambda: odd.count({}))
    consistency: Consistency = field(default_factory=lambda: Consistency.from_outcomes([]))
    ratings: str = "elo"  # which database scores `best` ranks by
    best: list[tuple[str, float]] = field(default_factory=list)  # favourites so far

    @property
    def choices_per_image(self) -> float:
        return self.choices / self.images if self.images else 0.0

    @property
    def pairwise_outcomes(self) -> int:
        """The (winner, loser) pairs the choices imply: a set of ``k`` gives ``k - 1``."""
        return self.appearances - self.choices

    @property
    def advice(self) -> str | None:
        """The odd-one-out advice, once the model has been asked about a choice."""
        return odd.advice(self.odd_one_out) if any(self.odd_one_out.values()) else None

    def to_dict(self) -> dict[str, object]:
        return {
            "images": self.images,
            "missing": self.missing,
            "unreadable": self.unreadable,
            "choices": self.choices,
            "choices_per_image": self.choices_per_image,
            "appearances": self.appearances,
            "appearances_per_image": self.appearances_per_image,
            "pairwise_outcomes": self.pairwise_outcomes,
            "never_shown": self.never_shown,
            **self.agreement.to_dict(),
            "odd_one_out": self.odd_one_out,
            "consistency": self.consistency.to_dict(),
            "ratings": self.ratings,
            "best": [{"path": p, "score": v} for p, v in self.best],
            "advice": self.advice,
            "batches": [{**asdict(b), **Agreement.of(b).to_dict()} for b in self.batches],
        }


def prediction_tally(store: Store) -> dict[tuple[int, int | None], int]:
    """The stored choices by (database prediction, model prediction or None)."""
    tally: dict[tuple[int, int | None], int] = {
        (p, None): n for p, n in store.prediction_counts().items()
    }
    for (p, m), n in store.model_prediction_counts().items():
        tally[(p, None)] -= n
        tally[(p, m)] = n
    return tally


def agreement_of(tally: Mapping[tuple[int, int | None], int]) -> Agreement:
    """The database's agreement over choices tallied by (database, model) prediction."""
    database: Counter[int] = Counter()
    for (prediction, _), n in tally.items():
        database[prediction] += n
    return Agreement.from_counts(database)


def odd_one_out_of(tally: Mapping[tuple[int, int | None], int]) -> dict[str, int]:
    """Who was the odd one out, over the tallied choices the model was asked about."""
    return odd.count({(p, m): n for (p, m), n in tally.items() if m is not None})


def library_counts(store: Store, ratings: str = "elo") -> LibraryCounts:
    """The library's counts as the store holds them, scored by ``ratings``."""
    records = store.ratings()  # present images, by id
    scores = database_scores(store, ratings)
    return LibraryCounts(
        statuses=store.status_counts(),
        paths=[r.path for r in records],
        scores=np.array([scores[r.image_id] for r in records], np.float64),
        shown=np.array([r.comparisons for r in records], np.int64),
        appearances=store.appearances(),
        predictions=prediction_tally(store),
        consistency=Consistency.from_outcomes(store.repeat_outcomes()),
    )


def summarise(
    counts: LibraryCounts, ratings: str = "elo", best: int = 5, batches: Sequence[Batch] = ()
) -> LibraryStats:
    """The library statistics, the one way they are computed whoever counted: with the
    ``best`` compared images by their scores (ties by the order given) and ``batches``."""
    agreement = agreement_of(counts.predictions)
    return LibraryStats(
        images=counts.statuses.get("present", 0),
        missing=counts.statuses.get("missing", 0),
        unreadable=counts.statuses.get("unreadable", 0),
        choices=agreement.choices,
        appearances=counts.appearances,
        appearances_per_image=float(counts.shown.mean()) if len(counts.shown) else 0.0,
        never_shown=int((counts.shown == 0).sum()),
        agreement=agreement,
        batches=list(batches),
        odd_one_out=odd_one_out_of(counts.predictions),
        consistency=counts.consistency,
        ratings=ratings,
        best=[(counts.paths[i], float(counts.scores[i])) for i in _top(counts, best)],
    )


def _top(counts: LibraryCounts, n: int) -> list[int]:
    """The indices of the ``n`` best-scored compared images, best first, ties in the
    order given: a partition, not a sort, as a rating session asks after every choice."""
    compared = np.flatnonzero(counts.shown)
    if n <= 0 or not len(compared):
        return []
    scores = counts.scores[compared]
    if len(scores) > n:  # keep whatever ties the n-th best, so ties still go by order
        compared = compared[scores >= np.partition(scores, len(scores) - n)[len(scores) - n]]
    return compared[np.argsort(-counts.scores[compared], kind="stable")][:n].tolist()


def library_stats(library: Library, ratings: str = "elo", best: int = 5) -> LibraryStats:
    """Statistics read from the store (the authority, whichever process rated), with the
    ``best`` compared images by the chosen database scores (Elo or Bradley–Terry)."""
    store = library.store
    return summarise(library_counts(store, ratings), ratings, best, store.batches())
