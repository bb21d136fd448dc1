"""A rating session: which set to show next, and recording the person's choices.

Each choice is committed (with the Elo update it causes) before :meth:`RateSession.choose`
returns, so whatever the page was told is on disk. Sets are handed out with a one-use
token; a choice must name a token still open and an image of that set. Open sets are kept
per page (a browser tab's own id), so no other client can crowd a page's sets out.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from types import MappingProxyType

import numpy as np

from tastemaker.errors import SettingError, TastemakerError
from tastemaker.rating import elo, pairing
from tastemaker.rating.agreement import Agreement
from tastemaker.rating.consistency import Consistency
from tastemaker.rating.speed import speed_weights, typical_ms
from tastemaker.storage.image_cache import DisplayCopies
from tastemaker.storage.library import Library
from tastemaker.storage.store import Batch, ImageRecord
from tastemaker.workflows.live_bt import LiveBradleyTerry
from tastemaker.workflows.ratings import outcomes, recompute_elo
from tastemaker.workflows.reports import (
    LibraryCounts,
    LibraryStats,
    agreement_of,
    odd_one_out_of,
    prediction_tally,
    summarise,
)

OPEN_SETS = 256  # sets handed out and not yet answered, per page
PAGES = 64  # pages whose open sets are kept; the one unheard from longest goes first
PAIRINGS = ("classic", "active")
PAIRING_ALIASES = {"seed": "classic"}  # the name classic had before; still accepted
PREPARE_AHEAD = 500  # display copies made at the start, the least compared images first


class StaleSet(TastemakerError):
    """The set's token is unknown or was already answered."""


class NotInSet(TastemakerError):
    """The chosen image was not one of the set's."""


class NothingToUndo(TastemakerError):
    """No choice left that could be withdrawn."""


class RatingEnded(TastemakerError):
    """The person ended rating; the statistics and the gallery are still served."""


@dataclass(frozen=True)
class RateSettings:
    choices: int = 2  # images per set
    batch: int = 100  # choices per batch report
    k: float = elo.K
    lcw: float = pairing.LCW
    pairing: str = "active"  # active: most informative pairs; classic: (1-lcw)^n weighting
    weight_by_speed: bool = False  # a quick choice counts more (K times the speed weight)
    typical_seconds: float | None = None  # default: the person's median response time
    controversy: float = 0.0  # cw: favour images the model and database disagree on
    unsure: float = 0.0  # favour images the model is least sure of: (u / median u)^unsure
    repeats: float = 0.03  # share of sets that repeat an earlier pair (0 = none)
    repeat_after: float = 300.0  # seconds before a pair may come back

    def __post_init__(self) -> None:
        object.__setattr__(self, "pairing", PAIRING_ALIASES.get(self.pairing, self.pairing))
        if self.pairing not in PAIRINGS:
            raise SettingError(
                "pairing", f"{{setting}} is one of {', '.join(PAIRINGS)}, not {self.pairing!r}"
            )
        if not 2 <= self.choices <= 4:
            raise SettingError("choices", f"{{setting}} must be 2, 3 or 4, not {self.choices}")
        if self.batch < 1:
            raise SettingError("batch", f"{{setting}} must be at least 1, not {self.batch}")
        check_number("k", self.k, 0, elo.MAX_K, low_open=True)
        check_number("lcw", self.lcw, 0, 1, high_open=True)
        if self.typical_seconds is not None:
            check_number("typical_seconds", self.typical_seconds, 0, 3600, low_open=True)
        check_number("controversy", self.controversy, 0, 100)
        check_number("unsure", self.unsure, 0, 10)
        check_number("repeats", self.repeats, 0, 0.5)
        check_number("repeat_after", self.repeat_after, 0, math.inf)


def check_number(
    setting: str,
    value: float,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Refuse a setting that is not a finite number in its range, naming the setting."""
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (math.isfinite(value) and above and below):
        side = f"above {low}" if low_open else f"at least {low}"
        top = "" if math.isinf(high) else f" and {'below' if high_open else 'at most'} {high}"
        raise SettingError(setting, f"{{setting}} must be a finite number {side}{top}, not {value}")


@dataclass(frozen=True)
class ShownSet:
    token: str
    images: tuple[ImageRecord, ...]


@dataclass(frozen=True)
class SessionStats:
    choices: int
    seconds: float
    agreement: Agreement
    odd_one_out: dict[str, int]

    @property
    def per_minute(self) -> float:
        return 60 * self.choices / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "choices": self.choices,
            "seconds": self.seconds,
            "per_minute": self.per_minute,
            **self.agreement.to_dict(),
            "odd_one_out": self.odd_one_out,
        }


@dataclass(frozen=True)
class Choice:
    id: int
    prediction: int
    session: SessionStats
    library: LibraryStats
    batch: Batch | None  # the batch this choice completed, if it did


class RateSession:
    """Hands out sets and records choices for one library; shared by every page that is
    open on it (one lock)."""

    def __init__(
        self,
        library: Library,
        settings: RateSettings | None = None,
        seed: int | None = None,
        model_scores: dict[int, float] | None = None,
        model_uncertainties: dict[int, float] | None = None,
    ) -> None:
        if seed is not None and seed < 0:
            raise SettingError("seed", f"{{setting}} must be 0 or more, not {seed}")
        self.library = library
        self.settings = settings or RateSettings()
        store = library.store
        self.session_id = store.start_session(asdict(self.settings))
        self.started = time.time()
        self._rng = np.random.default_rng(seed)
        self._lock = threading.RLock()
        self._model_scores = model_scores or {}  # the model in the loop, by image id
        self._model_uncertainties = model_uncertainties or {}  # its scores' sd, if it has one
        self.bt: LiveBradleyTerry | None = None
        self._ids = np.zeros(0, np.int64)
        self._load_images()
        if not np.isfinite(self._elo).all():  # left by an older version's `--k inf`
            recompute_elo(store)
            self._load_images()
        self._open: OrderedDict[str, OrderedDict[str, tuple[int, ...]]] = OrderedDict()
        self._repeats: dict[str, int] = {}  # token -> the choice that set repeats
        self.consistency = Consistency.from_outcomes(store.repeat_outcomes())
        # choices by (database prediction, model prediction or None)
        self._overall: Counter[tuple[int, int | None]] = Counter(prediction_tally(store))
        self._session: Counter[tuple[int, int | None]] = Counter()
        self._batch: Counter[tuple[int, int | None]] = Counter()
        self._typical_ms = (
            None
            if not self.settings.weight_by_speed
            else self.settings.typical_seconds * 1000
            if self.settings.typical_seconds
            else typical_ms([c.response_ms for c in store.comparisons()])
        )
        self._times: list[int] = []  # this session's, for a typical time when none is known
        self._batch_first_id: int | None = None
        self._batch_started = self.started
        self.ended = False
        self._display = DisplayCopies(library)
        first = np.argsort(self._counts, kind="stable")[:PREPARE_AHEAD]
        self._display.prepare(self._images[int(self._ids[i])] for i in first)

    @property
    def model_scores(self) -> Mapping[int, float]:
        """The model in the loop's score of each image id (empty without one); read-only."""
        return MappingProxyType(self._model_scores)

    @property
    def model_uncertainties(self) -> Mapping[int, float]:
        """The uncertainty of each of those scores (empty for a model without one, as the
        MLP); shown in the gallery, and used to choose sets with ``unsure``; read-only."""
        return MappingProxyType(self._model_uncertainties)

    # -- the images ------------------------------------------------------------------------

    def _load_images(self) -> None:
        """Read the present images, their ratings and counts afresh. Everything kept per
        image is keyed by image id; the arrays the pairing works on are rebuilt here
        together, so they always describe the same images in the same order."""
        store = self.library.store
        version = store.data_version()  # before the reads: a commit after them reloads
        with store.snapshot():
            records = store.ratings()  # present images, by id
            images = {im.id: im for im in store.images("present")}
            statuses = store.status_counts()
            appearances = store.appearances()
            ids = np.array([r.image_id for r in records], np.int64)
            changed = not np.array_equal(ids, self._ids)
            fit = outcomes(store) if self.settings.pairing == "active" and changed else None
        elo = np.array([r.elo for r in records], np.float64)
        counts = np.array([r.comparisons + r.prior_comparisons for r in records], np.int64)
        if len(ids) < self.settings.choices:
            raise TastemakerError(
                f"{self.library.root}: {len(ids)} readable image(s) found; rating needs at "
                f"least {self.settings.choices}."
            )
        self._data_version, self._ids, self._elo, self._counts = version, ids, elo, counts
        self._shown = np.array([r.comparisons for r in records], np.int64)
        self._appearances = appearances
        self._paths = [r.path for r in records]
        self._statuses = statuses
        self._index = {int(image_id): n for n, image_id in enumerate(ids)}
        self._images = images
        self._model_array = np.array([self._model_scores.get(int(i), np.nan) for i in ids])
        self._model_spread = np.array([self._model_uncertainties.get(int(i), np.nan) for i in ids])
        if fit is not None:
            if self.bt is not None:
                self.bt.close()
            self.bt = LiveBradleyTerry(self._index, fit)

    def _follow_store(self) -> None:
        """Take in what other processes committed (a rescan: images added, deleted or
        moved; another session's choices), so no set shows a deleted image; refuse if the
        store itself was deleted or replaced, so the page learns before the next choice."""
        self.library.store.check()
        if self.library.store.data_version() != self._data_version:
            self._load_images()

    # -- sets ----------------------------------------------------------------------------

    def next_set(self, page: str = "") -> ShownSet:
        """A new set of distinct present images, the less compared ones favoured, open for
        ``page`` (a tab's own id; every client that names none shares one)."""
        with self._lock:
            self._check_open()
            self._follow_store()
            repeat = self._repeat(page)
            if repeat is not None:
                return repeat
            k, lcw = self.settings.choices, self.settings.lcw
            extra = self._model_log_weights()
            if self.bt is not None:
                picked = pairing.pick_active(
                    self.bt.ratings, self.bt.sd, self._counts, k, self._rng, lcw, extra_log_w=extra
                )
            else:
                log_w = pairing.log_weights(self._counts, lcw)
                picked = pairing.pick(log_w if extra is None else log_w + extra, k, self._rng)
            return self._issue(page, tuple(int(self._ids[i]) for i in picked))

    def _model_log_weights(self) -> np.ndarray | None:
        """The extra log-weights the model in the loop gives each image: the classic
        controversy (the database is the Elo under either pairing, as in the gallery's
        disagreement) and the model's uncertainty; None when neither is asked for."""
        cw, unsure = self.settings.controversy, self.settings.unsure
        parts = []
        if cw and self._model_scores:
            parts.append(pairing.controversy_log_weights(self._model_array, self._elo, cw))
        if unsure and self._model_uncertainties:
            parts.append(pairing.unsure_log_weights(self._model_spread, unsure))
        return np.sum(parts, axis=0) if parts else None

    def _issue(self, page: str, ids: tuple[int, ...], repeat_of: int | None = None) -> ShownSet:
        token = secrets.token_urlsafe(9)
        sets = self._open.setdefault(page, OrderedDict())
        self._open.move_to_end(page)
        sets[token] = ids
        if repeat_of is not None:
            self._repeats[token] = repeat_of
        while len(sets) > OPEN_SETS:
            self._repeats.pop(sets.popitem(last=False)[0], None)
        while len(self._open) > PAGES:
            for gone in self._open.popitem(last=False)[1]:
                self._repeats.pop(gone, None)
        return ShownSet(token, tuple(self._images[i] for i in ids))

    def _repeat(self, page: str) -> ShownSet | None:
        """Now and then (``repeats`` of the sets) a pair judged at least ``repeat_after``
        seconds ago, sides swapped: the person's own consistency."""
        s = self.settings
        if s.choices != 2 or not s.repeats or self._rng.random() >= s.repeats:
            return None
        earlier = self.library.store.repeat_candidate(
            time.time() - s.repeat_after, float(self._rng.random())
        )
        if earlier is None or not all(i in self._images for i in earlier.shown):
            return None
        return self._issue(page, tuple(reversed(earlier.shown)), repeat_of=earlier.id)

    # -- choices -------------------------------------------------------------------------

    def choose(
        self, token: str, winner_id: int, response_ms: int | None = None, page: str = ""
    ) -> Choice:
        """Record a choice from a set open for ``page``; it is on disk when this returns."""
        with self._lock:
            self._check_open()
            sets: dict[str, tuple[int, ...]] = self._open.get(page, {})
            shown = sets.get(token)
            if shown is None:
                raise StaleSet(
                    "This set is unknown or was already answered; fetch a new one (GET /api/next)."
                )
            if winner_id not in shown:
                raise NotInSet(
                    f"Image {winner_id} is not in this set (its images: "
                    f"{', '.join(map(str, shown))})."
                )
            store = self.library.store
            with store.atomic():
                ratings = store.elo_of(shown)
                position = shown.index(winner_id)
                prediction = elo.prediction(ratings, position)
                model_prediction = self._model_prediction(shown, position)
                weight = self._speed_weight(response_ms)
                new = elo.choose(ratings, position, self.settings.k * weight)
                choice_id = store.add_comparison(
                    self.session_id,
                    shown,
                    winner_id,
                    prediction,
                    response_ms,
                    self.settings.k,
                    new,
                    model_prediction,
                    weight,
                    self._repeats.get(token),
                )
            del sets[token]
            if self._repeats.pop(token, None) is not None:
                self.consistency = Consistency.from_outcomes(store.repeat_outcomes())
            for image_id, rating in zip(shown, new, strict=True):
                if image_id in self._index:  # not if deleted since the set was shown
                    self._elo[self._index[image_id]] = rating
                    self._counts[self._index[image_id]] += 1
                    self._shown[self._index[image_id]] += 1
            self._appearances += len(shown)
            self._tally((prediction, model_prediction), +1)
            if self.bt is not None:
                self.bt.add(elo.pairwise(shown, position), weight)
            if self._batch_first_id is None:
                self._batch_first_id = choice_id
            batch = self._close_batch(choice_id)
            return Choice(choice_id, prediction, self.session_stats(), self.quick_stats(), batch)

    def undo(self, choice_id: int | None = None, page: str = "") -> tuple[int, ShownSet]:
        """Withdraw a choice (this session's last by default) and hand its set out again,
        to ``page``."""
        with self._lock:
            self._check_open()
            store = self.library.store
            target = (
                store.comparison(choice_id)
                if choice_id is not None
                else store.last_comparison(self.session_id)
            )
            if target is None or target.withdrawn_at is not None:
                raise NothingToUndo("There is no choice to undo.")
            with store.atomic():
                store.withdraw(target.id)
                recompute_elo(store)
            self._load_images()
            if self.bt is not None:
                self.bt.reset(outcomes(store))
            self._tally(
                (target.prediction, target.model_prediction),
                -1,
                in_batch=(
                    target.session_id == self.session_id
                    and self._batch_first_id is not None
                    and target.id >= self._batch_first_id
                ),
                in_session=target.session_id == self.session_id,
            )
            if target.repeat_of is not None:
                self.consistency = Consistency.from_outcomes(store.repeat_outcomes())
            present = all(i in self._images for i in target.shown)
            reissued = (
                self._issue(page, target.shown, target.repeat_of)
                if present
                else self.next_set(page)
            )
            return target.id, reissued

    def _speed_weight(self, response_ms: int | None) -> float:
        if not self.settings.weight_by_speed:
            return 1.0
        typical = self._typical_ms or typical_ms(self._times)
        if response_ms:
            self._times.append(response_ms)
        return float(speed_weights([response_ms], typical)[0])

    def _model_prediction(self, shown: tuple[int, ...], position: int) -> int | None:
        """The model's call on this choice, as the database's (None without a model)."""
        if not all(i in self._model_scores for i in shown):
            return None
        return elo.prediction([self._model_scores[i] for i in shown], position)

    def _tally(
        self,
        prediction: tuple[int, int | None],
        sign: int,
        in_batch: bool = True,
        in_session: bool = True,
    ) -> None:
        self._overall[prediction] += sign
        if in_session:
            self._session[prediction] += sign
        if in_batch:
            self._batch[prediction] += sign

    def _close_batch(self, last_id: int) -> Batch | None:
        if self._batch.total() < self.settings.batch:
            return None
        now = time.time()
        a = agreement_of(self._batch)
        batch = Batch(
            id=0,
            session_id=self.session_id,
            first_comparison_id=self._batch_first_id or last_id,
            last_comparison_id=last_id,
            started_at=self._batch_started,
            ended_at=now,
            choices=a.choices,
            matched=a.matched,
            contradicted=a.contradicted,
            unpredicted=a.unpredicted,
            odd_one_out=odd_one_out_of(self._batch) if self._model_scores else None,
        )
        self.library.store.add_batch(batch)
        self.library.store.checkpoint()  # library.db alone now holds every choice so far
        self._batch.clear()
        self._batch_first_id = None
        self._batch_started = now
        return batch

    def end(self) -> bool:
        """End rating: no set is handed out or answered after this (every choice made is
        already on disk); the statistics stay readable. False if it had ended already."""
        with self._lock:
            was, self.ended = self.ended, True
            return not was

    def _check_open(self) -> None:
        if self.ended:
            raise RatingEnded(
                "Rating has ended; the statistics and gallery are still served. "
                "Run tastemaker rate again to rate more."
            )

    # -- statistics ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop the background work: the refit, if any, and the display copies."""
        self._display.close()
        if self.bt is not None:
            self.bt.close()

    def session_stats(self) -> SessionStats:
        a = agreement_of(self._session)
        return SessionStats(a.choices, time.time() - self.started, a, odd_one_out_of(self._session))

    def quick_stats(self) -> LibraryStats:
        """The library statistics from this session's memory, kept in step with the store:
        cheap enough for every choice."""
        return summarise(
            LibraryCounts(
                statuses=self._statuses,
                paths=self._paths,
                scores=self._elo,
                shown=self._shown,
                appearances=self._appearances,
                predictions=self._overall,
                consistency=self.consistency,
            )
        )
