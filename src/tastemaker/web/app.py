"""The JSON API the rating page uses (and scripts may): see ``/docs`` for its OpenAPI page.

Routes only translate: every decision is the :class:`~tastemaker.workflows.rate.RateSession`'s.
Images are served by id only, so no path in a request can reach a file. Every request
passes the :class:`~tastemaker.web.guard.Guard` first; every error has one shape.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from tastemaker import __version__
from tastemaker.errors import StoreUnavailable, TastemakerError
from tastemaker.storage.image_cache import display_file
from tastemaker.web import view_routes as views
from tastemaker.web.guard import PAGE_HEADER, Door, Guard, error_response
from tastemaker.workflows.rate import (
    Choice,
    NothingToUndo,
    NotInSet,
    RateSession,
    ShownSet,
    StaleSet,
)
from tastemaker.workflows.reports import library_stats

STATIC = Path(__file__).parent / "static"

Page = Annotated[
    str,
    Header(
        alias=PAGE_HEADER,
        max_length=64,
        description="The tab's own random id: its sets are its own (none: one shared set)",
    ),
]


class ImageOut(BaseModel):
    id: str
    path: str = Field(description="Path relative to the library folder")
    url: str
    width: int | None
    height: int | None


class SetOut(BaseModel):
    pair: str = Field(description="One-use token naming this set; send it back with the choice")
    images: list[ImageOut]


class ChooseIn(BaseModel):
    pair: str
    winner: str = Field(description="The id of the chosen image")
    ms: int | None = Field(None, ge=0, le=views.MAX_ID, description="Response time in milliseconds")


class UndoIn(BaseModel):
    choice: int | None = Field(
        None,
        ge=-views.MAX_ID - 1,
        le=views.MAX_ID,
        description="Choice to withdraw; this session's last if none",
    )


class ErrorOut(BaseModel):
    ok: bool = False
    error: str
    status: int


def _set_out(shown: ShownSet) -> SetOut:
    return SetOut(
        pair=shown.token,
        images=[
            ImageOut(
                id=str(im.id),
                path=im.path,
                url=f"/api/image/{im.id}?v={im.hash[:12]}",
                width=im.width,
                height=im.height,
            )
            for im in shown.images
        ],
    )


def _choice_out(choice: Choice) -> dict[str, object]:
    batch = choice.batch
    return {
        "choice": choice.id,
        "prediction": choice.prediction,
        "session": choice.session.to_dict(),
        "library": choice.library.to_dict(),
        "batch": None
        if batch is None
        else {
            "choices": batch.choices,
            "seconds": batch.ended_at - batch.started_at,
            "matched": batch.matched,
            "contradicted": batch.contradicted,
            "unpredicted": batch.unpredicted,
            "odd_one_out": batch.odd_one_out,
        },
    }


def create_app(
    session: RateSession, on_end: Callable[[], None] | None = None, door: Door | None = None
) -> ASGIApp:
    """The rating page and its API over ``session``, behind ``door`` (default: this machine
    only, no token); ``on_end`` runs when the person quits."""
    app = FastAPI(
        title="tastemaker",
        version=__version__,
        description="A/B-rate a library of images. Every choice is committed before the "
        "answer is sent. POST bodies are JSON; errors are `{ok: false, error, status}`.",
        docs_url=None,  # served from the package below: nothing from a CDN
        redoc_url=None,
    )
    errors = {code: {"model": ErrorOut} for code in (400, 409, 422, 503)}

    @app.exception_handler(StarletteHTTPException)
    async def _error_shape(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(exc.status_code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return error_response(422, problems)

    @app.exception_handler(TastemakerError)
    async def _refused(request: Request, exc: TastemakerError) -> Response:
        return error_response(503 if isinstance(exc, StoreUnavailable) else 400, str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # still logged with its traceback on the server's console
        return error_response(
            500, f"Unexpected error in the server ({type(exc).__name__}); see its output."
        )

    def _fail(status: int, e: Exception) -> HTTPException:
        return HTTPException(status, str(e))

    @app.get("/api/next", response_model=SetOut, summary="The next set of images to compare")
    def next_set(page: Page = "") -> SetOut:
        return _set_out(session.next_set(page))

    @app.post("/api/choose", responses=errors, summary="Record a choice (committed on return)")
    def choose(body: ChooseIn, page: Page = "") -> dict[str, object]:
        try:
            winner = int(body.winner)
        except ValueError:
            raise _fail(422, NotInSet(f"{body.winner!r} is not an image id.")) from None
        try:
            return _choice_out(session.choose(body.pair, winner, body.ms, page))
        except StaleSet as e:
            raise _fail(409, e) from None
        except NotInSet as e:
            raise _fail(422, e) from None

    @app.post("/api/undo", responses=errors, summary="Withdraw a choice; its set comes back")
    def undo(body: UndoIn | None = None, page: Page = "") -> dict[str, object]:
        try:
            withdrawn, again = session.undo(body.choice if body else None, page)
        except NothingToUndo as e:
            raise _fail(409, e) from None
        return {
            "withdrawn": withdrawn,
            "set": _set_out(again).model_dump(),
            "session": session.session_stats().to_dict(),
            "library": session.quick_stats().to_dict(),
        }

    @app.get("/api/stats", summary="Session and library statistics")
    def stats() -> dict[str, object]:
        return {
            "session": session.session_stats().to_dict(),
            "library": library_stats(session.library).to_dict(),
            "settings": {"choices": session.settings.choices, "batch": session.settings.batch},
        }

    @app.post("/api/end", summary="End the rating session (the server stops)")
    def end() -> dict[str, object]:
        result = stats()
        if on_end:
            on_end()
        return result

    @app.get("/api/image/{image_id}", summary="An image, by id, downscaled if large")
    def image(image_id: views.Id) -> FileResponse:
        return views.image_response(session.library, image_id, display_file)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", headers={"Cache-Control": "no-cache"})

    app.include_router(views.router(session))  # /stats, /gallery and their API
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/docs-assets", StaticFiles(packages=[("fastapi_offline", "static")]))
    return Guard(app, door or Door())
