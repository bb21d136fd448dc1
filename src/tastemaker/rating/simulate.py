"""A simulated person, for tests, benchmarks and docs.

The model is choix's ``generate_pairwise`` (Bradley–Terry, Bradley & Terry 1952): each
image has a hidden true utility ``u`` (standard normal) and the person prefers ``A`` over
``B`` with probability ``sigmoid(s * (uA - uB))``. The scale ``s`` sets how consistent the
person is: :func:`scale_for_consistency` finds the ``s`` at which the person agrees with
the true order on a given share of random pairs (0.75 is the product's reference person).
When shown more than two images the person picks one by the multinomial logit
(Luce 1959), ``P(i) = exp(s*u_i) / sum_j exp(s*u_j)``, which is Bradley–Terry for two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

CONSISTENCY = 0.75

# Gauss–Legendre nodes on [0, _Z_MAX] for the half-normal expectation below; the
# integrand is smooth there and the tail beyond 12 sigma is below 1e-32.
_Z_MAX = 12.0


def sigmoid(x: ArrayLike) -> NDArray[np.float64]:
    """``1 / (1 + exp(-x))``, without overflow for large ``|x|``."""
    x = np.asarray(x, np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@cache
def _half_normal_rule(nodes: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gauss–Legendre points ``z`` on ``[0, _Z_MAX]`` and weights times the half-normal
    density, so ``E[f(|Z|)] ~= sum(weights * f(z))``."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    z = 0.5 * _Z_MAX * (x + 1.0)
    density = 2.0 * np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
    return z, 0.5 * _Z_MAX * w * density


def consistency_for_scale(scale: float, nodes: int = 200) -> float:
    """The share of random pairs on which a person of scale ``s`` agrees with the truth:
    ``E[sigmoid(s*|d|)]`` with ``d = uA - uB ~ N(0, 2)``, by Gauss–Legendre quadrature
    over the half-normal ``|z|`` (``d = sqrt(2) z``), so it is deterministic."""
    z, weights = _half_normal_rule(nodes)
    return float(np.dot(weights, sigmoid(scale * np.sqrt(2.0) * z)))


@cache
def scale_for_consistency(
    consistency: float = CONSISTENCY, tol: float = 1e-12, nodes: int = 200
) -> float:
    """The ``s`` at which :func:`consistency_for_scale` equals ``consistency``, by
    bisection (the share rises monotonically from 0.5 at ``s = 0`` towards 1)."""
    if not 0.5 <= consistency < 1.0:
        raise ValueError(f"consistency must be in [0.5, 1), got {consistency}")
    if consistency == 0.5:
        return 0.0
    lo, hi = 0.0, 1.0
    while consistency_for_scale(hi, nodes) < consistency:
        lo, hi = hi, 2.0 * hi
        if hi > 1e9:
            raise ValueError(f"consistency {consistency} is too close to 1 to reach")
    while hi - lo > tol * max(1.0, hi):
        mid = 0.5 * (lo + hi)
        if consistency_for_scale(mid, nodes) < consistency:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@dataclass
class Person:
    """A person with hidden true ``utilities`` who chooses by Bradley–Terry with
    ``scale``; ``rng`` makes the choices (so the same seed gives the same choices)."""

    utilities: NDArray[np.float64]
    scale: float
    rng: np.random.Generator = field(repr=False)

    @classmethod
    def random(cls, n: int, rng: np.random.Generator, consistency: float = CONSISTENCY) -> Person:
        """``n`` images with standard-normal utilities and the given consistency."""
        return cls(rng.standard_normal(n), scale_for_consistency(consistency), rng)

    def prefers_probability(self, a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
        """``P(a chosen over b) = sigmoid(s * (u_a - u_b))``."""
        u = self.utilities
        return sigmoid(self.scale * (u[np.asarray(a)] - u[np.asarray(b)]))

    def choose(self, a: int, b: int) -> int:
        """The image (``a`` or ``b``) the person chooses."""
        return a if self.rng.random() < float(self.prefers_probability(a, b)) else b

    def choose_many(self, a: ArrayLike, b: ArrayLike) -> NDArray[np.int64]:
        """The chosen image of each pair ``(a[i], b[i])``, independently."""
        a = np.asarray(a, np.int64)
        b = np.asarray(b, np.int64)
        return np.where(self.rng.random(a.shape) < self.prefers_probability(a, b), a, b)

    def choose_from(self, shown: ArrayLike) -> int:
        """The position in ``shown`` of the image chosen, by the multinomial logit
        ``P(i) = exp(s*u_i) / sum_j exp(s*u_j)`` (Luce 1959): the pairwise rule for two."""
        x = self.scale * self.utilities[np.asarray(shown, np.int64)]
        if len(x) == 2:  # the same draw as choose(), so pairs are simulated one way only
            return 0 if self.rng.random() < float(sigmoid(x[0] - x[1])) else 1
        return int(np.argmax(x + self.rng.gumbel(size=x.shape)))  # Gumbel-max = softmax draw
