"""What every route takes and answers, typed, so ``/docs`` documents the whole API and
FastAPI checks every answer against it. Ids are integers (SQLite's, so at most 2^63 - 1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, get_type_hints

from fastapi import Header
from fastapi import Path as PathParam
from pydantic import BaseModel, Field, create_model

from tastemaker.rating.consistency import Consistency
from tastemaker.storage.store import Batch
from tastemaker.web.guard import PAGE_HEADER

MAX_ID = 2**63 - 1  # SQLite's integers: a larger id would be a 500, not a 404

Id = Annotated[int, PathParam(ge=-MAX_ID - 1, le=MAX_ID)]
Page = Annotated[
    str,
    Header(
        alias=PAGE_HEADER,
        max_length=64,
        description="The tab's own random id: its sets are its own (none: one shared set)",
    ),
]

Model = TypeVar("Model", bound=BaseModel)


def fields_of(record: type, **types: Any) -> Callable[[type[Model]], type[Model]]:
    """The decorated model with every field of the dataclass ``record`` it lacks, in the
    record's order (``types`` replaces a field's type, or adds its description): an answer
    that passes a record on cannot drift from it."""

    def build(model: type[Model]) -> type[Model]:
        hints = get_type_hints(record)
        missing: dict[str, Any] = {
            f.name: (types.get(f.name, hints[f.name]), ...)
            for f in dataclasses.fields(record)
            if f.name not in model.model_fields
        }
        return create_model(
            model.__name__,
            __base__=model,
            __module__=model.__module__,
            __doc__=model.__doc__,
            **missing,
        )

    return build


class ErrorOut(BaseModel):
    """Every error, whatever its status."""

    ok: bool = False
    error: str
    status: int


# -- rating ----------------------------------------------------------------------------


class ImageOut(BaseModel):
    id: int
    path: str = Field(description="Path relative to the library folder")
    url: str
    width: int | None
    height: int | None


class SetOut(BaseModel):
    pair: str = Field(description="One-use token naming this set; send it back with the choice")
    images: list[ImageOut]


class ChooseIn(BaseModel):
    pair: str
    winner: int = Field(ge=-MAX_ID - 1, le=MAX_ID, description="The id of the chosen image")
    ms: int | None = Field(None, ge=0, le=MAX_ID, description="Response time in milliseconds")


class UndoIn(BaseModel):
    choice: int | None = Field(
        None,
        ge=-MAX_ID - 1,
        le=MAX_ID,
        description="Choice to withdraw; this session's last if none",
    )


class AgreementOut(BaseModel):
    """How often the database's Elo foresaw the person's choice."""

    matched: int
    contradicted: int
    unpredicted: int = Field(description="Choices between images the database rated equal")
    agreement: float | None = Field(description="matched / (matched + contradicted)")


class OddOneOutOut(BaseModel):
    """Of the choices the model was asked about: who of person, database and model
    disagreed with the other two."""

    all_agree: int
    database: int
    model: int
    human: int
    draw: int


@fields_of(
    Consistency,
    low=Annotated[float, Field(description="95% interval of the rate")],
    ceiling=Annotated[float, Field(description="The most agreement to expect: the rate, or 75%")],
    ceiling_source=Annotated[str, Field(description="personal (measured) or generic")],
)
class ConsistencyOut(BaseModel):
    """How often the person chooses the same image again when a pair comes back."""


class SessionOut(AgreementOut):
    choices: int
    seconds: float
    per_minute: float
    odd_one_out: OddOneOutOut


class FavouriteOut(BaseModel):
    path: str
    score: float


class LibraryOut(AgreementOut):
    """The library statistics, read from the store or kept in step with it."""

    images: int = Field(description="Present images")
    missing: int
    unreadable: int
    choices: int = Field(description="Decisions on a set shown, withdrawn ones left out")
    choices_per_image: float = Field(description="choices / images")
    appearances: int = Field(description="Images shown in those choices: two per pair")
    appearances_per_image: float = Field(
        description="The present images' appearances / images: the mean of /stats' chart"
    )
    pairwise_outcomes: int = Field(
        description="The (winner, loser) pairs the choices imply: k - 1 for a set of k"
    )
    never_shown: int = Field(description="Present images in no choice")
    odd_one_out: OddOneOutOut
    consistency: ConsistencyOut
    ratings: str = Field(description="The database scores `best` ranks by: elo or bt")
    best: list[FavouriteOut] = Field(description="The favourites so far")
    advice: str | None = Field(description="What to do next, once the model was asked")


class BatchReportOut(AgreementOut):
    choices: int
    seconds: float
    odd_one_out: OddOneOutOut | None


class ChoiceOut(BaseModel):
    choice: int = Field(description="The id of the choice, to undo it")
    prediction: int = Field(description="The database's call: 1 matched, -1 contradicted, 0 none")
    session: SessionOut
    library: LibraryOut
    batch: BatchReportOut | None = Field(description="The batch this choice completed, if any")


class UndoOut(BaseModel):
    withdrawn: int
    set: SetOut = Field(description="The withdrawn choice's set, to choose again")
    session: SessionOut
    library: LibraryOut


@fields_of(Batch, odd_one_out=OddOneOutOut | None)
class BatchOut(AgreementOut):
    """A stored batch, with its agreement."""


class LibraryStatsOut(LibraryOut):
    batches: list[BatchOut]


class SettingsOut(BaseModel):
    choices: int = Field(description="Images per set")
    batch: int = Field(description="Choices per batch report")
    model: bool = Field(description="Whether a model is consulted (the odd-one-out counts)")
    profile: str = Field(description="The profile rated: whose choices these are")


class StatsOut(BaseModel):
    session: SessionOut
    library: LibraryStatsOut
    settings: SettingsOut
    ended: bool = Field(description="Whether rating has ended (POST /api/end)")


# -- the statistics page and the gallery -------------------------------------------------


class ProfilesOut(BaseModel):
    profile: str = Field(description="The profile these pages show: whose choices")
    profiles: list[str] = Field(description="Every profile of the library, by name")


class HistogramOut(BaseModel):
    """``counts[i]`` values fall in ``[edges[i], edges[i + 1])`` (the last bin closed)."""

    edges: list[float]
    counts: list[int]
    mean: float | None
    sd: float | None


class BatchPointOut(AgreementOut):
    number: int = Field(description="1 for the profile's first batch, and so on")
    session_id: int
    ended_at: float
    choices: int
    choices_so_far: int
    convergence: float | None = Field(
        description="Spearman's rho of the ranking before and after the batch"
    )


class CurrentBatchOut(AgreementOut):
    """The newest session's choices since its last stored batch."""

    session_id: int
    choices: int = Field(description="In it so far")
    size: int | None = Field(description="The choices that end it (the session's --batch)")
    choices_so_far: int = Field(description="All choices, this batch's included")


class ScoresOut(BaseModel):
    database: HistogramOut
    model: HistogramOut | None


class ProgressOut(BaseModel):
    images: int = Field(description="Present images")
    choices: int = Field(description="Decisions on a set shown, withdrawn ones left out")
    appearances: int = Field(description="Images shown in those choices: two per pair")
    pairwise_outcomes: int = Field(
        description="The (winner, loser) pairs the choices imply: k - 1 for a set of k"
    )
    agreement: AgreementOut = Field(description="Over all the choices")
    ceiling: float
    ceiling_source: str
    batches: list[BatchPointOut]
    current: CurrentBatchOut | None = Field(description="The batch under way")
    appearances_per_image: HistogramOut = Field(description="Appearances per present image")
    scores: ScoresOut


class FolderOut(BaseModel):
    path: str
    images: int = Field(description="In it and its sub-folders")


class GalleryImageOut(BaseModel):
    id: int
    path: str
    folder: str
    score: float = Field(description="The database's (Elo)")
    appearances: int = Field(description="In how many choices it was shown")
    rank: int = Field(description="By the database, 1 = best")
    model_score: float | None
    model_rank: int | None
    model_uncertainty: float | None = Field(
        None,
        description="The model's score's standard deviation, in its units; null for a "
        "model without one (an MLP)",
    )
    thumb: str
    url: str


class GalleryOut(BaseModel):
    sort: str
    order: str
    folder: str
    offset: int
    limit: int
    total: int = Field(description="Images matching the folder filter")
    has_model: bool
    folders: list[FolderOut]
    images: list[GalleryImageOut]
