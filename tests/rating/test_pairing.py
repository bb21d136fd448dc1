import numpy as np
import pytest

from tastemaker.rating import pairing


def test_seed_weights_are_0_7_to_the_power_of_comparisons():
    w = np.exp(pairing.log_weights(np.array([0, 1, 2, 10])))
    assert w == pytest.approx([1.0, 0.7, 0.49, 0.7**10])


def test_zero_lcw_is_uniform_and_bad_lcw_is_refused():
    assert np.all(pairing.log_weights(np.array([0, 5, 50]), lcw=0.0) == 0.0)
    with pytest.raises(ValueError):
        pairing.log_weights(np.array([1]), lcw=1.0)


def test_first_pick_frequency_follows_the_weights():
    rng = np.random.default_rng(1)
    counts = np.array([0, 0, 1, 2, 4, 8])
    log_w = pairing.log_weights(counts)
    p = np.exp(log_w) / np.exp(log_w).sum()
    n = 40_000
    first = np.bincount([pairing.pick(log_w, 2, rng)[0] for _ in range(n)], minlength=6) / n
    # binomial standard error is below 0.0025 for every entry here: 0.01 is four of them
    assert first == pytest.approx(p, abs=0.01)


def test_less_compared_images_are_shown_more():
    rng = np.random.default_rng(2)
    counts = np.array([0] * 10 + [6] * 10)
    shown = np.zeros(20)
    for _ in range(5000):
        shown[pairing.pick(pairing.log_weights(counts), 2, rng)] += 1
    assert shown[:10].sum() > 4 * shown[10:].sum()


def test_a_set_never_holds_the_same_image_twice():
    rng = np.random.default_rng(3)
    log_w = pairing.log_weights(np.array([0, 30, 30, 30]))
    for k in (2, 3, 4):
        for _ in range(500):
            assert len(set(pairing.pick(log_w, k, rng).tolist())) == k


def test_excluded_images_are_never_drawn_and_too_few_is_an_error():
    rng = np.random.default_rng(4)
    log_w = np.array([0.0, -np.inf, 0.0, -np.inf])
    for _ in range(200):
        assert set(pairing.pick(log_w, 2, rng).tolist()) == {0, 2}
    with pytest.raises(ValueError, match="need at least 3 images"):
        pairing.pick(log_w, 3, rng)


def test_same_seed_same_sets():
    log_w = pairing.log_weights(np.arange(100) % 7)
    a = [pairing.pick(log_w, 2, np.random.default_rng(9)).tolist() for _ in range(3)]
    b = [pairing.pick(log_w, 2, np.random.default_rng(9)).tolist() for _ in range(3)]
    assert a == b


def test_controversy_favours_images_the_model_and_database_disagree_on():
    database = np.array([0.0, 1.0, 2.0, 3.0])
    model = np.array([0.0, 1.0, 3.0, 2.0])  # disagrees on the last two
    extra = pairing.controversy_log_weights(model, database, cw=1.0)
    assert extra[0] == extra[1] == 0.0
    assert extra[2] == extra[3] > 0
    # (1 + cw)^|gap| with the gap in standard deviations
    gap = 1 / np.std(database)
    assert np.exp(extra[2]) == pytest.approx(2.0**gap)
    assert np.all(pairing.controversy_log_weights(model, database, cw=0.0) == 0.0)
    with_nan = pairing.controversy_log_weights(np.array([np.nan, 1.0, 3.0, 2.0]), database, 1.0)
    assert with_nan[0] == 0.0


def test_unsure_log_weights_favour_the_least_sure_and_ignore_the_unknown():
    u = np.array([0.1, 0.2, 0.4, np.nan, 0.0])
    log_w = pairing.unsure_log_weights(u, 2.0)
    assert log_w[1] == 0.0  # the median of the known ones
    assert log_w[2] == pytest.approx(2 * np.log(2)) and log_w[0] == pytest.approx(-2 * np.log(2))
    assert log_w[3] == log_w[4] == 0.0
    assert not pairing.unsure_log_weights(np.full(3, np.nan), 2.0).any()
