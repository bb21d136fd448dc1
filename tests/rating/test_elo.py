import numpy as np
import pytest

from tastemaker.rating import elo


def test_first_choice_between_new_images_moves_each_by_k_over_two():
    assert elo.choose([0.0, 0.0], 0) == pytest.approx([0.4, -0.4])


def test_expected_matches_the_seed_formula():
    # P(A>B) = 1/(1+10^-(rA-rB)): a 0.8 lead is 1/(1+10^-0.8) = 0.863193
    assert elo.expected(0.4, -0.4) == pytest.approx(0.863193, abs=1e-6)
    assert elo.expected(1.3, 1.3) == 0.5


def test_expected_win_moves_little_and_upset_moves_a_lot():
    # delta = 0.8 * (1 - 0.863193) = 0.109446 ; upset: 0.8 * (1 - 0.136807) = 0.690554
    assert elo.choose([0.4, -0.4], 0) == pytest.approx([0.509446, -0.509446], abs=1e-6)
    assert elo.choose([0.4, -0.4], 1) == pytest.approx([-0.290554, 0.290554], abs=1e-6)


def test_k_is_settable():
    assert elo.choose([0.0, 0.0], 1, k=2.0) == pytest.approx([-1.0, 1.0])


def test_three_images_chosen_one_wins_against_each_other_in_order():
    # vs position 0 first: 0.4 / -0.4; then 0.4 vs 0: P = 1/(1+10^-0.4) = 0.715253,
    # delta = 0.8 * 0.284747 = 0.227798
    assert elo.choose([0.0, 0.0, 0.0], 1) == pytest.approx([-0.4, 0.627798, -0.227798], abs=1e-6)


def test_prediction_matched_contradicted_unpredicted():
    assert elo.prediction([0.5, 0.1], 0) == elo.MATCHED
    assert elo.prediction([0.5, 0.1], 1) == elo.CONTRADICTED
    assert elo.prediction([0.2, 0.2], 0) == elo.UNPREDICTED
    assert elo.prediction([0.9, 0.1, 0.5], 0) == elo.MATCHED
    assert elo.prediction([0.5, 0.1, 0.9], 0) == elo.CONTRADICTED
    assert elo.prediction([0.9, 0.1, 0.9], 2) == elo.UNPREDICTED


def test_replay_reproduces_live_updates_bit_for_bit():
    rng = np.random.default_rng(0)
    live = rng.normal(size=20).tolist()
    initial = list(live)
    winners, losers = [], []
    for _ in range(500):
        shown = rng.choice(20, size=int(rng.integers(2, 5)), replace=False).tolist()
        pos = int(rng.integers(len(shown)))
        new = elo.choose([live[i] for i in shown], pos)
        for i, r in zip(shown, new, strict=True):
            live[i] = r
        for w, lo in elo.pairwise(shown, pos):
            winners.append(w)
            losers.append(lo)
    assert elo.replay(initial, winners, losers).tolist() == live


def test_replay_takes_one_k_per_outcome():
    assert elo.replay([0.0, 0.0], [0, 0], [1, 1], k=[0.8, 0.0]).tolist() == pytest.approx(
        [0.4, -0.4]
    )


@pytest.mark.parametrize("gap", [300.0, 308.3, 400.0, 1000.0, 1e300, 1.7e308])
def test_huge_rating_gaps_neither_overflow_nor_lose_their_sign(gap):
    for r_a, r_b in ((gap, 0.0), (0.0, gap), (1500.0 + gap, 1500.0), (-gap, gap)):
        p = elo.expected(r_a, r_b)
        assert 0.0 <= p <= 1.0
        assert (p > 0.5) == (r_a > r_b)
        assert np.isfinite(elo.choose([r_a, r_b], 1)).all()
    assert elo.replay([0.0, 1e308, -1e308], [2, 0], [1, 1]).tolist()[0] == 0.8


def test_the_stable_form_is_the_seed_formula_bit_for_bit_for_ordinary_gaps():
    gaps = [*np.random.default_rng(1).normal(scale=3.0, size=10_000).tolist(), -299.9, 299.9]
    for gap in gaps:
        assert elo.expected(gap, 0.0) == 1.0 / (1.0 + 10.0 ** -(gap - 0.0))


def test_replay_reproduces_live_updates_bit_for_bit_on_any_scale():
    rng = np.random.default_rng(2)
    for scale in (1.0, 400.0, 1e6, 1e300):
        live = (rng.normal(size=8) * scale).tolist()
        initial, winners, losers = list(live), [], []
        for _ in range(200):
            shown = rng.choice(8, size=int(rng.integers(2, 5)), replace=False).tolist()
            pos = int(rng.integers(len(shown)))
            for i, r in zip(shown, elo.choose([live[i] for i in shown], pos), strict=True):
                live[i] = r
            for w, lo in elo.pairwise(shown, pos):
                winners.append(w)
                losers.append(lo)
        assert np.isfinite(live).all()
        assert elo.replay(initial, winners, losers).tolist() == live
