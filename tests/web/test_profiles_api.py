"""The pages over a library with several profiles: they name the profile they show, and
the gallery sets another profile's database scores against this one's."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import local_client
from rated import rate

from tastemaker.rating.ranks import zscore
from tastemaker.storage.library import open_library
from tastemaker.workflows.rate import RateSession


@pytest.fixture
def two_profiles(library):
    """The default profile prefers low ids (30 choices), bob high ids (20 choices)."""
    rate(library, 30, batch=10).close()
    with open_library(library.root, profile="bob") as bob:
        rate(bob, 20, batch=10, taste=lambda image_id: -image_id).close()
        elo = {r.image_id: r.elo for r in bob.store.ratings() if r.comparisons}
    return library, elo


def test_a_page_names_its_profile_once_there_are_several(library):
    with local_client(RateSession(library, seed=0)) as c:
        assert "<title>tastemaker · rate</title>" in c.get("/").text
        assert 'class="profile"' not in c.get("/gallery").text
        open_library(library.root, profile="bob").close()
        for url, title in (("/", "rate"), ("/stats", "statistics"), ("/gallery", "gallery")):
            page = c.get(url).text
            assert f"<title>tastemaker · {title} · default</title>" in page
            assert '<span class="profile" title="Whose choices these are">default</span>' in page
        assert c.get("/api/profiles").json() == {
            "profile": "default",
            "profiles": ["bob", "default"],
        }
        assert c.get("/api/stats").json()["settings"]["profile"] == "default"


def test_the_gallery_sorts_by_another_profile_and_where_the_two_disagree(two_profiles):
    library, bobs = two_profiles
    with local_client(RateSession(library, seed=0)) as c:
        body = c.get("/api/gallery", params={"sort": "model", "versus": "bob"}).json()
        assert body["has_model"] is True
        shown = [(int(im["id"]), im["model_score"]) for im in body["images"]]
        scored = [(i, s) for i, s in shown if s is not None]
        assert dict(scored) == bobs  # bob's Elo of every image he compared, no other
        assert [s for _, s in scored] == sorted(bobs.values(), reverse=True)
        assert all(im["model_uncertainty"] is None for im in body["images"])

        apart = c.get("/api/gallery", params={"sort": "disagreement", "versus": "bob"}).json()
        ids = [r.image_id for r in library.store.ratings()]
        mine = np.array([r.elo for r in library.store.ratings()])
        theirs = np.array([bobs.get(i, np.nan) for i in ids])
        gap = np.abs(zscore(theirs) - zscore(mine))
        assert int(apart["images"][0]["id"]) == ids[int(np.nanargmax(gap))]


def test_the_gallery_refuses_a_profile_it_cannot_set_against_in_one_line(two_profiles):
    library, _ = two_profiles
    open_library(library.root, profile="carol").close()
    with local_client(RateSession(library, seed=0)) as c:
        for versus, said in (
            ("carol", "versus carol: that profile has rated no image yet"),
            ("carl", "no profile 'carl' here (there are: bob, carol, default)"),
            ("Bob!", "profile 'Bob!': a profile's name is 1 to 32 lowercase letters"),
        ):
            r = c.get("/api/gallery", params={"sort": "model", "versus": versus})
            assert r.status_code == 400 and r.json()["ok"] is False
            assert said in r.json()["error"] and "\n" not in r.json()["error"]


def test_a_page_cannot_undo_or_count_another_profile_s_choice(two_profiles):
    library, _ = two_profiles
    with open_library(library.root, profile="bob") as bob:
        bobs = bob.store.comparisons()
    with local_client(RateSession(library, seed=0)) as c:
        r = c.post("/api/undo", json={"choice": bobs[-1].id})
        assert r.status_code == 409
        assert r.json() == {"ok": False, "status": 409, "error": "There is no choice to undo."}
        assert c.get("/api/stats").json()["library"]["choices"] == 30
        assert c.get("/api/progress").json()["choices"] == 30
    with open_library(library.root, profile="bob") as bob:
        assert bob.store.comparisons() == bobs
