"""How alike two profiles' tastes are (``stats --compare A B``): their databases on the
images both compared, each one's choices as the other's database foresees them, and
their newest models on every present image, so a couple or a team sees how far one
taste can stand in for the other (one's model as the other's prior, say)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from tastemaker.errors import SettingError
from tastemaker.progress import Progress, no_progress
from tastemaker.rating.agreement import Agreement
from tastemaker.rating.ranks import pairwise_order_agreement, spearman
from tastemaker.storage.library import Library
from tastemaker.workflows.models import latest_model
from tastemaker.workflows.ratings import database_scores, outcomes


@dataclass(frozen=True)
class Alike:
    """How alike two orderings of the same images are."""

    images: int
    pairwise: float | None  # the share of pairs both put the same way (ties left out)
    spearman: float | None

    @classmethod
    def of(cls, a: dict[int, float], b: dict[int, float], among: set[int]) -> Alike:
        """The two scorings, by image id, on the images of ``among`` both score."""
        ids = sorted(among & a.keys() & b.keys())
        x, y = [a[i] for i in ids], [b[i] for i in ids]
        return cls(len(ids), _or_none(pairwise_order_agreement(x, y)), _or_none(spearman(x, y)))


@dataclass(frozen=True)
class ProfileComparison:
    profiles: tuple[str, str]
    choices: tuple[int, int]  # each profile's, withdrawn ones left out
    databases: Alike  # on the present images compared under both
    # each profile's choices as the other's database foresees them
    foreseen: tuple[Agreement, Agreement]
    models: Alike | None  # the newest model of each on every present image; None without
    model_names: tuple[str, str] | None

    def to_dict(self) -> dict[str, object]:
        return {
            "profiles": list(self.profiles),
            "choices": list(self.choices),
            "databases": asdict(self.databases),
            "foreseen": [f.to_dict() for f in self.foreseen],
            "models": None if self.models is None else asdict(self.models),
            "model_names": None if self.model_names is None else list(self.model_names),
        }


def compare_profiles(
    library: Library, other: str, ratings: str = "elo", progress: Progress = no_progress
) -> ProfileComparison:
    """Compare ``library``'s profile with ``other``, a profile of the same library, by
    ``ratings`` (elo or bt) for the databases."""
    if other == library.profile:
        raise SettingError(
            "compare", f"{{setting}}: give two different profiles, not {other} twice"
        )
    with Library(library.root, library.store_dir, create=False, profile=other) as second:
        pair = (library, second)
        present = {im.id for im in library.store.images("present")}
        scores = [database_scores(lib.store, ratings) for lib in pair]
        compared = [{r.image_id for r in lib.store.ratings() if r.comparisons} for lib in pair]
        foreseen = (_foreseen(library, scores[1]), _foreseen(second, scores[0]))
        choices = (len(library.store.comparisons()), len(second.store.comparisons()))
        first_model, second_model = latest_model(library), latest_model(second)
        modelled, names = None, None
        if first_model is not None and second_model is not None:
            from tastemaker.model import read_model
            from tastemaker.workflows.score import library_model_scores

            a, b = (
                library_model_scores(lib, read_model(path), progress).scores
                for lib, path in ((library, first_model), (second, second_model))
            )
            modelled, names = Alike.of(a, b, present), (first_model.name, second_model.name)
    return ProfileComparison(
        profiles=(library.profile, other),
        choices=choices,
        databases=Alike.of(scores[0], scores[1], present & compared[0] & compared[1]),
        foreseen=foreseen,
        models=modelled,
        model_names=names,
    )


def profile_scores(library: Library, profile: str) -> dict[int, float]:
    """Another profile's database scores (Elo) of the images it compared or was given a
    starting score for, by image id: what the gallery sorts by and sets against this
    profile's. Refused when there are none, rather than sorting on nothing."""
    with Library(library.root, library.store_dir, create=False, profile=profile) as other:
        scores = {
            r.image_id: r.elo for r in other.store.ratings() if r.comparisons or r.prior_source
        }
    if not scores:
        raise SettingError("versus", f"{{setting}} {profile}: that profile has rated no image yet")
    return scores


def _foreseen(library: Library, scores: dict[int, float]) -> Agreement:
    """``library``'s pairwise outcomes as the database ``scores`` (by image id) order them."""
    o = outcomes(library.store)
    by_row = np.array([scores.get(int(i), math.nan) for i in o.ids], np.float64)
    return Agreement.from_scores(by_row, o.winners, o.losers)


def _or_none(value: float) -> float | None:
    """A figure that cannot be measured (NaN: too few images, or all tied) as None."""
    return None if math.isnan(value) else value
