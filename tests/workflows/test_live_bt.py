import logging

import numpy as np

from tastemaker.rating import bradley_terry
from tastemaker.workflows import live_bt
from tastemaker.workflows.ratings import Outcomes


def no_outcomes(n: int) -> Outcomes:
    empty = np.zeros(0, np.int64)
    return Outcomes(
        ids=np.arange(n, dtype=np.int64),
        winners=empty,
        losers=empty,
        k=np.zeros(0),
        weights=np.zeros(0),
        counts=np.zeros(n, np.int64),
        priors=np.zeros(n),
    )


def test_a_failed_refit_is_logged_and_the_next_choice_refits(monkeypatch, caplog):
    calls, fit = [], bradley_terry.fit

    def fails_once(*args, **kwargs):
        calls.append(kwargs["initial"])
        if len(calls) == 2:
            raise bradley_terry.FitFailed("Bradley-Terry fit: line search failed at iteration 3")
        return fit(*args, **kwargs)

    monkeypatch.setattr(live_bt.bradley_terry, "fit", fails_once)
    bt = live_bt.LiveBradleyTerry({10: 0, 11: 1, 12: 2}, no_outcomes(3))
    try:
        bt.wait_until_current()
        with caplog.at_level(logging.WARNING, logger=live_bt.__name__):
            bt.add([(10, 11)])
            bt.wait_until_current()
        assert "refit failed (Bradley-Terry fit: line search failed" in caplog.text
        assert np.array_equal(bt.ratings, np.zeros(3))  # as they were
        bt.add([(10, 12)])
        bt.wait_until_current()
        assert len(calls) == 3 and calls[2] is None  # retried, from the prior
        assert bt.ratings[0] > 0 > bt.ratings[1] and bt.ratings[0] > bt.ratings[2]
    finally:
        bt.close()
