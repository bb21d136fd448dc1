"""The rating page on three screens, a desktop, a laptop and a phone held upright (touch),
in Chromium against a real ``tastemaker rate``: the images of a set drawn at one fitted
size (small ones enlarged), one above the other on the phone; the buttons, clicked or
tapped; undo after a reload; the batch report's agreement; ending, which asks first."""

import re
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import Server, make_images
from playwright.sync_api import Locator, Page, expect

from tastemaker.storage.library import open_library
from tastemaker.workflows.priors import set_starting_scores

pytestmark = pytest.mark.e2e

SCREENS = {
    "1920x1080": {"viewport": {"width": 1920, "height": 1080}},
    "1280x720": {"viewport": {"width": 1280, "height": 720}},
    "390x844-touch": {
        "viewport": {"width": 390, "height": 844},
        "has_touch": True,
        "is_mobile": True,
    },
}


@pytest.fixture
def folder(tmp_path) -> Path:
    """Images of one shape (3:2) at three sizes, all smaller than any screen shows them,
    with distinct starting scores, so that the database makes a call on every choice."""
    root = tmp_path / "lib"
    make_images(root, 3, prefix="tiny", size=(30, 20))
    make_images(root, 3, prefix="small", size=(150, 100))
    make_images(root, 2, prefix="medium", size=(300, 200))
    with open_library(root) as lib:
        lib.scan()
        ids = [im.id for im in lib.store.images()]
        set_starting_scores(lib.store, {i: 0.1 * n for n, i in enumerate(ids)}, "test")
    return root


def drawn(page: Page) -> list[dict]:
    """Each shown image's box on the screen and its own width in pixels."""
    return page.locator("#stage img").evaluate_all(
        "els => els.map(e => ({...e.getBoundingClientRect().toJSON(), natural: e.naturalWidth}))"
    )


def ready(page: Page, choices: int | None = None) -> None:
    if choices is not None:
        expect(page.locator("body")).to_have_attribute("data-choices", str(choices))
    expect(page.locator("body")).to_have_attribute("data-state", "ready")


def standing_choices(folder: Path) -> int:
    with open_library(folder) as lib:
        return len(lib.store.comparisons())


@pytest.mark.parametrize("screen", SCREENS)
def test_the_rating_page_on_every_screen(browser, folder, screen):
    touch = SCREENS[screen].get("has_touch", False)
    width, height = SCREENS[screen]["viewport"].values()

    def press(target: Locator) -> None:
        target.tap() if touch else target.click()

    server = Server(folder, "--batch", "3", "--repeats", "0")
    context = browser.new_context(**SCREENS[screen])
    try:
        page = context.new_page()
        page.goto(server.url)
        ready(page, 0)
        header = page.locator("header").bounding_box()
        assert header["height"] < 40  # the statistics on one line

        # every image of a set at one fitted size, small ones enlarged
        a, b = drawn(page)
        assert (a["width"], a["height"]) == (b["width"], b["height"])
        assert a["width"] > max(a["natural"], b["natural"])
        if touch:  # one above the other, each the screen's width
            assert b["top"] >= a["bottom"] and a["width"] >= width - 30
        else:  # side by side, each nearly half the screen
            assert b["left"] >= a["right"] and a["width"] >= width / 2 - 60
        assert max(a["bottom"], b["bottom"]) <= height

        # actual size: each at its own size (at most the fitted one); kept across reloads
        press(page.locator("#actual"))
        expect(page.locator("#actual")).to_have_attribute("aria-pressed", "true")
        for image in drawn(page):
            assert image["width"] == min(image["natural"], a["width"])
        page.reload()
        ready(page, 0)
        expect(page.locator("#actual")).to_have_attribute("aria-pressed", "true")
        press(page.locator("#actual"))
        expect(page.locator("body")).to_have_attribute("data-size", "fitted")

        # a click or tap chooses; the buttons skip and undo
        expect(page.locator("#undo")).to_be_disabled()
        press(page.locator("#stage .choice").nth(0))
        ready(page, 1)
        pair = page.locator("body").get_attribute("data-pair")
        press(page.locator("#skip"))
        expect(page.locator("body")).not_to_have_attribute("data-pair", pair)
        press(page.locator("#undo"))
        ready(page, 0)
        expect(page.locator("#message")).to_have_text("Undone: choose again.")
        assert standing_choices(folder) == 0
        press(page.locator("#skip"))  # the undo's note goes with its set
        ready(page, 0)
        expect(page.locator("#message")).to_have_text("")

        # undo after a reload: the page asks the server what there is to undo
        press(page.locator("#stage .choice").nth(1))
        ready(page, 1)
        page.reload()
        ready(page, 1)
        press(page.locator("#undo"))
        ready(page, 0)
        assert standing_choices(folder) == 0

        # a batch of three: its report has its own agreement, as the server has it
        for n in (1, 2, 3):
            press(page.locator("#stage .choice").nth(0))
            ready(page, n)
        expect(page.locator("#overlay")).to_be_visible()
        batch = httpx.get(server.url + "api/stats").json()["library"]["batches"][-1]
        assert batch["matched"] + batch["contradicted"] == 3  # every choice called
        agreement = round(100 * batch["agreement"])
        expect(page.locator("#overlay-body")).to_contain_text(
            f"This batch: matched {batch['matched']} · contradicted {batch['contradicted']}"
            f" · not predicted 0 · agreement {agreement}%"
        )
        press(page.locator("#overlay"))
        expect(page.locator("#overlay")).to_be_hidden()

        # ending asks first: keep rating, then end; the other pages are still served
        press(page.locator("#end"))
        expect(page.locator("#confirm")).to_be_visible()
        press(page.locator("#confirm-keep"))
        expect(page.locator("#confirm")).to_be_hidden()
        ready(page, 3)
        press(page.locator("#end"))
        press(page.locator("#confirm-end"))
        expect(page.locator("body")).to_have_attribute("data-state", "ended")
        expect(page.locator("#overlay-title")).to_have_text("Rating ended")
        expect(page.locator("#overlay-body")).to_contain_text(re.compile(r"^3 choices in "))
        expect(page.locator("#overlay-links a")).to_have_count(2)
        for url in ("stats", "gallery", "api/gallery"):
            assert httpx.get(server.url + url).status_code == 200
        page.reload()  # a reload still shows the ended state
        expect(page.locator("body")).to_have_attribute("data-state", "ended")
        assert standing_choices(folder) == 3
    finally:
        context.close()
        server.stop()


def test_a_tablet_on_the_network_rates_through_the_printed_address(browser, folder):
    server = Server(folder, "--host", "0.0.0.0")
    url = urlsplit(server.url)
    tablet = browser.new_context(
        viewport={"width": 820, "height": 1180}, has_touch=True, is_mobile=True
    )
    try:
        page = tablet.new_page()
        here = f"http://127.0.0.1:{url.port}"  # the printed address's token; tests stay local
        page.goto(f"{here}/?{url.query}")
        ready(page, 0)
        a, b = drawn(page)  # upright: one above the other
        assert b["top"] >= a["bottom"] and a["width"] >= 780
        page.locator("#stage .choice").nth(1).tap()
        ready(page, 1)
        assert standing_choices(folder) == 1
        page.goto(f"{here}/stats")  # the token is kept in a cookie for the other pages
        expect(page.locator("body")).not_to_have_attribute("data-state", "loading")
        assert httpx.get(f"{here}/api/stats").status_code == 403  # not without it
    finally:
        tablet.close()
        server.stop()


def test_four_wide_images_on_a_phone_stand_in_one_column(browser, folder):
    server = Server(folder, "--choices", "4")
    phone = browser.new_context(**SCREENS["390x844-touch"])
    try:
        page = phone.new_page()
        page.goto(server.url)
        ready(page, 0)
        images = drawn(page)  # one column draws 3:2 images larger than two by two
        assert len(images) == 4 and len({(i["width"], i["height"]) for i in images}) == 1
        assert all(below["top"] >= above["bottom"] for above, below in pairwise(images))
        assert images[0]["width"] > 240 and images[-1]["bottom"] <= 844
    finally:
        phone.close()
        server.stop()


def swipe(page: Page, x0: float, x1: float, y: float) -> None:
    """A finger drawn sideways across the screen, as the touch screen reports it."""
    cdp = page.context.new_cdp_session(page)
    steps = [x0 + (x1 - x0) * i / 5 for i in range(6)]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y}]})
    for x in steps[1:]:
        cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]}
        )
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_on_a_phone_a_swipe_skips_or_undoes(browser, folder):
    server = Server(folder, "--repeats", "0")
    phone = browser.new_context(**SCREENS["390x844-touch"])
    try:
        page = phone.new_page()
        page.goto(server.url)
        ready(page, 0)
        page.locator("#stage .choice").nth(0).tap()
        ready(page, 1)
        pair = page.locator("body").get_attribute("data-pair")
        swipe(page, 320, 60, 300)  # to the left: skip, nothing recorded
        expect(page.locator("body")).not_to_have_attribute("data-pair", pair)
        assert standing_choices(folder) == 1
        swipe(page, 60, 320, 300)  # to the right: undo
        ready(page, 0)
        assert standing_choices(folder) == 0
    finally:
        phone.close()
        server.stop()
