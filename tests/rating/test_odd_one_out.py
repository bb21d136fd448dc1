import pytest

from tastemaker.rating.elo import CONTRADICTED, MATCHED, UNPREDICTED
from tastemaker.rating.odd_one_out import advice, count, odd_one_out


@pytest.mark.parametrize(
    ("database", "model", "expected"),
    [
        (MATCHED, MATCHED, "all_agree"),
        (CONTRADICTED, MATCHED, "database"),  # model and person agree
        (MATCHED, CONTRADICTED, "model"),  # database and person agree
        (CONTRADICTED, CONTRADICTED, "human"),  # database and model agree
        (UNPREDICTED, MATCHED, "draw"),
        (MATCHED, UNPREDICTED, "draw"),
        (UNPREDICTED, CONTRADICTED, "draw"),
        (UNPREDICTED, UNPREDICTED, "draw"),
    ],
)
def test_every_branch(database, model, expected):
    assert odd_one_out(database, model) == expected


def test_counts_have_every_key_and_advice_follows_the_seed():
    counts = count(
        {(MATCHED, MATCHED): 1, (CONTRADICTED, CONTRADICTED): 2, (MATCHED, CONTRADICTED): 1}
    )
    assert counts == {"all_agree": 1, "database": 0, "model": 1, "human": 2, "draw": 0}
    assert "do more A/B" in advice(counts)
    assert "retrain" in advice({"human": 1, "model": 3})
    assert "equally" in advice(count({}))
