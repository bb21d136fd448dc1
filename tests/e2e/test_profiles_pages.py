"""The gallery of a library with two profiles in a real browser (Debian's Chromium
through Playwright), against a real ``tastemaker rate`` process."""

from pathlib import Path

import pytest
from conftest import Server, make_images
from playwright.sync_api import expect
from rated import rate

from tastemaker.storage.library import open_library

pytestmark = pytest.mark.e2e


@pytest.fixture
def folder(tmp_path) -> Path:
    """12 images; the default profile prefers low ids, bob high ones."""
    make_images(tmp_path / "lib", 12, size=(200, 130))
    with open_library(tmp_path / "lib", scan=True) as library:
        rate(library, 20, batch=10).close()
    with open_library(tmp_path / "lib", profile="bob") as bob:
        rate(bob, 20, batch=10, taste=lambda image_id: -image_id).close()
    return tmp_path / "lib"


def test_the_gallery_sorts_by_another_profile_s_scores(browser, folder):
    with Server(folder) as server:
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(server.url + "gallery")
        expect(page.locator("header .profile")).to_have_text("default")
        expect(page.locator("#versus-label")).to_be_visible()
        page.select_option("#versus", "bob")
        expect(page.locator("#sort option[value=model]")).to_have_text("bob's database score")
        page.select_option("#sort", "model")
        tiles = page.locator("#grid .tile")
        expect(tiles.first.locator(".model")).to_contain_text("bob #1 ")
        expect(page).to_have_url(server.url + "gallery?sort=model&order=desc&folder=&versus=bob")
        scores = tiles.evaluate_all("els => els.map(e => e.dataset.modelScore)")
        bobs = [float(s) for s in scores if s]
        assert len(bobs) >= 2 and bobs == sorted(bobs, reverse=True)
        page.reload()  # the choice is kept in the address
        expect(page.locator("#versus")).to_have_value("bob")
        expect(tiles.first.locator(".model")).to_contain_text("bob #1 ")


def test_with_one_profile_the_gallery_offers_no_other(browser, tmp_path):
    make_images(tmp_path / "lib", 4)
    with Server(tmp_path / "lib") as server:
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(server.url + "gallery")
        expect(page.locator("body")).to_have_attribute("data-state", "ready")
        expect(page.locator("#versus-label")).to_be_hidden()
        expect(page.locator("header .profile")).to_have_count(0)
