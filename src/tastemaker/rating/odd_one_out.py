"""The classic model-in-the-loop statistic: when the person, the database and the model
do not all agree on a choice, which of the three was the odd one out?

Each of database and model has a prediction relative to the person's choice:
``MATCHED`` (it favoured the chosen image), ``CONTRADICTED`` or ``UNPREDICTED`` (a tie).
Advice, as the classic scorer gives it: the human odd one out more often than the model means the
database has not caught up with you yet (do more A/B); the model odd one out more often
means the model lags the database (retrain).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from tastemaker.rating.elo import MATCHED, UNPREDICTED

ALL_AGREE, DATABASE, MODEL, HUMAN, DRAW = "all_agree", "database", "model", "human", "draw"
KEYS = (ALL_AGREE, DATABASE, MODEL, HUMAN, DRAW)


def odd_one_out(database: int, model: int) -> str:
    """Who was the odd one out, given the database's and the model's prediction of the
    person's choice (``all_agree``, ``database``, ``model``, ``human`` or ``draw``)."""
    if UNPREDICTED in (database, model):
        return DRAW
    if database == MATCHED:
        return ALL_AGREE if model == MATCHED else MODEL
    return DATABASE if model == MATCHED else HUMAN


def count(pairs: Mapping[tuple[int, int], int]) -> dict[str, int]:
    """Counts of each outcome from how many choices had each (database, model)
    prediction; every key present."""
    counts: Counter[str] = Counter()
    for (database, model), n in pairs.items():
        counts[odd_one_out(database, model)] += n
    return {key: counts.get(key, 0) for key in KEYS}


def advice(counts: dict[str, int]) -> str:
    """The classic advice in plain words."""
    human, model = counts.get(HUMAN, 0), counts.get(MODEL, 0)
    if human > model:
        return "You are the odd one out more often than the model: do more A/B choosing."
    if model > human:
        return "The model is the odd one out more often than you: consider retraining."
    return "You and the model are the odd one out equally often."
