import numpy as np
import pytest

from tastemaker.training.calibration import calibrate, fit_scale
from tastemaker.training.data import TrainingData


@pytest.mark.parametrize("true_scale", [0.7, 1.5, 3.0])
def test_fit_scale_recovers_a_known_scale(true_scale):
    rng = np.random.default_rng(0)
    d = rng.normal(size=20_000)
    a_wins = rng.random(d.size) < 1 / (1 + np.exp(-true_scale * d))
    differences = np.where(a_wins, d, -d)  # winner minus loser
    assert fit_scale(differences) == pytest.approx(true_scale, rel=0.05)


def test_a_perfectly_separated_set_stays_finite():
    assert np.isfinite(fit_scale(np.array([1.0, 2.0, 0.5])))


def test_calibrate_uses_held_out_outcomes_or_none():
    rng = np.random.default_rng(1)
    n = 200
    scores = rng.normal(size=n)
    a, b = rng.integers(0, n, 3000), rng.integers(0, n, 3000)
    keep = a != b
    a, b = a[keep], b[keep]
    a_wins = rng.random(a.size) < 1 / (1 + np.exp(-2.0 * (scores[a] - scores[b])))
    data = TrainingData(
        x=np.zeros((n, 2)),
        scores=scores,
        winners=np.where(a_wins, a, b),
        losers=np.where(a_wins, b, a),
        heldout=np.arange(n) % 2 == 0,
    )
    assert calibrate(scores, data) == pytest.approx(2.0, rel=0.15)
    few = TrainingData(x=np.zeros((3, 2)), scores=np.zeros(3), winners=[0], losers=[1])
    assert calibrate(np.zeros(3), few) is None
