"""Kernel ridge regression of ratings on embeddings, with its settings chosen by
closed-form leave-one-out and an uncertainty for every score.

The model is the posterior mean of a Gaussian process: with L2-normalised embeddings,
a kernel ``k`` (RBF ``exp(-|a-b|²/(2w²))`` or linear ``a·b``, each plus a constant),
per-image weights ``w_i`` (e.g. the precision of each rating) and a penalty ``λ``, the
fit minimises ``Σ w_i (y_i - μ - f(x_i))² + λ |f|²`` with ``μ`` the weighted mean
rating. In dual form ``f(x) = k_xᵀ c`` with ``c = (K + λW⁻¹)⁻¹ (y - μ)``; as a Gaussian
process, ``f`` has prior covariance ``(σ²/λ) k`` and the noise variance is ``σ²/w_i``.

Leave-one-out (Rifkin & Lippert 2007, "Notes on regularized least squares"): with the
weighted kernel ``K̃ = W^½ K W^½ = U diag(s) Uᵀ`` the hat matrix is ``U diag(s/(s+λ)) Uᵀ``
(rescaled by ``W^∓½``, same diagonal), and the leave-one-out residual of a linear smoother
is ``e_i = (t_i - (Ht)_i) / (1 - H_ii)``; with ``t = y - μ₋ᵢ`` it re-estimates the mean
without image ``i`` too. One eigendecomposition per kernel serves every ``λ``.

Large libraries use the Nyström approximation (Williams & Seeger 2001, "Using the
Nyström method to speed up kernel machines"): ``m`` landmarks, features
``Φ = K_nm R`` with ``RRᵀ = K_mm⁺``, so that ``ΦΦᵀ ≈ K``; the fit is ridge
regression on ``Φ`` and its leave-one-out the same formula with ``U`` the left singular
vectors of ``W^½Φ``. The settings are chosen on a seeded subsample: in the Gaussian
process view ``λ`` is noise over signal variance, which does not depend on ``n``.

Uncertainty is the posterior standard deviation in score units (Rasmussen & Williams
2006, eq. 2.26), ``sqrt(σ²/λ · (k(x,x) - k_xᵀ(K+λW⁻¹)⁻¹k_x))`` with ``σ²`` the fitted
noise of an image of average weight; with Nyström, the deterministic training conditional
(Quiñonero-Candela & Rasmussen 2005), which keeps the prior variance far from the
landmarks instead of collapsing to zero there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from tastemaker.model import KernelHead, kernel_from_dots

Array = NDArray[np.float64]
Kind = Literal["rbf", "linear"]
KINDS: tuple[Kind, ...] = ("rbf", "linear")


@dataclass(frozen=True)
class KernelSettings:
    """The candidates leave-one-out chooses among, and the sizes that bound the work."""

    kinds: tuple[Kind, ...] = KINDS
    widths: tuple[float, ...] = (0.5, 1.0, 2.0)  # RBF widths, × median pairwise distance
    penalties: tuple[float, ...] = tuple(float(p) for p in np.logspace(-4, 2, 25))
    exact_max: int = 2000  # up to this many images, the exact n×n solve
    landmarks: int = 2000  # Nyström landmarks of the final fit above exact_max
    select_max: int = 4000  # settings chosen by leave-one-out on at most this many images
    select_landmarks: int = 1000  # Nyström landmarks while choosing the settings
    batch: int = 4096  # rows of a kernel block: bounds memory to batch × m
    seed: int = 0


@dataclass(frozen=True)
class Candidate:
    """One kernel setting and its leave-one-out error (weighted mean squared residual)."""

    kind: Kind
    width: float  # absolute RBF width; 0 for the linear kernel
    penalty: float
    loo_mse: float


@dataclass(frozen=True)
class KernelFit:
    """The fitted model, how it was solved, and the leave-one-out error of each kernel
    (at its best penalty) on the ``selected_on`` images the settings were chosen on."""

    model: KernelHead
    method: Literal["exact", "nystrom"]
    selected_on: int  # 0 when the settings were given (a refit)
    candidates: tuple[Candidate, ...]
    fitted_mean: float  # weighted mean and sd of the raw scores of the fitted images
    fitted_sd: float  # (a score normalisation that needs no second pass over them)

    @property
    def chosen(self) -> Candidate:
        """The setting the model was fitted with: the best by leave-one-out."""
        return _best(self.candidates)


def _best(candidates: Iterable[Candidate]) -> Candidate:
    return min(candidates, key=lambda c: c.loo_mse)


def normalise(x: ArrayLike) -> Array:
    """Rows scaled to unit length (zero rows stay zero), so ``k(x, x)`` is the same
    for every image; float32 rows stay float32 (100,000 embeddings of 1,280 would take
    another gigabyte as float64, and inner products need no more digits)."""
    x = np.asarray(x)
    x = x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]  # no float64 copy of float32 rows
    return x / np.where(norms > 0, norms, 1).astype(x.dtype)


def kernel_matrix(kind: Kind, a: Array, b: Array, width: float) -> Array:
    """``k(a_i, b_j)`` for unit rows, in float64."""
    return _from_dots(kind, (a @ b.T.astype(a.dtype)).astype(np.float64), width)


def _from_dots(kind: Kind, dots: Array, width: float) -> Array:
    """The scoring head's kernel (:func:`tastemaker.model.kernel_from_dots`), in numpy."""
    return kernel_from_dots(kind, torch.from_numpy(dots), width).numpy()


def median_distance(x: Array, seed: int = 0, sample: int = 1000) -> float:
    """Median pairwise distance of a seeded sample of rows: the unit of the RBF widths."""
    rng = np.random.default_rng(seed)
    rows = x[rng.choice(len(x), min(len(x), sample), replace=False)]
    d2 = np.clip(2.0 - 2.0 * (rows @ rows.T), 0.0, None)
    upper = d2[np.triu_indices(len(rows), 1)]
    return float(np.sqrt(np.median(upper))) if upper.size else 1.0


def weighted_spectrum(k: Array, weights: Array) -> tuple[Array, Array]:
    """Eigenvectors and eigenvalues of ``W^½ K W^½`` (negative rounding clipped)."""
    root = np.sqrt(weights)
    s, u = np.linalg.eigh(root[:, None] * k * root[None, :])
    return u, np.clip(s, 0.0, None)


def feature_spectrum(phi: Array, weights: Array) -> tuple[Array, Array]:
    """Left singular vectors and squared singular values of ``W^½ Φ``, through the
    ``r × r`` eigendecomposition of ``ΦᵀWΦ`` (directions with no variance dropped)."""
    scaled = np.sqrt(weights)[:, None] * phi
    g, q = np.linalg.eigh(scaled.T @ scaled)
    keep = g > g.max() * 1e-10
    return (scaled @ q[:, keep]) / np.sqrt(g[keep]), g[keep]


def landmark_map(kind: Kind, landmarks: Array, width: float) -> Array:
    """``R`` with ``R Rᵀ = K_mm⁺``, so that ``Φ = K_nm R`` has ``ΦΦᵀ`` the Nyström
    approximation of ``K``; rank-deficient directions (a linear kernel with more landmarks
    than dimensions) are dropped."""
    e, v = np.linalg.eigh(kernel_matrix(kind, landmarks, landmarks, width))
    keep = e > e.max() * 1e-10
    return v[:, keep] / np.sqrt(e[keep])


def loo_residuals(u: Array, s: Array, y: Array, weights: Array, penalties: ArrayLike) -> Array:
    """Leave-one-out residuals ``(n, len(penalties))`` of the weighted ridge whose
    weighted hat matrix is ``u diag(s/(s+λ)) uᵀ``, the mean re-estimated without each
    image (Rifkin & Lippert 2007)."""
    lam = np.asarray(penalties, np.float64)
    total_w = weights.sum()
    mean_without = (weights @ y - weights * y) / (total_w - weights)
    root = np.sqrt(weights)
    shrink = s[:, None] / (s[:, None] + lam[None, :])  # (r, L)
    fit_y = (u @ (shrink * (u.T @ (root * y))[:, None])) / root[:, None]
    fit_one = (u @ (shrink * (u.T @ root)[:, None])) / root[:, None]
    hat = (u * u) @ shrink
    t = (y - mean_without)[:, None]
    return (t - fit_y + mean_without[:, None] * fit_one) / (1.0 - hat)


def _loo_mse(residuals: Array, weights: Array) -> Array:
    """Weighted mean squared residual per penalty; a penalty that interpolates a point
    (``H_ii = 1`` in floating point) counts as infinitely bad."""
    mse = np.asarray(weights @ residuals**2 / weights.sum())
    return np.where(np.isfinite(mse), mse, np.inf)


def _candidates(settings: KernelSettings, unit: float) -> list[tuple[Kind, float]]:
    out: list[tuple[Kind, float]] = []
    for kind in settings.kinds:
        widths = [unit * f for f in settings.widths] if kind == "rbf" else [0.0]
        out.extend((kind, w) for w in widths)
    return out


def _pick(rng: np.random.Generator, n: int, m: int) -> NDArray[np.intp]:
    return np.sort(rng.choice(n, m, replace=False)) if m < n else np.arange(n)


def _check(x: Array, y: Array, weights: Array) -> None:
    if x.ndim != 2 or y.shape != (len(x),) or weights.shape != (len(x),):
        raise ValueError("need embeddings (n, d) with n ratings and n weights")
    if len(x) < 3:
        raise ValueError("need at least 3 rated images")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(x))):
        raise ValueError("embeddings and ratings must be finite")
    if not np.all((weights > 0) & np.isfinite(weights)):
        raise ValueError("weights must be positive and finite")


def fit_kernel(
    x: ArrayLike,
    y: ArrayLike,
    weights: ArrayLike | None = None,
    settings: KernelSettings | None = None,
    chosen: Candidate | None = None,
) -> KernelFit:
    """Fit the kernel model to ratings ``y`` of embeddings ``x``, its kernel, width and
    penalty chosen by closed-form leave-one-out (or ``chosen``'s, already chosen on
    other images: a refit); exact up to ``settings.exact_max`` images, Nyström above."""
    settings = settings or KernelSettings()
    xs = normalise(x)
    ys = np.asarray(y, np.float64)
    ws = np.ones(len(ys)) if weights is None else np.asarray(weights, np.float64)
    _check(xs, ys, ws)
    ws = ws / ws.mean()
    rng = np.random.default_rng(settings.seed)
    n = len(xs)
    unit = median_distance(xs, settings.seed)
    lam = np.asarray([chosen.penalty] if chosen else settings.penalties, np.float64)
    pool = [(chosen.kind, chosen.width)] if chosen else _candidates(settings, unit)
    candidates: list[Candidate] = []

    if n <= settings.exact_max:
        best: tuple[float, Kind, float, float, Array, Array] | None = None
        for kind, width in pool:
            u, s = weighted_spectrum(kernel_matrix(kind, xs, xs, width), ws)
            mse = _loo_mse(loo_residuals(u, s, ys, ws, lam), ws)
            j = int(np.argmin(mse))
            candidates.append(Candidate(kind, width, float(lam[j]), float(mse[j])))
            if best is None or mse[j] < best[0]:
                best = (float(mse[j]), kind, width, float(lam[j]), u, s)
        assert best is not None
        _, kind, width, penalty, u, s = best
        model, moments = _exact_model(xs, ys, ws, kind, width, penalty, u, s)
        return KernelFit(model, "exact", 0 if chosen else n, tuple(candidates), *moments)

    selected_on = 0
    if chosen is None:
        sel = _pick(rng, n, settings.select_max)
        xsel, ysel, wsel = xs[sel], ys[sel], ws[sel] / ws[sel].mean()
        marks = xsel[_pick(rng, len(sel), settings.select_landmarks)]
        dots = (xsel @ marks.T).astype(np.float64)  # shared by every kernel
        for kind, width in pool:
            phi = _from_dots(kind, dots, width) @ landmark_map(kind, marks, width)
            u, g = feature_spectrum(phi, wsel)
            mse = _loo_mse(loo_residuals(u, g, ysel, wsel, lam), wsel)
            j = int(np.argmin(mse))
            candidates.append(Candidate(kind, width, float(lam[j]), float(mse[j])))
        chosen, selected_on = _best(candidates), len(sel)
    landmarks = xs[_pick(rng, n, settings.landmarks)]
    model, moments = _nystrom_model(
        xs, ys, ws, chosen.kind, chosen.width, chosen.penalty, landmarks, settings.batch
    )
    return KernelFit(model, "nystrom", selected_on, tuple(candidates) or (chosen,), *moments)


def _exact_model(
    x: Array, y: Array, w: Array, kind: Kind, width: float, penalty: float, u: Array, s: Array
) -> tuple[KernelHead, tuple[float, float]]:
    """``c = W^½ U diag(1/(s+λ)) Uᵀ W^½ (y-μ)``; ``M = (K + λW⁻¹)⁻¹`` from the same ``U``;
    and the fitted scores' weighted mean and sd."""
    mean = float(w @ y / w.sum())
    root = np.sqrt(w)
    coef = u.T @ (root * (y - mean))
    fitted = (u @ (s / (s + penalty) * coef)) / root
    dof = float(np.sum(s / (s + penalty)))
    noise = float(w @ (y - mean - fitted) ** 2 / max(len(y) - dof, 1.0))
    scaled = root[:, None] * u
    head = _head(
        kind,
        width,
        penalty,
        mean,
        noise,
        x,
        scaled @ (coef / (s + penalty)),
        (scaled / (s + penalty)) @ scaled.T,
    )
    centre = float(w @ fitted / w.sum())
    return head, (mean + centre, float(np.sqrt(w @ (fitted - centre) ** 2 / w.sum())))


def _nystrom_model(
    x: Array,
    y: Array,
    w: Array,
    kind: Kind,
    width: float,
    penalty: float,
    landmarks: Array,
    batch: int,
) -> tuple[KernelHead, tuple[float, float]]:
    """Ridge on ``Φ = K_nm R``, accumulated ``batch`` rows at a time so ``Φ`` is never
    held: ``G = RᵀK_mnWK_nmR``, ``β = (G+λI)⁻¹ RᵀK_mnW(y-μ)``, ``c = Rβ``, and
    ``M = R G(G+λI)⁻¹ Rᵀ`` (the variance of the deterministic training conditional).
    The fitted scores' weighted mean and sd come from the same sums: ``Σ w k·c`` and
    ``cᵀ K_mnWK_nm c``."""
    mean = float(w @ y / w.sum())
    t = y - mean
    r = landmark_map(kind, landmarks, width)
    m = len(landmarks)
    kwk = np.zeros((m, m))
    kwt = np.zeros(m)
    kw = np.zeros(m)
    for start in range(0, len(x), batch):
        k = kernel_matrix(kind, x[start : start + batch], landmarks, width)
        wk = w[start : start + batch, None] * k
        kwk += k.T @ wk
        kwt += wk.T @ t[start : start + batch]
        kw += wk.sum(axis=0)
    g, q = np.linalg.eigh(r.T @ kwk @ r)
    g = np.clip(g, 0.0, None)
    b = q.T @ (r.T @ kwt)  # Φᵀ W t in the eigenbasis of G
    beta = b / (g + penalty)
    rss = float(w @ t**2 - 2.0 * beta @ b + beta @ (g * beta))
    dof = float(np.sum(g / (g + penalty)))
    rq = r @ q
    noise = max(rss, 0.0) / max(len(y) - dof, 1.0)
    c = rq @ beta
    head = _head(kind, width, penalty, mean, noise, landmarks, c, (rq * (g / (g + penalty))) @ rq.T)
    centre = float(kw @ c) / w.sum()
    spread = max(float(c @ kwk @ c) / w.sum() - centre**2, 0.0)
    return head, (mean + centre, float(np.sqrt(spread)))


def _head(
    kind: Kind,
    width: float,
    penalty: float,
    mean: float,
    noise: float,
    anchors: Array,
    weights: Array,
    variance: Array,
) -> KernelHead:
    t = torch.from_numpy
    return KernelHead(
        kind, width, penalty, mean, noise, t(anchors), t(weights), t(np.ascontiguousarray(variance))
    )
