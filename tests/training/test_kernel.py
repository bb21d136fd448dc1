import numpy as np
import pytest

from tastemaker.model import KernelHead
from tastemaker.rating.ranks import spearman
from tastemaker.training.kernel import (
    KernelSettings,
    feature_spectrum,
    fit_kernel,
    kernel_matrix,
    landmark_map,
    loo_residuals,
    normalise,
    weighted_spectrum,
)

PENALTIES = np.array([0.01, 0.3, 5.0])


def _small_case(n: int = 30, d: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = normalise(rng.normal(size=(n, d)))
    y = np.sin(3 * x[:, 0]) + 0.1 * rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, n)
    return x, y, w


def _brute_loo(features_or_kernel, y, w, penalty, dual: bool):
    """Refit without each image in turn (mean included) and predict it."""
    n = len(y)
    out = np.empty(n)
    for i in range(n):
        keep = np.arange(n) != i
        mean = w[keep] @ y[keep] / w[keep].sum()
        t = y[keep] - mean
        if dual:
            k = features_or_kernel
            c = np.linalg.solve(k[np.ix_(keep, keep)] + penalty * np.diag(1 / w[keep]), t)
            pred = mean + k[i, keep] @ c
        else:
            phi = features_or_kernel
            a = phi[keep].T @ (w[keep, None] * phi[keep]) + penalty * np.eye(phi.shape[1])
            beta = np.linalg.solve(a, phi[keep].T @ (w[keep] * t))
            pred = mean + phi[i] @ beta
        out[i] = y[i] - pred
    return out


@pytest.mark.parametrize("kind", ["rbf", "linear"])
def test_exact_leave_one_out_equals_refits(kind):
    x, y, w = _small_case()
    k = kernel_matrix(kind, x, x, 0.8)
    u, s = weighted_spectrum(k, w)
    closed = loo_residuals(u, s, y, w, PENALTIES)
    for j, lam in enumerate(PENALTIES):
        np.testing.assert_allclose(closed[:, j], _brute_loo(k, y, w, lam, dual=True), atol=1e-8)


@pytest.mark.parametrize("kind", ["rbf", "linear"])
def test_nystrom_leave_one_out_equals_refits(kind):
    x, y, w = _small_case(n=40, d=6)
    marks = x[:8]
    phi = kernel_matrix(kind, x, marks, 0.8) @ landmark_map(kind, marks, 0.8)
    u, g = feature_spectrum(phi, w)
    closed = loo_residuals(u, g, y, w, PENALTIES)
    for j, lam in enumerate(PENALTIES):
        np.testing.assert_allclose(closed[:, j], _brute_loo(phi, y, w, lam, dual=False), atol=1e-8)


def test_nystrom_with_every_image_a_landmark_is_the_exact_fit():
    x, y, w = _small_case(n=120, d=6)
    exact = fit_kernel(x, y, w)
    every = KernelSettings(exact_max=100, landmarks=120, select_landmarks=120)
    nystrom = fit_kernel(x, y, w, settings=every)
    assert (exact.method, nystrom.method) == ("exact", "nystrom")
    for a, b in zip(exact.candidates, nystrom.candidates, strict=True):
        assert (a.kind, a.width, a.penalty) == (b.kind, b.width, b.penalty)
        assert a.loo_mse == pytest.approx(b.loo_mse, rel=1e-6)
    new = normalise(np.random.default_rng(9).normal(size=(40, 6)))
    for got, want in zip(nystrom.model.predict(new), exact.model.predict(new), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def _taste(n: int, d: int, seed: int, nonlinear: bool):
    rng = np.random.default_rng(seed)
    x = normalise(rng.normal(size=(n, d)))
    u, v = normalise(rng.normal(size=(2, d)))
    truth = np.sqrt(d) * (x @ u)
    if nonlinear:  # XOR-like: the product of two directions
        truth = truth * np.sqrt(d) * (x @ v)
    return x, truth, truth + 0.3 * rng.normal(size=n)


@pytest.mark.parametrize("exact_max", [2000, 200])  # exact, and Nyström above 200 images
def test_recovers_a_linear_taste_with_the_linear_kernel(exact_max):
    x, truth, y = _taste(700, 16, seed=2, nonlinear=False)
    settings = KernelSettings(exact_max=exact_max, landmarks=300, select_landmarks=200)
    fit = fit_kernel(x[:500], y[:500], settings=settings)
    assert fit.method == ("exact" if exact_max > 500 else "nystrom")
    assert fit.model.kind == "linear"
    assert spearman(fit.model.predict(x[500:])[0], truth[500:]) > 0.9


@pytest.mark.parametrize("exact_max", [2000, 200])
def test_recovers_a_nonlinear_taste_with_the_rbf_kernel(exact_max):
    x, truth, y = _taste(900, 4, seed=2, nonlinear=True)
    settings = KernelSettings(exact_max=exact_max, landmarks=300, select_landmarks=200)
    fit = fit_kernel(x[:700], y[:700], settings=settings)
    assert fit.model.kind == "rbf"
    assert spearman(fit.model.predict(x[700:])[0], truth[700:]) > 0.8
    linear = [c for c in fit.candidates if c.kind == "linear"]
    assert min(c.loo_mse for c in fit.candidates) < 0.5 * linear[0].loo_mse


@pytest.mark.parametrize("exact_max", [2000, 100])
def test_uncertainty_is_larger_far_from_rated_images(exact_max):
    rng = np.random.default_rng(3)
    x, _, y = _taste(300, 8, seed=3, nonlinear=True)
    x[:, 0] = np.abs(x[:, 0])  # rated images all on one side ...
    far = normalise(rng.normal(size=(50, 8)))
    far[:, 0] = -np.abs(far[:, 0]) - 0.5  # ... new ones on the other
    settings = KernelSettings(kinds=("rbf",), exact_max=exact_max, landmarks=150)
    model = fit_kernel(x, y, settings=settings).model
    _, near_sd = model.predict(x)
    _, far_sd = model.predict(far)
    assert np.all(near_sd >= 0) and np.all(np.isfinite(far_sd))
    assert np.median(far_sd) > 2 * np.median(near_sd)
    assert far_sd.max() <= np.sqrt(2 * model.noise / model.penalty) + 1e-9  # the prior's spread


@pytest.mark.parametrize("exact_max", [2000, 100])
def test_state_round_trip_and_batches_give_identical_scores(exact_max):
    x, _, y = _taste(250, 8, seed=4, nonlinear=True)
    w = np.random.default_rng(4).uniform(0.5, 2.0, 250)
    settings = KernelSettings(exact_max=exact_max, landmarks=120, select_landmarks=80)
    model = fit_kernel(x[:200], y[:200], w[:200], settings=settings).model
    again = KernelHead.empty(model.settings(), len(model.anchors), 8)
    again.load_state_dict({k: v.clone() for k, v in model.state_dict().items()})
    scores, sd = model.predict(x[200:])
    scores2, sd2 = again.predict(x[200:], batch=7)
    np.testing.assert_array_equal(scores, again.predict(x[200:])[0])
    np.testing.assert_allclose(scores2, scores, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(sd, again.predict(x[200:])[1])
    # k(x,x) - k_xᵀ M k_x cancels digits: other batch sizes agree to rounding, not bits
    np.testing.assert_allclose(sd2, sd, rtol=1e-6)


@pytest.mark.parametrize("exact_max", [2000, 100])
def test_deterministic_for_a_seed(exact_max):
    x, _, y = _taste(250, 8, seed=5, nonlinear=False)
    settings = KernelSettings(exact_max=exact_max, landmarks=120, select_landmarks=80, seed=7)
    a = fit_kernel(x, y, settings=settings)
    b = fit_kernel(x, y, settings=settings)
    assert a.candidates == b.candidates
    assert a.model.settings() == b.model.settings()
    for key, value in a.model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), b.model.state_dict()[key].numpy())


def test_rejects_bad_input():
    x, _, y = _taste(20, 4, seed=6, nonlinear=False)
    with pytest.raises(ValueError, match="weights"):
        fit_kernel(x, y, -np.ones(20))
    with pytest.raises(ValueError, match="finite"):
        fit_kernel(x, np.full(20, np.nan))


@pytest.mark.parametrize("exact_max", [2000, 100])
def test_the_fitted_moments_are_those_of_the_fitted_scores(exact_max):
    """The score normalisation comes from the fit's own sums, not a second pass."""
    x, _, y = _taste(300, 8, seed=8, nonlinear=True)
    w = np.random.default_rng(8).uniform(0.5, 2.0, 300)
    settings = KernelSettings(exact_max=exact_max, landmarks=120, select_landmarks=80)
    fit = fit_kernel(x.astype(np.float32), y, w, settings=settings)
    raw = fit.model.predict(x)[0]
    w = w / w.mean()
    mean = w @ raw / w.sum()
    assert fit.fitted_mean == pytest.approx(mean, abs=1e-5)
    assert fit.fitted_sd == pytest.approx(np.sqrt(w @ (raw - mean) ** 2 / w.sum()), rel=1e-4)
