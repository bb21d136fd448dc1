import numpy as np
import pytest

from tastemaker.rating import pairing


def draws(ratings, sd, counts, k, n_draws, seed, **options):
    rng = np.random.default_rng(seed)
    return np.array(
        [pairing.pick_active(ratings, sd, counts, k, rng, **options) for _ in range(n_draws)]
    )


@pytest.mark.parametrize("k", [2, 3, 4])
def test_a_set_holds_distinct_images(k):
    rng = np.random.default_rng(0)
    ratings = rng.normal(size=12)
    for n in (k, 12):
        sets = draws(ratings[:n], np.full(n, 0.5), np.arange(n) % 3, k, 300, k)
        assert sets.shape == (300, k)
        assert all(len(set(s.tolist())) == k for s in sets)
        assert sets.min() >= 0 and sets.max() < n


def test_never_seen_images_come_first():
    counts = np.array([3, 0, 5, 0, 2, 0, 9, 4])
    ratings = np.linspace(-1, 1, 8)
    sets = draws(ratings, np.full(8, 0.4), counts, 2, 600, 1)
    assert set(sets[:, 0].tolist()) == {1, 3, 5}  # each unseen image gets its turn
    one = draws(ratings, np.full(8, 0.4), np.r_[0, np.full(7, 4)], 3, 100, 2)
    assert np.all(one[:, 0] == 0)


def test_extra_log_weights_favour_their_images_first_and_as_partners():
    extra = np.r_[2.0, np.zeros(19)]  # image 0 weighted e^2 (7.4 times) more, as controversy
    ratings, sd = np.zeros(20), np.full(20, 0.5)
    for counts, position in ((np.zeros(20), 0), (np.r_[4, 0, np.full(18, 4)], 1)):
        plain = draws(ratings, sd, counts, 2, 2000, 14)
        favoured = draws(ratings, sd, counts, 2, 2000, 14, extra_log_w=extra)
        before, after = np.mean(plain[:, position] == 0), np.mean(favoured[:, position] == 0)
        assert before < 0.08 and after > 0.2  # 1/20 or 1/19 without; 0.28 or 0.29 with
    assert np.all(favoured[:, 0] == 1)  # the never-seen image still comes first


def test_partners_are_close_in_rating():
    # 101 images spread over [-3, 3], equally certain and equally seen
    ratings = np.linspace(-3, 3, 101)
    sets = draws(ratings, np.full(101, 0.3), np.full(101, 4), 2, 3000, 3)
    gap = np.abs(ratings[sets[:, 0]] - ratings[sets[:, 1]]).mean()
    rng = np.random.default_rng(4)
    a, b = rng.integers(0, 101, (2, 3000))
    random_gap = np.abs(ratings[a] - ratings[b]).mean()  # about 2
    assert gap < 0.4 * random_gap  # measured 0.31


def test_partners_are_the_uncertain_ones():
    # equal ratings; half the images known to +-0.2, half only to +-1.0
    sd = np.r_[np.full(50, 0.2), np.full(50, 1.0)]
    sets = draws(np.zeros(100), sd, np.full(100, 4), 2, 2000, 5)
    share_uncertain = np.mean(sets[:, 1] >= 50)
    assert share_uncertain > 0.9  # without the preference: 0.5, standard error 0.011


def test_less_seen_partners_are_still_favoured():
    counts = np.r_[np.full(20, 1), np.full(20, 8)]
    sets = draws(np.zeros(40), np.full(40, 0.5), counts, 2, 3000, 6)
    shown = np.bincount(sets.ravel(), minlength=40)
    assert shown[:20].sum() > 4 * shown[20:].sum()


def test_three_and_four_image_sets_are_close_too():
    ratings = np.linspace(-3, 3, 101)
    for k in (3, 4):
        sets = draws(ratings, np.full(101, 0.3), np.full(101, 4), k, 1000, 7 + k)
        spread = np.ptp(ratings[sets], axis=1).mean()
        assert spread < 1.5  # random sets of 3-4 among 101 span about 3-3.6


def test_sets_vary_rather_than_repeat():
    ratings = np.random.default_rng(8).normal(size=200)
    sets = draws(ratings, np.full(200, 0.5), np.full(200, 3), 2, 500, 9)
    distinct = {tuple(sorted(s)) for s in sets.tolist()}
    assert len(distinct) > 400


def test_same_seed_same_sets():
    ratings = np.random.default_rng(10).normal(size=50)
    a = draws(ratings, np.full(50, 0.5), np.arange(50) % 4, 3, 20, 11)
    b = draws(ratings, np.full(50, 0.5), np.arange(50) % 4, 3, 20, 11)
    assert a.tolist() == b.tolist()


def test_expected_information_peaks_for_close_uncertain_pairs():
    ratings = np.array([0.0, 0.5, 2.0, 50.0, 1e4])
    info = pairing.log_expected_information(0.0, 0.5, ratings, np.full(5, 0.5))
    assert np.all(np.diff(info) < 0)
    assert np.all(np.isfinite(info))  # far gaps are tiny, not -inf
    # p (1 - p) v at d = 0 is v / 4
    assert np.exp(info[0]) == pytest.approx(0.5 / 4)
    wider = pairing.log_expected_information(0.0, 0.5, ratings[:3], np.full(3, 1.0))
    assert np.all(wider > info[:3])


def test_works_at_a_hundred_thousand_images():
    rng = np.random.default_rng(12)
    n = 100_000
    picked = pairing.pick_active(
        rng.normal(size=n), rng.uniform(0.2, 2.0, n), rng.integers(0, 9, n), 4, rng
    )
    assert len(set(picked.tolist())) == 4


def test_bad_input_is_refused():
    rng = np.random.default_rng(13)
    with pytest.raises(ValueError, match="need at least 3"):
        pairing.pick_active(np.zeros(2), np.ones(2), np.zeros(2), 3, rng)
    with pytest.raises(ValueError, match="sd"):
        pairing.pick_active(np.zeros(3), np.array([1.0, 0.0, 1.0]), np.zeros(3), 2, rng)
    with pytest.raises(ValueError, match="one entry per image"):
        pairing.pick_active(np.zeros(3), np.ones(2), np.zeros(3), 2, rng)
    with pytest.raises(ValueError, match="extra_log_w must be finite, one entry per image"):
        pairing.pick_active(np.zeros(3), np.ones(3), np.zeros(3), 2, rng, extra_log_w=np.zeros(2))
    with pytest.raises(ValueError, match="extra_log_w must be finite"):
        pairing.pick_active(
            np.zeros(3), np.ones(3), np.zeros(3), 2, rng, extra_log_w=np.r_[0.0, np.nan, 0.0]
        )
    with pytest.raises(ValueError, match="temperature"):
        pairing.pick_active(np.zeros(3), np.ones(3), np.zeros(3), 2, rng, temperature=0.0)
