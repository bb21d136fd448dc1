"""The classic Elo database score, exactly.

``P(A>B) = 1 / (1 + 10^-(rA - rB))``; the winner gains ``K(1 - P)`` and the loser loses
the same, with ``K = 0.8`` (the classic aesthetic_ab_scorer). Ratings start at 0 (or at a
prior). When more than two images are shown, the chosen one wins a pairwise update
against each of the others, in screen order. The live update and the replay share
:func:`_step`, so replaying the stored comparisons reproduces the stored ratings bit
for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

K = 0.8
MAX_K = 100.0  # a choice moving a rating by 50 (10^50 odds) is no longer Elo

MATCHED, UNPREDICTED, CONTRADICTED = 1, 0, -1


# below this rating gap 10^-gap would overflow a float; the classic form is kept above it
_CLASSIC_FORM_MIN = -300.0


def expected(r_a: float, r_b: float) -> float:
    """``P(A>B) = 1 / (1 + 10^-(rA - rB))``, computed as the classic scorer did (bit for bit) when
    ``rA - rB > -300``, else as ``t / (1 + t)`` with ``t = 10^(rA - rB)``, which
    underflows to 0 instead of overflowing: no gap between finite ratings raises."""
    gap = r_a - r_b
    if gap > _CLASSIC_FORM_MIN:
        return 1.0 / (1.0 + 10.0**-gap)
    t = 10.0**gap
    return t / (1.0 + t)


def _step(r_w: float, r_l: float, k: float) -> tuple[float, float]:
    delta = k * (1.0 - expected(r_w, r_l))
    return r_w + delta, r_l - delta


def prediction(ratings: Sequence[float], winner: int) -> int:
    """Did the database foresee this choice? ``MATCHED`` when ``P > 0.5`` for the chosen
    image against every other shown, ``CONTRADICTED`` when ``P < 0.5`` against any,
    ``UNPREDICTED`` otherwise (a tie at the top)."""
    best_other = max(r for i, r in enumerate(ratings) if i != winner)
    p = expected(ratings[winner], best_other)
    return MATCHED if p > 0.5 else CONTRADICTED if p < 0.5 else UNPREDICTED


def choose(ratings: Sequence[float], winner: int, k: float = K) -> list[float]:
    """Ratings of the shown images after the one at position ``winner`` was chosen."""
    new = [float(r) for r in ratings]
    for other in range(len(new)):
        if other != winner:
            new[winner], new[other] = _step(new[winner], new[other], k)
    return new


def replay(
    initial: ArrayLike,
    winners: ArrayLike,
    losers: ArrayLike,
    k: float | ArrayLike = K,
) -> NDArray[np.float64]:
    """Ratings after the pairwise outcomes ``winners[i] > losers[i]`` (indices into
    ``initial``), applied in order. ``k`` may be one value or one per outcome."""
    r = np.asarray(initial, np.float64).tolist()
    w_list = np.asarray(winners, np.int64).tolist()
    l_list = np.asarray(losers, np.int64).tolist()
    k_list = np.broadcast_to(np.asarray(k, np.float64), (len(w_list),)).tolist()
    for w, lo, kk in zip(w_list, l_list, k_list, strict=True):
        r[w], r[lo] = _step(r[w], r[lo], kk)
    return np.array(r, np.float64)


def pairwise(shown: Sequence[int], winner_pos: int) -> list[tuple[int, int]]:
    """The (winner, loser) outcomes of one choice, in the order Elo applies them."""
    return [(shown[winner_pos], s) for i, s in enumerate(shown) if i != winner_pos]
