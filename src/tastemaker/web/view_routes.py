"""Seeing progress in the browser: the statistics page (``/stats``), the gallery
(``/gallery``) and the JSON they draw from. Routes only translate; the numbers come from
:mod:`tastemaker.workflows.reports`. Thumbnails, like images, are served by id only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from tastemaker.errors import TastemakerError
from tastemaker.storage.image_cache import thumbnail_file
from tastemaker.storage.library import Library
from tastemaker.storage.store import ImageRecord
from tastemaker.workflows.rate import RateSession
from tastemaker.workflows.reports import GALLERY_LIMIT, gallery, progress_data

STATIC = Path(__file__).parent / "static"
MAX_ID = 2**63 - 1  # SQLite's integers: a larger id would be a 500, not a 404

Id = Annotated[int, PathParam(ge=-MAX_ID - 1, le=MAX_ID)]


def image_response(
    library: Library, image_id: int, fitted: Callable[[Library, ImageRecord], Path]
) -> FileResponse:
    """A present image of the library, by id only, as ``fitted`` sizes it (long cached:
    the URL carries the content)."""
    record = library.store.image(image_id)
    if record is None or record.status != "present":
        raise HTTPException(404, f"No image with id {image_id} in this library.")
    try:
        path = fitted(library, record)
    except (TastemakerError, OSError) as e:
        detail = f"Image {image_id} ({record.path}) cannot be shown: {e}"
        raise HTTPException(404, detail) from None
    return FileResponse(path, headers={"Cache-Control": "private, max-age=31536000"})


def router(session: RateSession) -> APIRouter:
    """The statistics and gallery pages and their API, over ``session``'s library."""
    api = APIRouter()
    library = session.library

    @api.get("/api/progress", summary="Agreement and convergence per batch, distributions")
    def progress() -> dict[str, object]:
        return progress_data(library.store, session.model_scores).to_dict()

    @api.get("/api/gallery", summary="Present images sorted by score, a page at a time")
    def gallery_page(
        sort: Annotated[
            Literal["database", "model", "disagreement"],
            Query(description="database (Elo), model, or where the two disagree most"),
        ] = "database",
        order: Annotated[Literal["desc", "asc"], Query(description="desc: best first")] = "desc",
        folder: Annotated[str, Query(description="Only this folder and its sub-folders")] = "",
        offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
        limit: Annotated[int, Query(ge=1, le=GALLERY_LIMIT)] = 100,
    ) -> dict[str, object]:
        try:
            page = gallery(
                library.store, session.model_scores, sort, order == "desc", folder, offset, limit
            )
        except TastemakerError as e:
            raise HTTPException(422, str(e)) from None
        body = page.to_dict()
        for im in body["images"]:
            version = im.pop("hash")[:12]
            im["thumb"] = f"/api/thumb/{im['id']}?v={version}"
            im["url"] = f"/api/image/{im['id']}?v={version}"
        return body

    @api.get("/api/thumb/{image_id}", summary="A small thumbnail of an image, by id")
    def thumb(image_id: Id) -> FileResponse:
        return image_response(library, image_id, thumbnail_file)

    @api.get("/stats", include_in_schema=False)
    def stats_page() -> FileResponse:
        return FileResponse(STATIC / "stats.html", headers={"Cache-Control": "no-cache"})

    @api.get("/gallery", include_in_schema=False)
    def gallery_view() -> FileResponse:
        return FileResponse(STATIC / "gallery.html", headers={"Cache-Control": "no-cache"})

    return api
