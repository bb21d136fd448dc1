import numpy as np
import pytest

from tastemaker.rating import bradley_terry as bt
from tastemaker.rating.ranks import spearman
from tastemaker.rating.simulate import Person


def simulated(n, m, seed):
    """``m`` random pairs among ``n`` images, chosen by a 75%-consistent person."""
    rng = np.random.default_rng(seed)
    person = Person.random(n, rng)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    winners = person.choose_many(a, b)
    return person, winners, np.where(winners == a, b, a)


def gradient(n, win, lose, r, weights=None, mean=0.0, sd=bt.PRIOR_SD):
    w = np.ones(len(win)) if weights is None else np.asarray(weights)
    q = w * (1 - bt.win_probability(r[win], r[lose]))
    return np.bincount(win, q, n) - np.bincount(lose, q, n) - (r - mean) / sd**2


def test_two_items_reach_the_log_odds_of_their_record():
    # with a negligible prior, r0 - r1 = log(wins / losses) = log(3)
    res = bt.fit(2, [0, 0, 0, 1], [1, 1, 1, 0], prior_sd=1e4)
    assert res.ratings[0] - res.ratings[1] == pytest.approx(np.log(3), abs=1e-6)
    assert res.ratings.sum() == pytest.approx(0.0, abs=1e-6)  # the prior pins the shift
    assert bt.win_probability(res.ratings[0], res.ratings[1]) == pytest.approx(0.75)


def test_the_fit_is_the_posterior_mode():
    rng = np.random.default_rng(0)
    n, m = 40, 300
    win = rng.integers(0, n, m)
    lose = (win + rng.integers(1, n, m)) % n
    weights = rng.uniform(0.2, 2.0, m)
    mean = rng.normal(size=n)
    res = bt.fit(n, win, lose, weights=weights, prior_mean=mean, prior_sd=1.5, tol=1e-10)
    g = gradient(n, win, lose, res.ratings, weights, mean, 1.5)
    assert np.abs(g).max() < 1e-8


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recovers_known_strengths(seed):
    person, win, lose = simulated(200, 8000, seed)  # 80 comparisons per image
    res = bt.fit(200, win, lose)
    assert spearman(res.ratings, person.utilities) > 0.95
    # and on the right (natural-log) scale: slope of fitted on true s*u near 1
    slope = np.polyfit(person.scale * person.utilities, res.ratings, 1)[0]
    assert 0.85 < slope < 1.15


def test_sd_shrinks_with_more_data_and_untouched_items_keep_the_prior():
    _, win, lose = simulated(100, 4000, 4)
    few = bt.fit(101, win[:500], lose[:500])  # item 100 is never compared
    many = bt.fit(101, win, lose)
    assert np.all(many.sd[:100] < few.sd[:100])
    assert many.sd[:100].mean() < 0.5 * few.sd[:100].mean()
    assert few.sd[100] == pytest.approx(bt.PRIOR_SD)
    assert many.ratings[100] == 0.0


def test_diagonal_sd_is_the_hessian_diagonal_and_below_the_exact_marginal():
    _, win, lose = simulated(30, 300, 5)
    approx = bt.fit(30, win, lose)
    exact = bt.fit(30, win, lose, exact_sd=True)
    assert exact.ratings == pytest.approx(approx.ratings)
    assert np.all(exact.sd >= approx.sd - 1e-12)
    p = bt.win_probability(approx.ratings[win], approx.ratings[lose])
    info = np.bincount(win, p * (1 - p), 30) + np.bincount(lose, p * (1 - p), 30)
    assert approx.sd == pytest.approx(1 / np.sqrt(1 / bt.PRIOR_SD**2 + info))


def test_no_data_returns_the_prior():
    mean = np.array([0.5, -1.0, 2.0])
    res = bt.fit(3, [], [], prior_mean=mean, prior_sd=[0.5, 1.0, 2.0])
    assert res.ratings.tolist() == mean.tolist()
    assert res.sd.tolist() == [0.5, 1.0, 2.0]


def test_a_strong_prior_holds_and_a_weak_one_yields():
    win, lose = [0] * 10, [1] * 10
    strong = bt.fit(2, win, lose, prior_mean=[0.0, 1.0], prior_sd=0.01).ratings
    weak = bt.fit(2, win, lose, prior_mean=[0.0, 1.0], prior_sd=10.0).ratings
    assert strong == pytest.approx([0.0, 1.0], abs=0.01)
    assert weak[0] > weak[1]


def test_weights_scale_the_effect_of_comparisons():
    _, win, lose = simulated(20, 200, 6)
    doubled = bt.fit(20, np.r_[win, win[:50]], np.r_[lose, lose[:50]])
    weighted = bt.fit(20, win, lose, weights=np.r_[np.full(50, 2.0), np.ones(150)])
    assert weighted.ratings == pytest.approx(doubled.ratings, abs=1e-6)
    assert weighted.sd == pytest.approx(doubled.sd, abs=1e-6)
    dropped = bt.fit(20, win[50:], lose[50:])
    zeroed = bt.fit(20, win, lose, weights=np.r_[np.zeros(50), np.ones(150)])
    assert zeroed.ratings == pytest.approx(dropped.ratings, abs=1e-6)
    half = bt.fit(20, win, lose, weights=np.full(200, 0.5))
    full = bt.fit(20, win, lose)
    assert np.abs(half.ratings).sum() < np.abs(full.ratings).sum()


def test_warm_start_converges_to_the_same_answer_in_fewer_iterations():
    _, win, lose = simulated(500, 5000, 7)
    cold = bt.fit(500, win[:-1], lose[:-1])
    again = bt.fit(500, win, lose)
    warm = bt.fit(500, win, lose, initial=cold.ratings)
    wild = bt.fit(500, win, lose, initial=np.random.default_rng(0).normal(0, 3, 500))
    assert warm.ratings == pytest.approx(again.ratings, abs=1e-6)
    assert wild.ratings == pytest.approx(again.ratings, abs=1e-6)
    assert warm.iterations < again.iterations
    assert warm.iterations <= 3


def test_failure_to_converge_is_a_runtime_error_with_the_reason():
    _, win, lose = simulated(50, 500, 8)
    with pytest.raises(RuntimeError, match="did not converge after 1 iterations"):
        bt.fit(50, win, lose, max_iter=1)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"in 0\.\.2"):
        bt.fit(3, [0], [3])
    with pytest.raises(ValueError, match="itself"):
        bt.fit(3, [1], [1])
    with pytest.raises(ValueError, match="weights"):
        bt.fit(3, [0], [1], weights=[-1.0])
    with pytest.raises(ValueError, match="prior_sd"):
        bt.fit(3, [0], [1], prior_sd=0.0)
    with pytest.raises(ValueError, match="winners"):
        bt.fit(3, [0, 1], [1])


def test_large_problem_runs_vectorised():
    # 10,000 images, 50,000 comparisons (benchmarks measure the time; here: it converges)
    person, win, lose = simulated(10_000, 50_000, 9)
    res = bt.fit(10_000, win, lose)
    assert spearman(res.ratings, person.utilities) > 0.75
