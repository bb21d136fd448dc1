import time

import numpy as np
import pytest
from PIL import Image

from tastemaker.errors import TastemakerError
from tastemaker.rating import elo
from tastemaker.storage.image_cache import MAX_SIDE
from tastemaker.storage.library import open_library
from tastemaker.workflows.rate import (
    NothingToUndo,
    NotInSet,
    RateSession,
    RateSettings,
    RatingEnded,
    StaleSet,
)
from tastemaker.workflows.ratings import replay_elo
from tastemaker.workflows.reports import library_stats


def stored_elo(lib):
    return {r.image_id: r.elo for r in lib.store.ratings(status=None)}


def play(session, n, pick=0):
    made = []
    for _ in range(n):
        shown = session.next_set()
        made.append(session.choose(shown.token, shown.images[pick].id, 420))
    return made


def test_a_choice_is_stored_raw_and_updates_elo(library):
    session = RateSession(library, seed=0)
    shown = session.next_set()
    a, b = shown.images
    choice = session.choose(shown.token, b.id, 777)
    (stored,) = library.store.comparisons()
    assert stored.id == choice.id
    assert stored.shown == (a.id, b.id)
    assert stored.winner_id == b.id
    assert stored.response_ms == 777
    assert stored.session_id == session.session_id
    assert stored.k == elo.K
    assert stored.prediction == elo.UNPREDICTED
    ratings = stored_elo(library)
    assert (ratings[a.id], ratings[b.id]) == pytest.approx((-0.4, 0.4))


def test_replaying_the_stored_comparisons_reproduces_the_stored_scores(library):
    session = RateSession(library, RateSettings(choices=3), seed=1)
    play(session, 40, pick=1)
    session.undo()
    play(session, 5, pick=2)
    replayed, counts = replay_elo(library.store)
    assert replayed == stored_elo(library)  # exactly, not approximately
    assert counts == {r.image_id: r.comparisons for r in library.store.ratings(status=None)}


def test_an_answered_or_unknown_set_is_refused_and_changes_nothing(library):
    session = RateSession(library, seed=0)
    shown = session.next_set()
    session.choose(shown.token, shown.images[0].id)
    before = stored_elo(library)
    with pytest.raises(StaleSet, match="already answered"):
        session.choose(shown.token, shown.images[0].id)
    with pytest.raises(StaleSet):
        session.choose("no-such-token", shown.images[0].id)
    assert stored_elo(library) == before
    assert len(library.store.comparisons()) == 1


def test_a_winner_not_in_the_set_is_refused_and_the_set_stays_open(library):
    session = RateSession(library, seed=0)
    shown = session.next_set()
    outsider = next(im for im in library.store.images() if im not in shown.images)
    with pytest.raises(NotInSet, match=f"Image {outsider.id} is not in this set"):
        session.choose(shown.token, outsider.id)
    assert library.store.comparisons() == []
    session.choose(shown.token, shown.images[1].id)
    assert len(library.store.comparisons()) == 1


def test_undo_withdraws_the_last_choice_keeps_it_and_gives_the_set_back(library):
    session = RateSession(library, seed=0)
    play(session, 3)
    before_last = replay_elo(library.store)[0]
    last = library.store.last_comparison()
    shown = session.next_set()
    session.choose(shown.token, shown.images[1].id)
    withdrawn, again = session.undo()
    assert withdrawn == library.store.comparisons(include_withdrawn=True)[-1].id
    assert [im.id for im in again.images] == [im.id for im in shown.images]
    assert library.store.comparisons(include_withdrawn=True)[-1].withdrawn_at is not None
    assert library.store.last_comparison() == last
    assert stored_elo(library) == before_last
    assert session.session_stats().choices == 3
    session.choose(again.token, again.images[0].id)  # the set handed back can be answered
    assert len(library.store.comparisons()) == 4


def test_undo_with_nothing_left_is_a_clear_error(library):
    session = RateSession(library, seed=0)
    play(session, 1)
    session.undo()
    with pytest.raises(NothingToUndo, match="no choice to undo"):
        session.undo()


def test_statistics_count_matched_contradicted_and_unpredicted(library):
    session = RateSession(library, RateSettings(lcw=0.0), seed=3)
    made = play(session, 60)
    stats = library_stats(library)
    predictions = [c.prediction for c in made]
    assert stats.agreement.matched == predictions.count(elo.MATCHED)
    assert stats.agreement.contradicted == predictions.count(elo.CONTRADICTED)
    assert stats.agreement.unpredicted == predictions.count(elo.UNPREDICTED)
    assert stats.choices == 60
    assert stats.choices_per_image == 6.0
    assert stats.never_shown == 0
    quick = made[-1].library
    assert (quick.choices, quick.never_shown, quick.agreement) == (
        stats.choices,
        stats.never_shown,
        stats.agreement,
    )
    d = stats.to_dict()
    for key in (
        "images",
        "choices",
        "choices_per_image",
        "appearances",
        "appearances_per_image",
        "pairwise_outcomes",
        "never_shown",
        "matched",
        "contradicted",
        "unpredicted",
        "agreement",
    ):
        assert key in d


def test_every_batch_is_reported_and_stored(library):
    session = RateSession(library, RateSettings(batch=4), seed=0)
    made = play(session, 9)
    assert [c.batch is not None for c in made] == [False, False, False, True] * 2 + [False]
    batches = library.store.batches()
    assert [b.choices for b in batches] == [4, 4]
    assert batches[1].first_comparison_id == made[4].id
    assert batches[1].last_comparison_id == made[7].id
    assert sum(b.matched + b.contradicted + b.unpredicted for b in batches) == 8


def test_bad_settings_and_too_small_libraries_are_refused(library, tmp_path):
    with pytest.raises(TastemakerError, match=r"^choices must be 2, 3 or 4"):
        RateSettings(choices=5)
    from conftest import make_images

    from tastemaker.storage.library import open_library

    make_images(tmp_path / "one", 1)
    with open_library(tmp_path / "one") as lib:
        lib.scan()
        with pytest.raises(TastemakerError, match="1 readable image"):
            RateSession(lib)


def test_two_sessions_on_one_library_never_lose_each_others_choices(library):
    from tastemaker.storage.library import open_library

    other = open_library(library.root)
    first, second = RateSession(library, seed=1), RateSession(other, seed=2)
    for _ in range(20):
        for session in (first, second):
            play(session, 1)
    assert len(library.store.comparisons()) == 40
    assert replay_elo(library.store)[0] == stored_elo(library)
    other.close()


def test_the_model_in_the_loop_is_counted_as_the_odd_one_out(library):
    from tastemaker.rating.odd_one_out import count

    ids = [im.id for im in library.store.images()]
    model_scores = {i: float(n % 3) for n, i in enumerate(ids)}  # a model with ties
    session = RateSession(library, RateSettings(batch=10), seed=5, model_scores=model_scores)
    made = play(session, 25, pick=1)
    stored = library.store.comparisons()
    assert all(c.model_prediction is not None for c in stored)
    for c in stored:
        ms = [model_scores[i] for i in c.shown]
        assert c.model_prediction == elo.prediction(ms, c.shown.index(c.winner_id))
    expected = count(
        {
            k: sum(1 for c in stored if (c.prediction, c.model_prediction) == k)
            for k in {(c.prediction, c.model_prediction) for c in stored}
        }
    )
    assert library_stats(library).odd_one_out == expected
    assert made[-1].library.odd_one_out == expected
    assert sum(expected.values()) == 25
    batch = library.store.batches()[0]
    assert batch.odd_one_out is not None and sum(batch.odd_one_out.values()) == 10
    session.undo()
    assert sum(session.quick_stats().odd_one_out.values()) == 24
    assert library_stats(library).to_dict()["odd_one_out"] == session.quick_stats().odd_one_out


def test_without_a_model_there_is_no_odd_one_out(library):
    session = RateSession(library, seed=0)
    play(session, 5)
    assert all(c.model_prediction is None for c in library.store.comparisons())
    assert set(library_stats(library).odd_one_out.values()) == {0}


def test_active_pairing_is_the_default_and_keeps_a_live_bradley_terry_fit(library):
    classic = RateSession(library, RateSettings(pairing="classic"), seed=4)
    assert classic.bt is None  # the classic weighting needs no fit
    truth = {im.id: n for n, im in enumerate(library.store.images())}
    session = RateSession(library, seed=4)
    try:
        seen = set()
        sets = 0
        while len(seen) < 10:  # never-seen images come first: each set leads with one
            session.bt.wait_until_current()  # the same fit every run: a repeatable test
            s = session.next_set()
            sets += 1
            new = {im.id for im in s.images} - seen
            assert new, "a set without a never-seen image while some remain"
            seen |= new
            session.choose(s.token, max(s.images, key=lambda im: truth[im.id]).id)
        assert sets <= 10
        for _ in range(60):
            session.bt.wait_until_current()
            s = session.next_set()
            session.choose(s.token, max(s.images, key=lambda im: truth[im.id]).id)
        session.bt.wait_until_current()
        ids = session._ids
        from tastemaker.rating.ranks import spearman

        rho = spearman(session.bt.ratings, np.array([truth[int(i)] for i in ids]))
        assert rho > 0.9
        before = session.bt.ratings.copy()
        session.undo()
        session.bt.wait_until_current()
        assert not np.allclose(before, session.bt.ratings)  # the withdrawn choice is gone
    finally:
        session.close()
    with pytest.raises(TastemakerError, match=r"^pairing is one of classic, active, not 'clever'$"):
        RateSettings(pairing="clever")


def test_weighting_by_speed_multiplies_k_and_replays_exactly(library):
    session = RateSession(library, RateSettings(weight_by_speed=True, typical_seconds=1.0))
    for ms in (500, 1000, 4000, None):
        s = session.next_set()
        session.choose(s.token, s.images[0].id, ms)
    stored = library.store.comparisons()
    assert [c.weight for c in stored] == [2.0, 1.0, 0.5, 1.0]
    first = stored[0]
    ratings = stored_elo(library)
    assert ratings[first.winner_id] != 0.4  # K doubled: the first choice moved 0.8, not 0.4
    assert replay_elo(library.store)[0] == ratings


def test_weights_can_be_turned_on_later_and_off_again(library):
    from tastemaker.workflows.ratings import reweigh

    session = RateSession(library, seed=2)
    for ms in (300, 600, 900, 1200, 2400):
        s = session.next_set()
        session.choose(s.token, s.images[0].id, ms)
    unweighted = stored_elo(library)
    typical = reweigh(library.store, by_speed=True)
    assert typical == 900
    assert [c.weight for c in library.store.comparisons()] == pytest.approx(
        [2.0, 1.5, 1.0, 0.75, 0.5]
    )
    assert stored_elo(library) != unweighted
    assert replay_elo(library.store)[0] == stored_elo(library)
    assert reweigh(library.store, by_speed=False) is None
    assert stored_elo(library) == unweighted


def test_seed_is_still_accepted_for_the_classic_pairing(library):
    assert RateSettings(pairing="seed") == RateSettings(pairing="classic")
    session = RateSession(library, RateSettings(pairing="seed"), seed=0)
    assert session.bt is None  # the classic weighting, not the active pairs' live fit
    session.close()


@pytest.mark.parametrize("pairing", ["classic", "active"])
def test_controversy_weighting_shows_disputed_images_more(library, pairing):
    ids = [im.id for im in library.store.images()]
    disputed = ids[0]
    model = {i: 0.0 for i in ids} | {disputed: 10.0}  # the model loves one image
    counts = {}
    for cw in (0.0, 4.0):
        settings = RateSettings(pairing=pairing, controversy=cw, lcw=0.0)
        session = RateSession(library, settings, seed=1, model_scores=model)
        shown = [im.id for _ in range(400) for im in session.next_set().images]
        session.close()
        counts[cw] = shown.count(disputed)
    assert counts[4.0] > 2 * counts[0.0]
    with pytest.raises(TastemakerError, match=r"^controversy must be a finite number at least 0"):
        RateSettings(controversy=-1)


@pytest.mark.parametrize("pairing", ["classic", "active"])
def test_unsure_weighting_shows_the_images_the_model_is_least_sure_of_more(library, pairing):
    ids = [im.id for im in library.store.images()]
    unsure = ids[0]
    model = {i: 0.0 for i in ids}
    spread = {i: 0.1 for i in ids} | {unsure: 1.0}  # far from anything rated
    counts = {}
    for weight in (0.0, 2.0):
        settings = RateSettings(pairing=pairing, unsure=weight, lcw=0.0)
        session = RateSession(
            library, settings, seed=1, model_scores=model, model_uncertainties=spread
        )
        shown = [im.id for _ in range(400) for im in session.next_set().images]
        session.close()
        counts[weight] = shown.count(unsure)
    assert counts[2.0] > 2 * counts[0.0]
    with pytest.raises(TastemakerError, match=r"^unsure must be a finite number at least 0"):
        RateSettings(unsure=-1)


def test_repeats_come_back_swapped_and_measure_consistency(library):
    truth = {im.id: n for n, im in enumerate(library.store.images())}
    settings = RateSettings(repeats=0.3, repeat_after=0.0)
    session = RateSession(library, settings, seed=7)
    flip = False
    for _ in range(80):
        s = session.next_set()
        best = max(s.images, key=lambda im: truth[im.id])
        worst = min(s.images, key=lambda im: truth[im.id])
        flip = not flip  # answers repeats inconsistently every other time
        repeat = s.token in session._repeats
        session.choose(s.token, (worst if repeat and flip else best).id)
    stored = library.store.comparisons()
    repeats = [c for c in stored if c.repeat_of is not None]
    assert 10 <= len(repeats) <= 40
    by_id = {c.id: c for c in stored}
    for r in repeats:
        assert r.shown == tuple(reversed(by_id[r.repeat_of].shown))  # sides swapped
    same = sum(by_id[r.repeat_of].winner_id == r.winner_id for r in repeats)
    c = library_stats(library).consistency
    assert (c.repeats, c.consistent) == (len(repeats), same)
    assert 0 < same < len(repeats)
    assert c.ceiling_source == "personal" and c.ceiling == same / len(repeats)
    assert session.quick_stats().consistency == c


def test_no_repeats_before_the_spacing_or_when_turned_off(library):
    for settings in (RateSettings(repeats=0.5), RateSettings(repeats=0.0, repeat_after=0.0)):
        session = RateSession(library, settings, seed=3)
        play(session, 30)
        assert all(c.repeat_of is None for c in library.store.comparisons())


@pytest.mark.parametrize("pairing", ["classic", "active"])
def test_a_rescan_elsewhere_is_followed_by_image_id(library, pairing):
    from conftest import make_images

    from tastemaker.storage.library import open_library

    session = RateSession(library, RateSettings(pairing=pairing, repeats=0), seed=0)
    play(session, 3)
    gone = library.store.images("present")[0]
    (library.root / gone.path).unlink()
    make_images(library.root, 1, prefix="new")
    with open_library(library.root) as elsewhere:
        elsewhere.scan()
        new = elsewhere.store.images("present")[-1]
    shown = {im.id for _ in range(30) for im in session.next_set().images}
    assert new.id in shown and gone.id not in shown
    session.undo()
    play(session, 10)
    assert len(library.store.comparisons()) == 12
    session.close()


def test_a_choice_an_older_version_stored_with_k_inf_is_replayed_with_the_seeds_k(library):
    from conftest import local_client

    a, b = (im.id for im in library.store.images("present")[:2])
    store = library.store
    with store.atomic():  # what `rate --k inf` recorded before options were checked
        session_id = store.start_session({"k": float("inf")})
        inf = float("inf")
        store.add_comparison(session_id, (a, b), a, 0, 500, inf, [inf, -inf])
    session = RateSession(library, seed=0)  # repairs the stored ratings
    assert stored_elo(library)[a] == pytest.approx(0.4)
    assert stored_elo(library)[b] == pytest.approx(-0.4)
    play(session, 3)
    assert stored_elo(library) == replay_elo(library.store)[0]
    with local_client(session) as client:
        assert client.get("/api/progress").status_code == 200


def test_no_other_page_can_crowd_a_pages_open_sets_out(library):
    """Issue #10: spamming /api/next made the person's next choice a 409. Open sets are
    kept per page, a bounded number of pages, the one unheard from longest going first."""
    from tastemaker.workflows.rate import OPEN_SETS, PAGES

    session = RateSession(library, RateSettings(repeats=0), seed=0)
    mine = session.next_set("tab-1")
    for _ in range(OPEN_SETS + 10):  # a flood of sets for every page but this one
        session.next_set()
    for page in range(PAGES - 2):
        session.next_set(f"other-{page}")
    undone = session.choose(mine.token, mine.images[0].id, 300, "tab-1")
    with pytest.raises(StaleSet):  # a set is the page's own: another page cannot answer it
        session.choose(session.next_set("tab-1").token, mine.images[0].id, 300, "tab-2")
    _, again = session.undo(undone.id, "tab-1")
    assert session.choose(again.token, again.images[1].id, 300, "tab-1")
    oldest = session.next_set("tab-1")
    for page in range(PAGES):  # as many pages as are kept, all newer
        session.next_set(f"newer-{page}")
    with pytest.raises(StaleSet):
        session.choose(oldest.token, oldest.images[0].id, 300, "tab-1")


def test_ending_refuses_sets_choices_and_undo_but_keeps_the_statistics(library):
    session = RateSession(library, seed=0)
    play(session, 2)
    open_set = session.next_set()
    assert session.end() is True and session.end() is False  # only the first ends it
    message = (
        "Rating has ended; the statistics and gallery are still served. "
        "Run tastemaker rate again to rate more."
    )
    for attempt in (
        session.next_set,
        lambda: session.choose(open_set.token, open_set.images[0].id),
        session.undo,
    ):
        with pytest.raises(RatingEnded) as refused:
            attempt()
        assert str(refused.value) == message
    assert session.session_stats().choices == 2
    assert len(library.store.comparisons()) == 2


def test_display_copies_of_large_images_are_made_before_the_page_asks(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    Image.new("RGB", (3000, 2000), (200, 30, 30)).save(root / "large.jpg", quality=90)
    Image.new("RGB", (3000, 2000), (30, 30, 200)).save(root / "larger.jpg", quality=90)
    Image.new("RGB", (120, 80), (30, 200, 30)).save(root / "small.png")
    with open_library(root) as lib:
        lib.scan()
        session = RateSession(lib, seed=0)
        copies = lib.cache_dir / f"display-{MAX_SIDE}"
        deadline = time.monotonic() + 60  # waits for the background thread, times nothing
        while len(list(copies.glob("*.jpg"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        session.close()
        hashes = {im.hash for im in lib.store.images() if im.path != "small.png"}
        assert {p.stem for p in copies.glob("*.jpg")} == hashes  # the small one is sent as is
