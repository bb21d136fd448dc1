"""Scoring a library from its embedding cache a chunk at a time: the same scores as
holding every embedding at once, whatever the chunk, and each image extracted once.
"The same" up to float32 rounding: a matrix product of one row and of many add in
different orders, so an MLP's scores may differ in the last bits between chunk sizes
(1.4e-6 has been seen on a score near 0.25): equal within float32's few ulps, 1e-5."""

from __future__ import annotations

import numpy as np
import pytest

from tastemaker.model import read_model
from tastemaker.workflows.embeddings import library_embeddings
from tastemaker.workflows.score import layer_choice, library_model_scores


@pytest.mark.parametrize("kind", ["tiny_model", "tiny_kernel_model"])
def test_chunked_library_scores_equal_the_all_at_once_scores(library, kind, request):
    model = read_model(request.getfixturevalue(kind))
    choice = layer_choice(model)
    streamed = {
        chunk: library_model_scores(library, model, uncertainty=True, chunk=chunk)
        for chunk in (1, 7, 10_000)  # one image, an uneven split, all in one
    }
    # the first call extracted every image; nothing is left to extract
    assert library.store.images_without_embedding(model.meta.extractor, choice.key) == []
    everything = library_embeddings(library, model.meta.extractor, choice)
    assert everything.extracted == 0 and len(everything.image_ids) == 10
    scores, spread = model.scores_and_uncertainties(everything.x)
    ids = everything.image_ids.tolist()
    for chunk, result in streamed.items():
        assert list(result.scores) == ids, chunk
        np.testing.assert_allclose(list(result.scores.values()), scores, rtol=1e-5, atol=1e-5)
        assert result.failures == []
        if model.has_uncertainty:
            assert list(result.uncertainties) == ids
            np.testing.assert_allclose(
                list(result.uncertainties.values()), spread, rtol=1e-5, atol=1e-5
            )
        else:
            assert result.uncertainties == {}
