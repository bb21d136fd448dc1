"""What training learns from: the split's ratings never use a held-out outcome."""

from __future__ import annotations

import numpy as np
import pytest

from tastemaker.errors import SettingError
from tastemaker.rating import bradley_terry
from tastemaker.workflows.embeddings import LibraryEmbeddings
from tastemaker.workflows.train import training_sets
from tests.rated import rate


def _embedded(library) -> LibraryEmbeddings:
    present = library.store.images("present")
    x = np.random.default_rng(0).normal(size=(len(present), 4)).astype(np.float32)
    return LibraryEmbeddings(
        np.array([im.id for im in present]), [im.hash for im in present], x, extracted=0
    )


def test_split_ratings_leave_out_every_outcome_with_a_held_out_image(library):
    rate(library, 40, 5).close()
    embedded = _embedded(library)
    split, full = training_sets(library, embedded, heldout=0.5)
    train = split.train
    assert 0 < train.sum() < len(train) and not full.heldout.any()
    np.testing.assert_array_equal(split.scores[split.heldout], full.scores[split.heldout])
    assert not np.allclose(split.scores[train], full.scores[train])  # they learnt less

    held_ids = set(embedded.image_ids[split.heldout].tolist())
    with library.store.atomic():
        for c in library.store.comparisons():
            if held_ids & set(c.shown):
                library.store.withdraw(c.id)
    after, after_full = training_sets(library, embedded, heldout=0.5)
    # the training side's ratings are the same without those outcomes; the refit's change
    np.testing.assert_allclose(after.scores[train], split.scores[train], rtol=1e-9)
    assert not np.allclose(after_full.scores[train], full.scores[train])


def test_the_seeds_elo_is_the_same_for_split_and_refit(library):
    rate(library, 20, 5).close()
    split, full = training_sets(library, _embedded(library), ratings="elo")
    np.testing.assert_array_equal(split.scores, full.scores)
    assert len(split.winners) == len(full.winners) == 20


def test_a_failed_bradley_terry_fit_names_the_way_back_to_elo(library, monkeypatch):
    rate(library, 10, 5).close()

    def fails(*args, **kwargs):
        raise bradley_terry.FitFailed("Bradley-Terry fit: line search failed at iteration 3")

    monkeypatch.setattr(bradley_terry, "fit", fails)
    with pytest.raises(SettingError) as e:
        training_sets(library, _embedded(library))
    assert e.value.setting == "ratings"
    assert str(e.value) == (
        "Bradley-Terry fit: line search failed at iteration 3; the classic Elo scores are "
        "there meanwhile: ratings elo"
    )
    training_sets(library, _embedded(library), ratings="elo")  # which needs no fit
