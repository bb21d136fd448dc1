"""Turn score differences into probabilities: fit one scale ``c`` so that
``sigmoid(c * (sA - sB))`` is the probability that the person prefers A over B (Platt
scaling without an intercept, since swapping A and B must give ``1 - p``)."""

from __future__ import annotations

import numpy as np

from tastemaker.training.data import TrainingData

MIN_OUTCOMES = 10


def fit_scale(
    differences: np.ndarray, weights: np.ndarray | None = None, max_iter: int = 50
) -> float:
    """The maximum-likelihood ``c`` for outcomes whose winner-minus-loser score differences
    are ``differences``: Newton's method on the concave log-likelihood
    ``sum w log sigmoid(c d)``, with a tiny ridge so a perfectly separated set stays finite."""
    d = np.asarray(differences, np.float64)
    w = np.ones_like(d) if weights is None else np.asarray(weights, np.float64)
    ridge = 1e-3 * w.sum()
    c = 1.0
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-c * d))
        gradient = np.sum(w * (1.0 - p) * d) - ridge * c
        hessian = -np.sum(w * p * (1.0 - p) * d * d) - ridge
        step = gradient / hessian
        c -= step
        if abs(step) < 1e-10:
            break
    return float(c)


def calibrate(scores: np.ndarray, data: TrainingData) -> float | None:
    """The scale from the held-out outcomes (all outcomes when fewer than MIN_OUTCOMES
    are held out); None when there are too few either way."""
    for keep in (data.heldout_outcomes, np.ones(len(data.winners), bool)):
        if keep.sum() >= MIN_OUTCOMES:
            d = scores[data.winners[keep]] - scores[data.losers[keep]]
            return fit_scale(d, data.weights[keep])
    return None
