"""The seed's statistics: progress through the library and agreement with the database."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tastemaker.rating import odd_one_out as odd
from tastemaker.rating.consistency import Consistency
from tastemaker.rating.elo import CONTRADICTED, MATCHED, UNPREDICTED
from tastemaker.replay import database_scores
from tastemaker.storage.library import Library
from tastemaker.storage.store import Batch


@dataclass(frozen=True)
class Agreement:
    """How often the database's Elo foresaw the person's choice."""

    matched: int = 0
    contradicted: int = 0
    unpredicted: int = 0

    @classmethod
    def from_counts(cls, counts: dict[int, int]) -> Agreement:
        return cls(counts.get(MATCHED, 0), counts.get(CONTRADICTED, 0), counts.get(UNPREDICTED, 0))

    @property
    def choices(self) -> int:
        return self.matched + self.contradicted + self.unpredicted

    @property
    def agreement(self) -> float | None:
        """Matched share of the choices the database made a call on (the seed's figure,
        ~50% at first, ~75% when the database has caught up with the person)."""
        called = self.matched + self.contradicted
        return self.matched / called if called else None

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "agreement": self.agreement}


@dataclass(frozen=True)
class LibraryStats:
    images: int  # present images, the ones shown
    missing: int
    unreadable: int
    comparisons: int  # choices made, withdrawn ones left out
    uncompared: int  # present images never compared
    agreement: Agreement
    batches: list[Batch] = field(default_factory=list)
    odd_one_out: dict[str, int] = field(default_factory=lambda: odd.count({}))
    consistency: Consistency = field(default_factory=lambda: Consistency.from_outcomes([]))
    ratings: str = "elo"  # which database scores `best` ranks by
    best: list[tuple[str, float]] = field(default_factory=list)  # favourites so far

    @property
    def per_image(self) -> float:
        return self.comparisons / self.images if self.images else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "images": self.images,
            "missing": self.missing,
            "unreadable": self.unreadable,
            "comparisons": self.comparisons,
            "uncompared": self.uncompared,
            "per_image": self.per_image,
            **self.agreement.to_dict(),
            "odd_one_out": self.odd_one_out,
            "consistency": self.consistency.to_dict(),
            "ratings": self.ratings,
            "best": [{"path": p, "score": v} for p, v in self.best],
            "advice": odd.advice(self.odd_one_out) if any(self.odd_one_out.values()) else None,
            "batches": [
                {**asdict(b), **Agreement(b.matched, b.contradicted, b.unpredicted).to_dict()}
                for b in self.batches
            ],
        }


def library_stats(library: Library, ratings: str = "elo", best: int = 5) -> LibraryStats:
    """Statistics read from the store (the authority, whichever process rated), with the
    ``best`` compared images by the chosen database scores (Elo or Bradley–Terry)."""
    store = library.store
    scores = database_scores(store, ratings)
    favourites = sorted(
        ((r.path, scores[r.image_id]) for r in store.ratings() if r.comparisons),
        key=lambda row: -row[1],
    )[:best]
    statuses = store.status_counts()
    _, _, counts = store.rating_arrays()
    agreement = Agreement.from_counts(store.prediction_counts())
    return LibraryStats(
        images=statuses.get("present", 0),
        missing=statuses.get("missing", 0),
        unreadable=statuses.get("unreadable", 0),
        comparisons=agreement.choices,
        uncompared=int((counts == 0).sum()),
        agreement=agreement,
        batches=store.batches(),
        odd_one_out=odd.count(store.model_prediction_counts()),
        consistency=Consistency.from_outcomes(store.repeat_outcomes()),
        ratings=ratings,
        best=favourites,
    )


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def describe_agreement(a: Agreement) -> str:
    return (
        f"matched {a.matched}, contradicted {a.contradicted}, not predicted {a.unpredicted}"
        f" (agreement {percent(a.agreement)})"
    )


def describe_consistency(c: Consistency) -> str:
    """Your own repeat consistency, and the ceiling agreement is measured against."""
    if not c.repeats:
        return f"Your consistency: no repeated pairs yet; ceiling {percent(c.ceiling)} (generic)"
    return (
        f"Your consistency: {c.consistent} of {c.repeats} repeated pairs chosen the same "
        f"({percent(c.rate)}, 95% interval {percent(c.low)}-{percent(c.high)}); "
        f"ceiling {percent(c.ceiling)} ({c.ceiling_source})"
    )


def describe(stats: LibraryStats) -> str:
    """The statistics as lines of text for the terminal."""
    lines = [
        f"Images: {stats.images} ({stats.uncompared} never compared"
        + (f", {stats.missing} missing" if stats.missing else "")
        + (f", {stats.unreadable} unreadable" if stats.unreadable else "")
        + ")",
        f"Comparisons: {stats.comparisons} ({stats.per_image:.2f} per image)",
        f"Database predictions: {describe_agreement(stats.agreement)}",
        describe_consistency(stats.consistency),
    ]
    if any(stats.odd_one_out.values()):
        o = stats.odd_one_out
        lines.append(
            f"Odd one out (you, database, model): all agree {o['all_agree']}, database "
            f"{o['database']}, model {o['model']}, you {o['human']}, draw {o['draw']}"
        )
        lines.append("  " + odd.advice(o))
    if stats.best:
        lines.append(f"Favourites so far ({stats.ratings}):")
        lines += [f"  {score:+.3f}  {path}" for path, score in stats.best]
    if stats.batches:
        lines.append("Batches:")
        for b in stats.batches[-10:]:
            a = Agreement(b.matched, b.contradicted, b.unpredicted)
            minutes = (b.ended_at - b.started_at) / 60
            lines.append(
                f"  #{b.id}: {b.choices} choices in {minutes:.1f} min, agreement "
                f"{percent(a.agreement)}"
            )
    return "\n".join(lines)
