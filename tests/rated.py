"""Rate a test library through a real RateSession, as the page would: a person whose
taste is fixed (the lower ``taste`` wins), so the statistics have something to show."""

from __future__ import annotations

from collections.abc import Callable

from tastemaker.storage.library import Library
from tastemaker.workflows.rate import RateSession, RateSettings


def rate(
    library: Library,
    choices: int,
    batch: int,
    taste: Callable[[int], float] = lambda image_id: image_id,
    model_scores: dict[int, float] | None = None,
    seed: int = 0,
) -> RateSession:
    """Make ``choices`` choices (the image with the lowest ``taste`` wins) in batches of
    ``batch``; returns the session (still open)."""
    session = RateSession(
        library, RateSettings(batch=batch, repeats=0), seed=seed, model_scores=model_scores
    )
    for _ in range(choices):
        if session.bt is not None:
            session.bt.wait_until_current()  # the same sets every run: repeatable tests
        shown = session.next_set()
        winner = min(shown.images, key=lambda im: taste(im.id))
        session.choose(shown.token, winner.id, 400)
    return session
