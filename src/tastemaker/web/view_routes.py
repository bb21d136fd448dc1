"""Seeing progress in the browser: the statistics page (``/stats``), the gallery
(``/gallery``), the images by id and the JSON they draw from. They need a library, not a
rating session. Routes only translate; the numbers come from
:mod:`tastemaker.workflows.reports`. Images and thumbnails are served by id only, so no
path in a request can reach a file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse

from tastemaker.errors import TastemakerError
from tastemaker.storage.image_cache import display_file, thumbnail_file
from tastemaker.storage.library import Library
from tastemaker.storage.store import ImageRecord
from tastemaker.web.pages import page
from tastemaker.web.schemas import MAX_ID, GalleryOut, Id, ProfilesOut, ProgressOut
from tastemaker.workflows.compare import profile_scores
from tastemaker.workflows.reports import GALLERY_LIMIT, GalleryPages, gallery, progress_data


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


def router(
    library: Library,
    model_scores: Mapping[int, float],
    model_uncertainties: Mapping[int, float],
) -> APIRouter:
    """The statistics and gallery pages and their API over ``library``, with the model in
    the loop's ``model_scores`` and ``model_uncertainties`` (each empty without one)."""
    api = APIRouter()
    pages = GalleryPages(library.store, model_scores, model_uncertainties)

    @api.get("/api/progress", summary="Agreement and convergence per batch, distributions")
    def progress() -> ProgressOut:
        return ProgressOut.model_validate(progress_data(library.store, model_scores).to_dict())

    @api.get("/api/gallery", summary="Present images sorted by score, a page at a time")
    def gallery_page(
        sort: Annotated[
            Literal["database", "model", "disagreement"],
            Query(description="database (Elo), model, or where the two disagree most"),
        ] = "database",
        order: Annotated[Literal["desc", "asc"], Query(description="desc: best first")] = "desc",
        folder: Annotated[str, Query(description="Only this folder and its sub-folders")] = "",
        versus: Annotated[
            str,
            Query(
                max_length=32,
                description="Another profile: its database scores stand where the model's "
                "would (sort=model sorts by them, disagreement sets them against this one's)",
            ),
        ] = "",
        offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
        limit: Annotated[int, Query(ge=1, le=GALLERY_LIMIT)] = 100,
    ) -> GalleryOut:
        if versus:  # another profile's scores: read afresh, as they change with its choices
            against = profile_scores(library, versus)
            found = gallery(library.store, against, sort, order == "desc", folder, offset, limit)
        else:
            found = pages.page(sort, order == "desc", folder, offset, limit)
        images = [  # each URL carries its image's version, so it can be cached for long
            {
                **asdict(im),
                "thumb": f"/api/thumb/{im.id}?v={im.hash[:12]}",
                "url": f"/api/image/{im.id}?v={im.hash[:12]}",
            }
            for im in found.images
        ]
        return GalleryOut.model_validate({**found.to_dict(), "images": images})

    @api.get("/api/profiles", summary="The profile shown, and every profile of the library")
    def profiles() -> ProfilesOut:
        return ProfilesOut(profile=library.profile, profiles=library.store.profiles())

    @api.get("/api/image/{image_id}", summary="An image, by id, downscaled if large")
    def image(image_id: Id) -> FileResponse:
        return image_response(library, image_id, display_file)

    @api.get("/api/thumb/{image_id}", summary="A small thumbnail of an image, by id")
    def thumb(image_id: Id) -> FileResponse:
        return image_response(library, image_id, thumbnail_file)

    @api.get("/stats", include_in_schema=False)
    def stats_page() -> HTMLResponse:
        return page("stats", library)

    @api.get("/gallery", include_in_schema=False)
    def gallery_view() -> HTMLResponse:
        return page("gallery", library)

    return api
