"""Bradley–Terry ratings from every comparison at once (MAP with a Gaussian prior).

Model (Bradley & Terry 1952), on the natural-log scale::

    P(i beats j) = sigmoid(r_i - r_j) = 1 / (1 + exp(-(r_i - r_j)))

(so a lead of 1.0 wins 73% of the time; the classic Elo is on a log10 scale instead).
Each item has a Gaussian prior ``r_i ~ N(prior_mean_i, prior_sd_i^2)`` — zero-mean and
weak by default, a model's scores later — which also pins the otherwise free shift and
keeps items that won (or lost) every comparison finite. Each comparison carries a weight
``w_c`` (1 by default; response-time weighting later multiplies it). We maximise the log
posterior::

    L(r) = sum_c w_c log sigmoid(r_win(c) - r_lose(c)) - sum_i (r_i - m_i)^2 / (2 sd_i^2)

by Newton's method with a backtracking (Armijo) line search. The Hessian ``-L''`` is the
prior precision plus the graph Laplacian of the comparisons weighted by
``w_c p_c (1 - p_c)``: sparse, so each Newton system is solved by conjugate gradients
with a Jacobi preconditioner (truncated Newton, Dembo & Steihaug 1983), every product a
pair of ``np.bincount`` over the comparisons — no loop over comparisons, no dense matrix.

The uncertainty is the Laplace approximation at the optimum (MacKay 2003, ch. 27): the
posterior is ``N(r, H^-1)``. By default ``sd_i = 1 / sqrt(H_ii)`` =
``1 / sqrt(1/sd_i^2 + sum_j w p (1 - p))``, the diagonal of the Hessian rather than of its
inverse: O(comparisons) instead of O(n^3), and it leaves out only the correlations through
neighbours (chiefly the shared shift, which does not change a ranking), so it is a little
smaller than the exact marginal sd. ``exact_sd=True`` inverts the dense Hessian
(small libraries only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

PRIOR_SD = 2.0  # weak: a 75%-consistent person's true spread is about 1.2 on this scale
_MAX_HALVINGS = 60


class FitFailed(RuntimeError):
    """Newton's method did not reach the optimum (in practice: outcomes too extreme for
    floating point); the caller decides what the person is told."""


@dataclass(frozen=True)
class BTResult:
    """MAP ratings (natural-log scale), their Laplace sd, and Newton iterations used."""

    ratings: NDArray[np.float64]
    sd: NDArray[np.float64]
    iterations: int


def win_probability(r_a: ArrayLike, r_b: ArrayLike) -> NDArray[np.float64]:
    """``P(a beats b) = sigmoid(r_a - r_b)``."""
    x = np.asarray(r_a, np.float64) - np.asarray(r_b, np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(1 + exp(x))`` without overflow."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


class _Problem:
    """The comparisons and the prior as index arrays; the pieces of Newton's method."""

    def __init__(
        self,
        n: int,
        win: NDArray[np.int64],
        lose: NDArray[np.int64],
        weight: NDArray[np.float64],
        mean: NDArray[np.float64],
        precision: NDArray[np.float64],
    ) -> None:
        self.n, self.win, self.lose, self.weight = n, win, lose, weight
        self.mean, self.precision = mean, precision

    def objective(self, r: NDArray[np.float64]) -> float:
        """``-L(r)``, the negative log posterior (up to a constant)."""
        d = r[self.win] - r[self.lose]
        dev = r - self.mean
        return float(self.weight @ _softplus(-d) + 0.5 * (self.precision @ (dev * dev)))

    def derivatives(
        self, r: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(gradient of L, w p (1 - p) per comparison)``."""
        p = win_probability(r[self.win], r[self.lose])  # P(the actual winner wins)
        q = self.weight * (1.0 - p)
        grad = (
            np.bincount(self.win, q, self.n)
            - np.bincount(self.lose, q, self.n)
            - self.precision * (r - self.mean)
        )
        return grad, self.weight * p * (1.0 - p)

    def hess_diag(self, a: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.precision + np.bincount(self.win, a, self.n) + np.bincount(self.lose, a, self.n)

    def hess_times(self, a: NDArray[np.float64], x: NDArray[np.float64]) -> NDArray[np.float64]:
        """``H x`` with ``H = diag(precision) + Laplacian(a)``."""
        t = a * (x[self.win] - x[self.lose])
        return (
            self.precision * x
            + np.bincount(self.win, t, self.n)
            - np.bincount(self.lose, t, self.n)
        )


def _cg(
    matvec, b: NDArray[np.float64], diag: NDArray[np.float64], rtol: float, max_iter: int
) -> NDArray[np.float64]:
    """Jacobi-preconditioned conjugate gradients for ``H x = b`` (Hestenes & Stiefel
    1952), stopped at ``|residual| <= rtol |b|``. Every iterate is a descent direction, so
    an early stop still gives a usable Newton step."""
    x = np.zeros_like(b)
    r = b.copy()
    z = r / diag
    p = z.copy()
    rz = r @ z
    stop = rtol * np.sqrt(b @ b)
    for _ in range(max_iter):
        if np.sqrt(r @ r) <= stop:
            break
        hp = matvec(p)
        alpha = rz / (p @ hp)
        x += alpha * p
        r -= alpha * hp
        z = r / diag
        rz_new = r @ z
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x


def _newton(
    problem: _Problem, r: NDArray[np.float64], max_iter: int, tol: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
    """Truncated Newton with an Armijo backtracking line search; returns
    ``(ratings, w p (1 - p) at them, iterations)`` or raises :class:`FitFailed`."""
    f = problem.objective(r)
    for it in range(1, max_iter + 1):
        grad, a = problem.derivatives(r)
        diag = problem.hess_diag(a)
        gnorm = float(np.max(np.abs(grad / diag), initial=0.0))  # diagonal-Newton step size
        if gnorm <= tol:
            return r, a, it - 1
        # forcing term: loose far away, tight near the optimum (superlinear convergence)
        rtol = min(0.5, np.sqrt(gnorm)) * 0.1
        step = _cg(lambda x, a=a: problem.hess_times(a, x), grad, diag, rtol, 4 * problem.n + 50)
        if not np.all(np.isfinite(step)):
            raise FitFailed(f"Bradley-Terry fit: non-finite Newton step at iteration {it}")
        slope = float(grad @ step)  # > 0: the step goes uphill in L, downhill in f
        size = float(np.max(np.abs(step)))
        t = 1.0
        for _ in range(_MAX_HALVINGS):
            trial = r + t * step
            f_trial = problem.objective(trial)
            if f_trial <= f - 1e-4 * t * slope or t * size <= tol:
                break  # enough decrease, or a step too small for f to resolve: take it
            t *= 0.5
        else:
            raise FitFailed(f"Bradley-Terry fit: line search failed at iteration {it}")
        if not np.isfinite(f_trial):
            raise FitFailed(f"Bradley-Terry fit diverged at iteration {it} (non-finite)")
        r, f = trial, f_trial
        if t * size <= tol:
            _, a = problem.derivatives(r)
            return r, a, it
    raise FitFailed(
        f"Bradley-Terry fit did not converge after {max_iter} iterations "
        f"(last diagonal-Newton step {gnorm:.3g} > tol {tol:.3g})"
    )


def fit(
    n_items: int,
    winners: ArrayLike,
    losers: ArrayLike,
    weights: ArrayLike | None = None,
    prior_mean: ArrayLike | None = None,
    prior_sd: float | ArrayLike = PRIOR_SD,
    initial: ArrayLike | None = None,
    max_iter: int = 100,
    tol: float = 1e-7,
    exact_sd: bool = False,
) -> BTResult:
    """MAP Bradley–Terry ratings of items ``0..n_items-1`` from the outcomes
    ``winners[c] beat losers[c]`` (see the module docstring for the model).

    ``weights`` per comparison (default 1, must be >= 0); ``prior_mean`` and ``prior_sd``
    per item or one value (default ``N(0, PRIOR_SD^2)``); ``initial`` warm-starts Newton
    (the previous fit, so a refit after one more choice takes an iteration or two);
    iteration stops when the diagonal-Newton step is below ``tol`` rating units.
    ``exact_sd`` gives the Laplace sd from the dense inverse Hessian, ``O(n^3)``.
    """
    n = int(n_items)
    win = np.asarray(winners, np.int64).ravel()
    lose = np.asarray(losers, np.int64).ravel()
    if win.shape != lose.shape:
        raise ValueError(f"{len(win)} winners but {len(lose)} losers")
    if len(win) and (min(win.min(), lose.min()) < 0 or max(win.max(), lose.max()) >= n):
        raise ValueError(f"comparison indices must be in 0..{n - 1}")
    if np.any(win == lose):
        raise ValueError("an item cannot be compared with itself")
    weight = np.ones(len(win)) if weights is None else np.asarray(weights, np.float64).ravel()
    if weight.shape != win.shape:
        raise ValueError(f"{len(weight)} weights for {len(win)} comparisons")
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise ValueError("weights must be finite and >= 0")
    mean = np.broadcast_to(
        np.asarray(0.0 if prior_mean is None else prior_mean, np.float64), (n,)
    ).copy()
    sd = np.broadcast_to(np.asarray(prior_sd, np.float64), (n,))
    if not np.all(np.isfinite(mean)):
        raise ValueError("prior_mean must be finite")
    if not np.all(np.isfinite(sd)) or np.any(sd <= 0):
        raise ValueError("prior_sd must be finite and > 0")
    start = mean.copy() if initial is None else np.asarray(initial, np.float64).copy()
    if start.shape != (n,) or not np.all(np.isfinite(start)):
        raise ValueError(f"initial must be {n} finite ratings")

    problem = _Problem(n, win, lose, weight, mean, 1.0 / (sd * sd))
    r, a, iterations = _newton(problem, start, max_iter, tol)
    if exact_sd:
        h = np.diag(problem.precision)
        np.add.at(h, (win, lose), -a)
        np.add.at(h, (lose, win), -a)
        h[np.diag_indices(n)] += np.bincount(win, a, n) + np.bincount(lose, a, n)
        post_sd = np.sqrt(np.diag(np.linalg.inv(h)))
    else:
        post_sd = 1.0 / np.sqrt(problem.hess_diag(a))
    return BTResult(r, post_sd, iterations)
