"""Rating in the browser: the rating page and the API it rates through (the next set, a
choice, an undo, the session's statistics, the end). They need a rating session; every
decision is the :class:`~tastemaker.workflows.rate.RateSession`'s, the routes translate.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from tastemaker.web.pages import page
from tastemaker.web.schemas import (
    ChoiceOut,
    ChooseIn,
    ImageOut,
    LibraryOut,
    Page,
    SessionOut,
    SetOut,
    StatsOut,
    UndoIn,
    UndoOut,
)
from tastemaker.workflows.rate import Choice, RateSession, ShownSet
from tastemaker.workflows.reports import Agreement, library_stats


def set_out(shown: ShownSet) -> SetOut:
    """A set as the page gets it: each image's URL carries its content's version."""
    return SetOut(
        pair=shown.token,
        images=[
            ImageOut(
                id=im.id,
                path=im.path,
                url=f"/api/image/{im.id}?v={im.hash[:12]}",
                width=im.width,
                height=im.height,
            )
            for im in shown.images
        ],
    )


def choice_out(choice: Choice) -> ChoiceOut:
    """A choice as the page gets it: the statistics it changed, and its batch's report."""
    batch = choice.batch
    return ChoiceOut.model_validate(
        {
            "choice": choice.id,
            "prediction": choice.prediction,
            "session": choice.session.to_dict(),
            "library": choice.library.to_dict(),
            "batch": None
            if batch is None
            else {
                "choices": batch.choices,
                "seconds": batch.ended_at - batch.started_at,
                **Agreement.of(batch).to_dict(),
                "odd_one_out": batch.odd_one_out,
            },
        }
    )


def router(session: RateSession, on_end: Callable[[], None] | None = None) -> APIRouter:
    """The rating page and its API over ``session``; ``on_end`` runs when the person quits."""
    api = APIRouter()

    @api.get("/api/next", summary="The next set of images to compare")
    def next_set(page: Page = "") -> SetOut:
        return set_out(session.next_set(page))

    @api.post("/api/choose", summary="Record a choice (committed on return)")
    def choose(body: ChooseIn, page: Page = "") -> ChoiceOut:
        return choice_out(session.choose(body.pair, body.winner, body.ms, page))

    @api.post("/api/undo", summary="Withdraw a choice; its set comes back")
    def undo(body: UndoIn | None = None, page: Page = "") -> UndoOut:
        withdrawn, again = session.undo(body.choice if body else None, page)
        return UndoOut(
            withdrawn=withdrawn,
            set=set_out(again),
            session=SessionOut.model_validate(session.session_stats().to_dict()),
            library=LibraryOut.model_validate(session.quick_stats().to_dict()),
        )

    @api.get("/api/stats", summary="Session and library statistics")
    def stats() -> StatsOut:
        return StatsOut.model_validate(
            {
                "session": session.session_stats().to_dict(),
                "library": library_stats(session.library).to_dict(),
                "settings": {
                    "choices": session.settings.choices,
                    "batch": session.settings.batch,
                    "model": bool(session.model_scores),
                    "profile": session.library.profile,
                },
                "ended": session.ended,
            }
        )

    @api.post(
        "/api/end",
        summary="End rating (the statistics and gallery are still served, until Ctrl-C)",
    )
    def end() -> StatsOut:
        if session.end() and on_end:
            on_end()
        return stats()

    @api.get("/", include_in_schema=False)
    def rating_page() -> HTMLResponse:
        return page("index", session.library)

    return api
