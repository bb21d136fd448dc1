"""The statistics as text for the terminal."""

from __future__ import annotations

from tastemaker.rating import odd_one_out as odd
from tastemaker.rating.agreement import Agreement
from tastemaker.rating.consistency import Consistency
from tastemaker.workflows.reports import LibraryStats


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
            a = Agreement.of(b)
            minutes = (b.ended_at - b.started_at) / 60
            lines.append(
                f"  #{b.id}: {b.choices} choices in {minutes:.1f} min, agreement "
                f"{percent(a.agreement)}"
            )
    return "\n".join(lines)


def describe_metrics(m: dict[str, float]) -> str:
    """A trained model's held-out and training figures in one line."""

    def pct(key: str) -> str:
        return percent(m.get(key))

    return (
        f"Held-out: agreement with your choices {pct('heldout_choice_agreement')}, "
        f"pairwise order {pct('heldout_pairwise_accuracy')}, "
        f"Spearman {m.get('heldout_spearman', float('nan')):.3f} "
        f"(train: {pct('train_choice_agreement')}, {pct('train_pairwise_accuracy')})"
    )
