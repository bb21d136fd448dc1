import itertools
from collections import Counter

import numpy as np
import pytest
from rated import rate

from tastemaker.errors import TastemakerError
from tastemaker.rating import elo
from tastemaker.rating.agreement import Agreement
from tastemaker.rating.consistency import Consistency
from tastemaker.rating.ranks import spearman
from tastemaker.workflows.choices_file import export_comparisons
from tastemaker.workflows.rate import RateSession, RateSettings
from tastemaker.workflows.ratings import outcomes
from tastemaker.workflows.reports import (
    convergence,
    count_histogram,
    gallery,
    histogram,
    library_stats,
    progress_data,
)
from tastemaker.workflows.scores_file import import_scores


def test_convergence_by_hand():
    # three images from 0; stretch 1: 0 beats 1 -> (0.4, -0.4, 0), nothing to compare
    # with (flat). Stretch 2: 1 beats 2 (P = 1/(1+10^0.4)) -> (0.4, 0.172, -0.572):
    # ranks (3, 1, 2) -> (3, 2, 1), d^2 = 2, rho = 1 - 6*2/(3*(9-1)) = 0.5. Stretch 3 is
    # empty: the ranking did not move, rho = 1.
    winners, losers = [0, 1], [1, 2]
    assert convergence([0, 0, 0], winners, losers, 0.8, [1, 2, 2]) == [None, 0.5, 1.0]
    # image 2 left out (e.g. missing): (0.4, -0.4) -> (0.4, 0.172), the same order
    kept = [True, True, False]
    assert convergence([0, 0, 0], winners, losers, 0.8, [1, 2], mask=kept) == [None, 1.0]
    # starting scores (imported) give the first stretch something to compare with: the
    # last beats the first, 0.8 * (1 - 1/(1+10^0.2)) = 0.49 -> (0.49, 0.1, -0.29), the
    # order reversed
    assert convergence([0.0, 0.1, 0.2], [0], [2], 0.8, [1]) == [-1.0]
    with pytest.raises(ValueError, match="must not decrease"):
        convergence([0, 0, 0], winners, losers, 0.8, [2, 1])


def test_histograms_count_every_image():
    h = count_histogram([0, 0, 1, 3, 3, 3])
    assert h.counts == (2, 1, 0, 3)
    assert h.edges == (0.0, 1.0, 2.0, 3.0, 4.0)
    assert h.mean == pytest.approx(10 / 6)
    assert count_histogram([]).counts == (0,)
    s = histogram([-1.0, 0.0, 0.5, 1.0], bins=4)
    assert s.edges == (-1.0, -0.5, 0.0, 0.5, 1.0) and s.counts == (1, 0, 1, 2)
    flat = histogram([0.0, 0.0, 0.0])  # every Elo still 0: one bin around it
    assert sum(flat.counts) == 3 and flat.edges[0] < 0 < flat.edges[-1]


def test_agreement_and_convergence_per_batch(library):
    session = rate(library, 20, batch=5)
    session.undo()  # withdrawn: left out of the counts, kept in the store
    store = library.store
    data = progress_data(store)
    batches = store.batches()
    assert [b.number for b in data.batches] == [1, 2, 3, 4] and len(batches) == 4
    assert [b.choices_so_far for b in data.batches] == [5, 10, 15, 19]
    for point, b in zip(data.batches, batches, strict=True):
        assert (point.matched, point.contradicted, point.unpredicted) == (
            b.matched,
            b.contradicted,
            b.unpredicted,
        )
        called = b.matched + b.contradicted
        assert point.agreement == (b.matched / called if called else None)
    assert data.batches[0].convergence is None  # before the first batch all were 0
    assert all(-1 <= b.convergence <= 1 for b in data.batches[1:])
    assert data.choices == 19 and data.images == 10
    assert sum(data.appearances_per_image.counts) == 10
    shown = sum(n * count for n, count in enumerate(data.appearances_per_image.counts))
    assert shown == data.appearances == 2 * 19  # a choice of two: two appearances
    assert data.pairwise_outcomes == 19
    assert sum(data.database_scores.counts) == 10
    assert data.model_scores is None
    assert (data.ceiling, data.ceiling_source) == (0.75, "generic")
    d = data.to_dict()
    assert set(d) == {
        "images",
        "choices",
        "appearances",
        "pairwise_outcomes",
        "agreement",
        "ceiling",
        "ceiling_source",
        "batches",
        "current",
        "appearances_per_image",
        "scores",
    }
    assert d["scores"]["model"] is None and len(d["batches"]) == 4


def test_convergence_replayed_once_matches_replaying_each_batch_from_scratch(library):
    rate(library, 24, batch=6, taste=lambda i: (i * 7) % 10)
    store = library.store
    o = outcomes(store)
    choices = store.comparisons()
    ends = []
    for b in store.batches():  # outcomes up to each batch's last choice, counted slowly
        ends.append(sum(len(c.shown) - 1 for c in choices if c.id <= b.last_comparison_id))
    expected = [None]
    for before, after in itertools.pairwise(ends):
        r0 = elo.replay(o.priors, o.winners[:before], o.losers[:before], o.k[:before])
        r1 = elo.replay(o.priors, o.winners[:after], o.losers[:after], o.k[:after])
        expected.append(spearman(r0, r1))
    got = [b.convergence for b in progress_data(store).batches]
    assert got == pytest.approx(expected)
    # and the last replayed ratings are the stored ones
    final = elo.replay(o.priors, o.winners, o.losers, o.k)
    ids, stored, _ = store.rating_arrays()
    assert final[np.searchsorted(o.ids, ids)] == pytest.approx(stored)


def test_the_ceiling_and_the_model_are_part_of_the_data(library, tmp_path):
    source = tmp_path / "score.json"
    source.write_text('{"img000.png": 0.3, "img001.png": -0.2}')
    import_scores(library, source)
    rate(library, 6, batch=3)
    personal = Consistency.from_outcomes([(1, 1)] * 9 + [(1, 2)] * 3)
    model = {im.id: float(im.id) for im in library.store.images()}
    data = progress_data(library.store, model, personal)
    assert (data.ceiling, data.ceiling_source) == (0.75, "personal")
    assert data.batches[0].convergence is not None  # starting scores: not flat
    assert data.model_scores is not None and sum(data.model_scores.counts) == 10
    assert data.to_dict()["scores"]["model"]["counts"] == list(data.model_scores.counts)


def test_no_batches_yet(library):
    data = progress_data(library.store)
    assert data.batches == () and data.choices == 0 and data.current is None
    assert data.appearances_per_image.counts == (10,)


def test_the_batch_under_way_counts_before_the_first_batch_ends(library):
    session = rate(library, 7, batch=100)
    made = library.store.comparisons()
    data = progress_data(library.store)
    assert data.batches == ()
    current = data.current
    assert (current.session_id, current.choices, current.size) == (session.session_id, 7, 100)
    assert current.choices_so_far == 7
    predictions = [c.prediction for c in made]
    assert (current.matched, current.contradicted, current.unpredicted) == (
        predictions.count(elo.MATCHED),
        predictions.count(elo.CONTRADICTED),
        predictions.count(elo.UNPREDICTED),
    )
    assert data.agreement == Agreement(current.matched, current.contradicted, current.unpredicted)


def test_the_batch_under_way_is_the_newest_sessions_since_its_last_batch(library):
    rate(library, 13, batch=5)  # two batches stored, three choices left over
    data = progress_data(library.store)
    assert [b.choices for b in data.batches] == [5, 5]
    assert (data.current.choices, data.current.choices_so_far) == (3, 13)
    last = Counter(c.prediction for c in library.store.comparisons()[-3:])
    assert data.current.agreement == Agreement.from_counts(last).agreement
    session = RateSession(library, RateSettings(batch=4))  # a new session, nothing chosen yet
    data = progress_data(library.store)
    assert (data.current.session_id, data.current.choices, data.current.size) == (
        session.session_id,
        0,
        4,
    )
    assert data.current.agreement is None and data.choices == 13


def test_every_count_agrees_with_the_store(library, tmp_path):
    """Choices, appearances and pairwise outcomes differ with sets of three; each report
    gives the store's own count, and export writes one row per pairwise outcome."""
    session = RateSession(library, RateSettings(choices=3, batch=4, repeats=0), seed=1)
    for n in range(9):
        shown = session.next_set()
        session.choose(shown.token, shown.images[n % 3].id, 500)
    session.undo()
    choices = library.store.comparisons()
    expected = (len(choices), sum(len(c.shown) for c in choices))
    assert expected == (8, 24)
    pairwise = sum(len(c.shown) - 1 for c in choices)
    rows = export_comparisons(library, tmp_path / "choices.csv")
    assert rows == pairwise == 16

    data = progress_data(library.store)
    assert (data.choices, data.appearances, data.pairwise_outcomes) == (*expected, pairwise)
    h = data.appearances_per_image
    assert sum(n * k for n, k in enumerate(h.counts)) == data.appearances  # all present
    stats = library_stats(library)
    quick = session.quick_stats()
    for s in (stats, quick):
        assert (s.choices, s.appearances, s.pairwise_outcomes) == (*expected, pairwise)
        assert s.appearances_per_image == pytest.approx(h.mean) == 24 / 10
        assert s.never_shown == h.counts[0]
    assert stats.choices_per_image == 0.8


def test_gallery_ranks_sorts_filters_and_pages(library):
    rate(library, 30, batch=10)
    store = library.store
    page = gallery(store)
    scores = [im.score for im in page.images]
    assert scores == sorted(scores, reverse=True) and page.total == 10
    assert [im.rank for im in page.images] == sorted(im.rank for im in page.images)
    assert page.images[0].rank == 1 and page.images[0].model_score is None
    assert dict(page.folders) == {"": 10, "sub": 4}
    sub = gallery(store, folder="sub", descending=False, limit=3)
    assert sub.total == 4 and len(sub.images) == 3
    assert all(im.path.startswith("sub/") and im.folder == "sub" for im in sub.images)
    assert [im.score for im in sub.images] == sorted(im.score for im in sub.images)
    rest = gallery(store, folder="sub", descending=False, offset=3, limit=3)
    assert len(rest.images) == 1 and rest.images[0].id not in {im.id for im in sub.images}
    model = {im.id: -float(im.id) for im in store.images()}  # the model: lower id is better
    by_model = gallery(store, model, sort="model")
    assert [im.model_rank for im in by_model.images] == list(range(1, 11))
    assert [im.id for im in by_model.images] == sorted(im.id for im in by_model.images)
    apart = gallery(store, model, sort="disagreement").images
    gaps = [abs(im.rank - im.model_rank) for im in apart]
    assert gaps[0] >= gaps[-1]
    with pytest.raises(TastemakerError, match="needs a model"):
        gallery(store, sort="model")
    with pytest.raises(TastemakerError, match="sort is one of"):
        gallery(store, sort="nonsense")
