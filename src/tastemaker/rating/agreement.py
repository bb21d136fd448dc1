"""How often an ordering by scores foresaw the person's choices: the one formula behind
the agreement of the statistics page, of each batch, and of the training metrics.

A choice is *matched* when the chosen image scores higher, *contradicted* when it scores
lower and *unpredicted* when the scores tie. Two shares follow from the three counts:

- :attr:`Agreement.agreement`, ties left out: the classic figure for the database (~50%
  at first, ~75% once it has caught up with the person), where a tie is no call at all;
- :attr:`Agreement.ties_half`, ties counted half: the training metric, where a model
  that scores every image the same is at chance (50%), not undefined.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from tastemaker.rating.elo import CONTRADICTED, MATCHED, UNPREDICTED


class Tally(Protocol):
    """Anything that kept the three counts, such as a stored batch."""

    @property
    def matched(self) -> int: ...
    @property
    def contradicted(self) -> int: ...
    @property
    def unpredicted(self) -> int: ...


@dataclass(frozen=True)
class Agreement:
    """How many choices an ordering matched, contradicted or left open (a tie)."""

    matched: int = 0
    contradicted: int = 0
    unpredicted: int = 0

    @classmethod
    def from_counts(cls, counts: Mapping[int, int]) -> Agreement:
        """From counts keyed by :func:`elo.prediction`'s verdicts (the stored tallies)."""
        return cls(counts.get(MATCHED, 0), counts.get(CONTRADICTED, 0), counts.get(UNPREDICTED, 0))

    @classmethod
    def of(cls, tally: Tally) -> Agreement:
        """The agreement of a record that kept the counts (a batch of the store)."""
        return cls(tally.matched, tally.contradicted, tally.unpredicted)

    @classmethod
    def from_scores(cls, scores: ArrayLike, winners: ArrayLike, losers: ArrayLike) -> Agreement:
        """Of the pairwise outcomes ``winners[i] > losers[i]`` (indices into ``scores``):
        the winner scores higher, lower, or the same. A NaN score foresees nothing, so
        it counts as contradicted."""
        scores = np.asarray(scores, np.float64)
        d = scores[np.asarray(winners, np.int64)] - scores[np.asarray(losers, np.int64)]
        matched, unpredicted = int((d > 0).sum()), int((d == 0).sum())
        return cls(matched, len(d) - matched - unpredicted, unpredicted)

    @property
    def choices(self) -> int:
        return self.matched + self.contradicted + self.unpredicted

    @property
    def agreement(self) -> float | None:
        """Matched share of the choices the ordering made a call on; None before any."""
        called = self.matched + self.contradicted
        return self.matched / called if called else None

    @property
    def ties_half(self) -> float | None:
        """Matched share of all choices, a tie counting half; None before any."""
        return (self.matched + 0.5 * self.unpredicted) / self.choices if self.choices else None

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "agreement": self.agreement}
