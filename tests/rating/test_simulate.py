import numpy as np
import pytest

from tastemaker.rating import simulate
from tastemaker.rating.simulate import Person


@pytest.mark.parametrize("target", [0.6, 0.75, 0.9])
def test_scale_for_consistency_solves_the_quadrature(target):
    s = simulate.scale_for_consistency(target)
    assert simulate.consistency_for_scale(s) == pytest.approx(target, abs=1e-9)


def test_the_quadrature_matches_monte_carlo():
    # E[sigmoid(s |d|)], d ~ N(0, 2): 400,000 draws have a standard error below 0.0003
    d = np.sqrt(2.0) * np.random.default_rng(0).standard_normal(400_000)
    for s in (0.3, 1.18, 4.0):
        mc = simulate.sigmoid(s * np.abs(d)).mean()
        assert simulate.consistency_for_scale(s) == pytest.approx(mc, abs=0.0015)


def test_consistency_rises_with_scale_and_bad_targets_are_refused():
    shares = [simulate.consistency_for_scale(s) for s in (0.0, 0.5, 1.0, 2.0, 8.0)]
    assert shares[0] == pytest.approx(0.5)
    assert np.all(np.diff(shares) > 0)
    assert simulate.scale_for_consistency(0.5) == 0.0
    for bad in (0.4, 1.0, 1.2):
        with pytest.raises(ValueError):
            simulate.scale_for_consistency(bad)


@pytest.mark.parametrize("target", [0.6, 0.75, 0.9])
def test_the_simulated_person_agrees_with_the_truth_on_the_target_share(target):
    rng = np.random.default_rng(int(target * 100))
    person = Person.random(100_000, rng, consistency=target)
    a = rng.integers(0, 100_000, 200_000)
    b = (a + rng.integers(1, 100_000, 200_000)) % 100_000
    chosen = person.choose_many(a, b)
    u = person.utilities
    agree = np.mean(chosen == np.where(u[a] > u[b], a, b))
    assert agree == pytest.approx(target, abs=0.02)


def test_choose_follows_prefers_probability():
    rng = np.random.default_rng(1)
    person = Person(np.array([0.0, 1.0, -0.5]), 1.5, rng)
    p = float(person.prefers_probability(1, 0))
    assert p == pytest.approx(1 / (1 + np.exp(-1.5)))
    assert float(person.prefers_probability(0, 1)) == pytest.approx(1 - p)
    wins = np.mean([person.choose(1, 0) == 1 for _ in range(20_000)])
    assert wins == pytest.approx(p, abs=0.01)  # standard error 0.003
    assert set(person.choose_many([0, 2] * 50, [1, 1] * 50).tolist()) <= {0, 1, 2}


def test_choose_from_three_is_the_multinomial_logit():
    rng = np.random.default_rng(2)
    u = np.array([0.0, 1.0, 2.0, -1.0])
    person = Person(u, 1.0, rng)
    shown = [3, 0, 2]
    picks = np.bincount([person.choose_from(shown) for _ in range(30_000)], minlength=3)
    expected = np.exp(u[shown]) / np.exp(u[shown]).sum()
    assert picks / picks.sum() == pytest.approx(expected, abs=0.012)  # 4 standard errors


def test_same_seed_same_choices():
    def run(seed):
        person = Person.random(50, np.random.default_rng(seed))
        return person.choose_many(np.arange(25), np.arange(25, 50)).tolist()

    assert run(5) == run(5)
    assert run(5) != run(6)
