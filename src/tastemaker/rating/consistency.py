"""The person's own consistency ceiling. A small share of sets repeat a pair already
judged (minutes later, sides swapped); how often the person chooses the same image again
is the most agreement any database or model can be expected to reach with them — the
classic generic 75%, measured for this person."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

GENERIC_CEILING = 0.75  # the classic scorer's: people repeat ~75% of their aesthetic A/B choices
MIN_REPEATS = 10  # fewer repeats than this and the generic ceiling is shown instead


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's score interval for a proportion (95% by default; Wilson 1927)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Consistency:
    repeats: int  # pairs judged twice
    consistent: int  # of which the same image was chosen both times
    rate: float | None
    low: float  # 95% interval
    high: float
    ceiling: float  # the personal rate once there are MIN_REPEATS, else the generic 75%
    ceiling_source: str  # "personal" or "generic"

    @classmethod
    def from_outcomes(cls, outcomes: list[tuple[int, int]]) -> Consistency:
        """From (first winner, repeat winner) pairs."""
        n = len(outcomes)
        same = sum(1 for first, again in outcomes if first == again)
        low, high = wilson(same, n)
        personal = n >= MIN_REPEATS
        return cls(
            repeats=n,
            consistent=same,
            rate=same / n if n else None,
            low=low,
            high=high,
            ceiling=same / n if personal else GENERIC_CEILING,
            ceiling_source="personal" if personal else "generic",
        )

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
