"""Bradley–Terry ratings kept current while a person rates: refitted in a background
thread after each choice (warm-started: milliseconds to tens of milliseconds), so active
pair selection has fresh estimates and the page never waits for a fit. A fit that fails
is logged and the ratings stay as they were until the next change refits them."""

from __future__ import annotations

import logging
import threading

import numpy as np

from tastemaker.rating import bradley_terry
from tastemaker.workflows.ratings import ELO_TO_BT, Outcomes

log = logging.getLogger(__name__)


class LiveBradleyTerry:
    """Ratings and uncertainties of the images at positions ``0..n-1``."""

    def __init__(self, positions: dict[int, int], o: Outcomes) -> None:
        """``positions`` maps image ids to positions; other images' outcomes are left out."""
        self._positions = positions
        self._cond = threading.Condition()
        self._version = 0  # bumped by every change
        self._fitted = -1  # the version the current ratings reflect
        self._stopped = False
        self._prior = np.zeros(len(positions))
        for image_id, prior in zip(o.ids, o.priors, strict=True):
            if int(image_id) in positions:
                self._prior[positions[int(image_id)]] = prior * ELO_TO_BT
        self._winners: list[int] = []
        self._losers: list[int] = []
        self._weights: list[float] = []
        self.ratings = self._prior.copy()
        self.sd = np.full(len(positions), bradley_terry.PRIOR_SD)
        self.reset(o)
        threading.Thread(target=self._refit_forever, daemon=True).start()

    def reset(self, o: Outcomes) -> None:
        """Take all outcomes afresh (after an undo)."""
        where = np.array([self._positions.get(int(i), -1) for i in o.ids], np.int64)
        w, lo = where[o.winners], where[o.losers]
        keep = (w >= 0) & (lo >= 0)
        with self._cond:
            self._winners, self._losers = w[keep].tolist(), lo[keep].tolist()
            self._weights = o.weights[keep].tolist()
            self._changed()

    def add(self, outcomes: list[tuple[int, int]], weight: float = 1.0) -> None:
        """The pairwise outcomes (winner id, loser id) of one more choice."""
        with self._cond:
            for w, lo in outcomes:
                if w in self._positions and lo in self._positions:
                    self._winners.append(self._positions[w])
                    self._losers.append(self._positions[lo])
                    self._weights.append(weight)
            self._changed()

    def wait_until_current(self, timeout: float = 30.0) -> None:
        """Block until every change so far has been fitted, or its fit has failed (for
        tests and benchmarks)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._fitted >= self._version, timeout):
                raise TimeoutError("the Bradley-Terry refit did not catch up")

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def _changed(self) -> None:
        self._version += 1
        self._cond.notify_all()

    def _refit_forever(self) -> None:
        cold = False  # after a failure, start from the prior: the warm start may be the cause
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopped or self._fitted < self._version)
                if self._stopped:
                    return
                version = self._version
                winners = np.array(self._winners, np.int64)
                losers = np.array(self._losers, np.int64)
                weights = np.array(self._weights, np.float64)
            try:
                result = bradley_terry.fit(
                    len(self._prior),
                    winners,
                    losers,
                    weights=weights,
                    prior_mean=self._prior,
                    initial=None if cold else self.ratings,
                )
            except Exception as e:  # a dead thread would freeze the ratings for the session
                log.warning(
                    "The live Bradley-Terry refit failed (%s); the ratings stay as they were "
                    "until the next choice refits them.",
                    e,
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
                result, cold = None, True
            else:
                cold = False
            with self._cond:
                if result is not None:
                    self.ratings, self.sd = result.ratings, result.sd  # swapped whole
                self._fitted = version
                self._cond.notify_all()
