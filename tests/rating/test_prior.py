import numpy as np
import pytest

from tastemaker.rating.prior import SD_WITHOUT_DATA, prior_scores


def test_the_seeds_rule_on_hand_computed_numbers():
    # model scores 1, 2, 3, 6: mean 3, shifted -2, -1, 0, 3
    model = np.array([1.0, 2.0, 3.0, 6.0])
    compared = np.array([True, True, False, False])
    database = np.array([0.5, -0.5, 0.0, 0.0])  # the compared ones' sd is 0.5
    new = prior_scores(model, compared, database)
    squashed = np.tanh([0.0, 3.0])  # 0, 0.995055
    expected = squashed * 0.5 / np.std(squashed)  # scaled to sd 0.5
    assert new == pytest.approx(expected)
    assert new == pytest.approx([0.0, 1.0])


def test_with_nothing_compared_the_spread_is_half():
    new = prior_scores(np.array([0.0, 1.0, 5.0]), np.zeros(3, bool), np.zeros(3))
    assert np.std(new) == pytest.approx(SD_WITHOUT_DATA)
    assert np.argsort(new).tolist() == [0, 1, 2]  # the model's order is kept


def test_one_new_image_is_only_squashed():
    new = prior_scores(np.array([0.0, 2.0]), np.array([True, False]), np.array([0.3, 0.0]))
    assert new == pytest.approx([np.tanh(1.0)])
