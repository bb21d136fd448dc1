"""Hesitation is information: a quick choice can count more than a slow one (as the
classic scorer's own A/B tool allows). The weight ``clamp(typical / taken, 0.5, 2)`` multiplies K in
the Elo update and the comparison's weight in the Bradley–Terry fit; ``typical`` is the
person's own median response time unless given."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

LOWEST, HIGHEST = 0.5, 2.0


def typical_ms(response_ms: Sequence[float | None]) -> float | None:
    """The median of the known response times (None when there are none)."""
    known = np.asarray([t for t in response_ms if t], np.float64)
    known = known[known > 0]
    return float(np.median(known)) if known.size else None


def speed_weights(
    response_ms: Sequence[float | None], typical: float | None
) -> NDArray[np.float64]:
    """One weight per choice; 1 where the time is unknown (or no typical time exists)."""
    times = np.array([t if t else np.nan for t in response_ms], np.float64)
    if typical is None:
        return np.ones(len(times))
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.clip(typical / times, LOWEST, HIGHEST)
    return np.where(np.isfinite(times) & (times > 0), w, 1.0)
