"""The web app: the rating page over a rating session, the statistics page and the
gallery over a library, and the JSON API they use (see ``/docs`` for its OpenAPI page).

Every request passes the :class:`~tastemaker.web.guard.Guard` first; every error, a
library's refusal included, has one shape (:class:`~tastemaker.web.schemas.ErrorOut`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from tastemaker import __version__
from tastemaker.errors import StoreUnavailable, TastemakerError
from tastemaker.storage.library import Library
from tastemaker.web import rate_routes, view_routes
from tastemaker.web.guard import Door, Guard, error_response
from tastemaker.web.pages import STATIC, page
from tastemaker.web.schemas import ErrorOut
from tastemaker.workflows.rate import (
    NothingToUndo,
    NotInSet,
    RateSession,
    RatingEnded,
    StaleSet,
)
from tastemaker.workflows.reports import NeedsModel

# the status of each refusal; any other TastemakerError is a 400
STATUS: dict[type[TastemakerError], int] = {
    StaleSet: 409,
    NothingToUndo: 409,
    RatingEnded: 410,
    NotInSet: 422,
    NeedsModel: 422,
    StoreUnavailable: 503,
}
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 403, 404, 409, 410, 413, 415, 422, 503)
}


def status_of(error: TastemakerError) -> int:
    """The HTTP status of a library's refusal: its class's, or its nearest base's."""
    return next((STATUS[c] for c in type(error).__mro__ if c in STATUS), 400)


def create_app(
    served: RateSession | Library,
    on_end: Callable[[], None] | None = None,
    door: Door | None = None,
) -> ASGIApp:
    """The pages and their API behind ``door`` (default: this machine only, no token):
    over a rating session, rating, statistics and gallery; over a library, the last two
    alone. ``on_end`` runs when the person ends rating (the other pages are still served)."""
    session = served if isinstance(served, RateSession) else None
    library = served.library if isinstance(served, RateSession) else served
    app = FastAPI(
        title="tastemaker",
        version=__version__,
        description="A/B-rate a library of images. Every choice is committed before the "
        "answer is sent. POST bodies are JSON; errors are `{ok: false, error, status}`.",
        docs_url=None,  # served from the package below: nothing from a CDN
        redoc_url=None,
        responses=ERRORS,
    )

    @app.exception_handler(TastemakerError)
    async def _refused(request: Request, exc: TastemakerError) -> Response:
        return error_response(status_of(exc), str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _error_shape(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(exc.status_code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return error_response(422, problems)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # still logged with its traceback on the server's console
        return error_response(
            500, f"Unexpected error in the server ({type(exc).__name__}); see its output."
        )

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return page("docs")

    if session:
        app.include_router(rate_routes.router(session, on_end))
    else:

        @app.get("/", include_in_schema=False)
        def home() -> RedirectResponse:
            return RedirectResponse("/stats")

    model_scores = session.model_scores if session else {}
    uncertainties = session.model_uncertainties if session else {}
    app.include_router(view_routes.router(library, model_scores, uncertainties))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/docs-assets", StaticFiles(packages=[("fastapi_offline", "static")]))
    return Guard(app, door or Door())
