"""The rating page in a real browser (Debian's Chromium through Playwright), against a
real ``tastemaker rate`` process."""

import signal
from pathlib import Path

import httpx
import pytest
from conftest import Server, make_images
from playwright.sync_api import Page, expect

from tastemaker.storage.library import open_library
from tastemaker.workflows.rate import RateSession

pytestmark = pytest.mark.e2e


@pytest.fixture
def folder(tmp_path) -> Path:
    make_images(tmp_path / "lib", 8, size=(120, 80))
    make_images(tmp_path / "lib" / "tall", 4, prefix="tall", size=(60, 200))
    return tmp_path / "lib"


def shown_ids(page: Page) -> list[int]:
    return [
        int(x) for x in page.locator("#stage img").evaluate_all("els => els.map(e => e.dataset.id)")
    ]


def wait_for_choices(page: Page, n: int) -> None:
    expect(page.locator("body")).to_have_attribute("data-choices", str(n))
    expect(page.locator("body")).to_have_attribute("data-state", "ready")


def comparisons(folder: Path, include_withdrawn: bool = False):
    with open_library(folder) as lib:
        return lib.store.comparisons(include_withdrawn=include_withdrawn)


def test_keys_choose_undo_skip_and_end(browser, folder):
    server = Server(folder, "--batch", "4")
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 700})
        page.goto(server.url)
        expect(page.locator("body")).to_have_attribute("data-state", "ready")
        first = shown_ids(page)
        assert len(first) == 2 and len(set(first)) == 2
        for img in page.locator("#stage img").all():  # fitted in the window, whatever shape
            box = img.bounding_box()
            assert box["width"] > 0 and box["y"] + box["height"] <= 700

        page.keyboard.press("1")
        wait_for_choices(page, 1)
        (c1,) = comparisons(folder)
        assert (c1.shown, c1.winner_id) == (tuple(first), first[0])
        assert c1.response_ms is not None and c1.response_ms >= 0

        second = shown_ids(page)
        page.keyboard.press("ArrowRight")
        wait_for_choices(page, 2)
        assert comparisons(folder)[-1].winner_id == second[1]

        page.keyboard.press("z")  # undo: the choice is withdrawn, its set comes back
        wait_for_choices(page, 1)
        expect(page.locator("#message")).to_contain_text("Undone")
        assert shown_ids(page) == second
        assert len(comparisons(folder)) == 1
        assert comparisons(folder, include_withdrawn=True)[-1].withdrawn_at is not None

        pair = page.locator("body").get_attribute("data-pair")
        page.keyboard.press("s")  # skip: a new set, nothing recorded
        expect(page.locator("body")).not_to_have_attribute("data-pair", pair)
        assert len(comparisons(folder)) == 1

        third = shown_ids(page)
        page.locator("#stage .choice").nth(1).click()  # a click chooses too
        wait_for_choices(page, 2)
        assert comparisons(folder)[-1].winner_id == third[1]

        page.keyboard.press("Backspace")
        wait_for_choices(page, 1)
        for n in (2, 3, 4):
            page.keyboard.press("2")
            wait_for_choices(page, n)
        expect(page.locator("#overlay")).to_be_visible()  # the batch report after 4
        expect(page.locator("#overlay-title")).to_contain_text("Batch done: 4 choices")
        page.keyboard.press("Space")
        expect(page.locator("#overlay")).to_be_hidden()
        expect(page.locator("#stats")).to_contain_text("4 choices")

        page.keyboard.press("q")  # asks first: Escape keeps rating
        expect(page.locator("#confirm")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator("#confirm")).to_be_hidden()
        expect(page.locator("body")).to_have_attribute("data-state", "ready")
        page.keyboard.press("q")  # Enter ends
        page.keyboard.press("Enter")
        expect(page.locator("body")).to_have_attribute("data-state", "ended")
        expect(page.locator("#overlay-title")).to_have_text("Rating ended")
        assert httpx.get(server.url + "stats").status_code == 200  # still served
        assert server.process.poll() is None
        server.process.send_signal(signal.SIGINT)  # Ctrl-C stops it
        out, _ = server.output()
        assert server.process.returncode == 0
        assert "Rating ended on the page; statistics and gallery are served until Ctrl-C." in out
        assert "Session: 4 choices" in out
        assert len(comparisons(folder)) == 4
    finally:
        server.stop()


def test_three_images_per_set_and_two_tabs(browser, folder):
    server = Server(folder, "--choices", "3")
    try:
        tabs = [browser.new_page(viewport={"width": 1400, "height": 600}) for _ in range(2)]
        for tab in tabs:
            tab.goto(server.url)
            expect(tab.locator("#stage img")).to_have_count(3)
        made = 0
        for _ in range(3):
            for tab in tabs:
                shown = shown_ids(tab)
                tab.keyboard.press("3")
                made += 1
                wait_for_choices(tab, made)  # the count is the session's, shared by tabs
                assert comparisons(folder)[-1].winner_id == shown[2]
        stored = comparisons(folder)
        assert len(stored) == 6 and all(len(c.shown) == 3 for c in stored)
    finally:
        server.stop()


def test_the_model_in_the_loop_is_shown_live(browser, folder, tiny_model):
    server = Server(folder, "--model", str(tiny_model))
    try:
        page = browser.new_page()
        page.goto(server.url)
        for n in (1, 2, 3):
            expect(page.locator("body")).to_have_attribute("data-state", "ready")
            page.keyboard.press("1")
            wait_for_choices(page, n)
        expect(page.locator("#odd")).to_contain_text("odd one out: you")
        advice = httpx.get(server.url + "api/stats").json()["library"]["advice"]
        assert advice and page.locator("#odd").inner_text().endswith(f" — {advice}")
        assert all(c.model_prediction is not None for c in comparisons(folder))
    finally:
        server.stop()


def test_the_page_shows_agreement_against_the_ceiling(browser, folder):
    server = Server(folder)
    try:
        page = browser.new_page()
        page.goto(server.url)
        expect(page.locator("#stats")).to_contain_text("(ceiling 75% typical)")
    finally:
        server.stop()


def test_while_the_next_set_is_coming_a_spinner_shows_and_an_undo_waits(browser, folder):
    server = Server(folder, "--repeats", "0")
    held = []  # sets asked for beyond the first four, answered when the test says

    def hold(route):
        if hold.passed < 4:  # the one shown and the three made ready behind it
            hold.passed += 1
            route.continue_()
        else:
            held.append(route)

    hold.passed = 0
    try:
        page = browser.new_page()
        page.route("**/api/next", hold)
        page.goto(server.url)
        for n in (1, 2, 3):  # the ready sets come at once
            expect(page.locator("body")).to_have_attribute("data-state", "ready")
            page.keyboard.press("1")
            wait_for_choices(page, n)
        page.keyboard.press("1")  # saved; the next set is still coming
        expect(page.locator("body")).to_have_attribute("data-choices", "4")
        expect(page.locator("body")).to_have_attribute("data-state", "loading")
        expect(page.locator("#spinner")).to_be_visible()
        page.keyboard.press("2")  # never a choice on a set not on screen
        expect(page.locator("#message")).to_have_text("Wait for the next images to choose.")
        page.keyboard.press("z")  # waits, then undoes the choice just made
        assert len(comparisons(folder)) == 4
        for route in held:
            route.continue_()
        page.unroute("**/api/next")
        wait_for_choices(page, 3)
        expect(page.locator("#message")).to_have_text("Undone: choose again.")
        expect(page.locator("#spinner")).to_be_hidden()
        assert len(comparisons(folder)) == 3
    finally:
        server.stop()


def test_without_a_model_no_odd_one_out_counts_are_shown(browser, folder):
    with open_library(folder) as lib:  # an earlier session consulted a model
        lib.scan()
        session = RateSession(
            lib, seed=0, model_scores={im.id: 1.0 * im.id for im in lib.store.images()}
        )
        for _ in range(3):
            shown = session.next_set()
            session.choose(shown.token, shown.images[0].id)
        session.close()
    server = Server(folder, "--no-model")
    try:
        assert httpx.get(server.url + "api/stats").json()["library"]["advice"]
        page = browser.new_page()
        page.goto(server.url)
        expect(page.locator("body")).to_have_attribute("data-state", "ready")
        page.keyboard.press("1")
        wait_for_choices(page, 1)
        expect(page.locator("#odd")).to_be_hidden()
        expect(page.locator("#odd")).to_have_text("")
    finally:
        server.stop()


def test_a_choice_the_server_never_got_is_said_to_be_unsaved(browser, folder):
    server = Server(folder)
    try:
        page = browser.new_page()
        page.goto(server.url)
        expect(page.locator("body")).to_have_attribute("data-state", "ready")
        server.stop()
        page.locator("#stage .choice").nth(0).click()
        expect(page.locator("#alert")).to_be_visible()
        expect(page.locator("#alert")).to_have_text(
            "The server cannot be reached: this choice was not saved. Is tastemaker rate "
            "still running? Start it again, then reload this page."
        )
        expect(page.locator("#stage .choice.picked")).to_have_count(0)
        assert comparisons(folder) == []
    finally:
        server.stop()


def test_an_undo_made_in_another_tab_is_not_made_twice(browser, folder):
    server = Server(folder, "--repeats", "0")
    try:
        first, second = browser.new_page(), browser.new_page()
        for tab in (first, second):
            tab.goto(server.url)
            expect(tab.locator("body")).to_have_attribute("data-state", "ready")
        for n in (1, 2):
            first.keyboard.press("1")
            wait_for_choices(first, n)
        second.reload()  # the session has choices to undo: the second tab withdraws the last
        wait_for_choices(second, 2)
        second.locator("#undo").click()
        wait_for_choices(second, 1)
        first.keyboard.press("z")  # its own last is gone already: refused, nothing else withdrawn
        expect(first.locator("#message")).to_have_text(
            "The undo failed: There is no choice to undo."
        )
        assert len(comparisons(folder)) == 1
        first.keyboard.press("z")  # then the session's last, the first choice
        wait_for_choices(first, 0)
        assert comparisons(folder) == []
    finally:
        server.stop()


def test_two_profiles_rated_at_once_in_two_tabs(browser, folder):
    """Two tastes on one library at the same time: a server per profile, a tab on each;
    each page says whose choices it takes, and each choice is its profile's alone."""
    servers = [Server(folder, "--profile", name) for name in ("alice", "bob")]
    try:
        tabs = [browser.new_page(viewport={"width": 1200, "height": 700}) for _ in servers]
        for tab, server, name in zip(tabs, servers, ("alice", "bob"), strict=True):
            tab.goto(server.url)
            expect(tab.locator("header .profile")).to_have_text(name)
            expect(tab).to_have_title(f"tastemaker · rate · {name}")
            expect(tab.locator("body")).to_have_attribute("data-state", "ready")
        chosen: dict[str, list[tuple[tuple[int, ...], int]]] = {"alice": [], "bob": []}
        for made in range(1, 4):
            for tab, name, key in zip(tabs, ("alice", "bob"), ("1", "2"), strict=True):
                shown = tuple(shown_ids(tab))
                tab.keyboard.press(key)
                wait_for_choices(tab, made)  # each tab counts its own profile's choices
                chosen[name].append((shown, shown[int(key) - 1]))
        for name in ("alice", "bob"):
            with open_library(folder, profile=name) as lib:
                assert [(c.shown, c.winner_id) for c in lib.store.comparisons()] == chosen[name]
        assert comparisons(folder) == []  # the default profile: untouched
        tabs[0].keyboard.press("z")  # alice's undo withdraws alice's last choice
        wait_for_choices(tabs[0], 2)
        with open_library(folder, profile="bob") as lib:
            assert len(lib.store.comparisons()) == 3
    finally:
        for server in servers:
            server.stop()
