"""The statistics as text for the terminal."""

from __future__ import annotations

import math

from tastemaker.rating import odd_one_out as odd
from tastemaker.rating.agreement import Agreement
from tastemaker.rating.consistency import Consistency
from tastemaker.workflows.compare import Alike, ProfileComparison
from tastemaker.workflows.reports import LibraryStats


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def describe_agreement(a: Agreement) -> str:
    return (
        f"matched {a.matched}, contradicted {a.contradicted}, not predicted {a.unpredicted}"
        f" (agreement {percent(a.agreement)})"
    )


def describe_alike(alike: Alike) -> str:
    rho = "n/a" if alike.spearman is None else f"{alike.spearman:.2f}"
    return f"{percent(alike.pairwise)} of pairs in the same order, Spearman {rho}"


def describe_comparison(c: ProfileComparison) -> str:
    """How alike two profiles' tastes are, as lines of text for the terminal."""
    a, b = c.profiles
    lines = [
        f"Profiles {a} and {b}: {c.choices[0]} and {c.choices[1]} choices",
        f"Databases, on the {c.databases.images} images both compared: "
        + describe_alike(c.databases),
        f"{b}'s database on {a}'s choices: {describe_agreement(c.foreseen[0])}",
        f"{a}'s database on {b}'s choices: {describe_agreement(c.foreseen[1])}",
    ]
    if c.models is None or c.model_names is None:
        lines.append("Models: train one under each profile to compare them")
    else:
        lines.append(
            f"Models ({c.model_names[0]}, {c.model_names[1]}), on {c.models.images} images: "
            + describe_alike(c.models)
        )
    return "\n".join(lines)


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
        f"Images: {stats.images} ({stats.never_shown} never shown"
        + (f", {stats.missing} missing" if stats.missing else "")
        + (f", {stats.unreadable} unreadable" if stats.unreadable else "")
        + ")",
        f"Choices: {stats.choices} ({stats.choices_per_image:.2f} per image)",
        f"Appearances (images shown): {stats.appearances} "
        f"({stats.appearances_per_image:.2f} per image)",
        f"Pairwise outcomes (winner, loser): {stats.pairwise_outcomes}",
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
        numbered = list(enumerate(stats.batches, start=1))  # the profile's own count
        for number, b in numbered[-10:]:
            a = Agreement.of(b)
            minutes = (b.ended_at - b.started_at) / 60
            lines.append(
                f"  #{number}: {b.choices} choices in {minutes:.1f} min, agreement "
                f"{percent(a.agreement)}"
            )
    return "\n".join(lines)


def describe_embedded(images: int, extracted: int) -> str:
    """How many embeddings were extracted now and how many came from the cache."""
    cached = images - extracted
    parts = [f"{extracted} extracted"] * bool(extracted) + [f"{cached} from cache"] * bool(cached)
    return f"Embeddings: {images} images ({', '.join(parts)})"


FEW_CHOICES = 30  # held-out figures on fewer choices than this are too noisy to judge by


def describe_metrics(m: dict[str, float]) -> str:
    """A trained model's held-out figures with their counts and spread, a warning when
    they rest on too few choices, the training fit's figures labelled as such, and what
    the saved model learnt from."""

    def pct(key: str) -> str:
        return percent(m.get(key))

    held = int(m.get("heldout_choices", 0))
    agreement = m.get("heldout_choice_agreement")
    lines = ["Held-out (a fit on the other images, judged on choices it never learnt from):"]
    if held and agreement is not None:
        spread = 196 * math.sqrt(agreement * (1 - agreement) / held)  # 95%, in pp
        line = f"  agreement with your choices {pct('heldout_choice_agreement')} of {held} "
        line += f"held-out choices (± {spread:.0f} pp)"
        if held < FEW_CHOICES:
            line += ": too few to judge by; rate more"
        lines.append(line)
    else:
        lines.append("  no held-out choices to judge by yet; rate more")
    if "heldout_spearman" in m:
        lines.append(
            f"  order of the ratings over {int(m.get('heldout_images', 0))} images: "
            f"pairwise {pct('heldout_pairwise_accuracy')}, Spearman {m['heldout_spearman']:.3f}"
        )
    lines.append(
        f"Training fit (on what it learnt from, so optimistic): agreement "
        f"{pct('train_choice_agreement')} of {int(m.get('train_choices', 0))} choices"
    )
    if "refit_images" in m:
        lines.append(
            f"Saved model: refitted on all {int(m['refit_images'])} rated images and "
            f"{int(m.get('refit_choices', 0))} choices"
        )
    return "\n".join(lines)
