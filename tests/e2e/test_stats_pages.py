"""The statistics page and the gallery in a real browser (Debian's Chromium through
Playwright), against a real ``tastemaker rate`` process, on a library rated in batches."""

from pathlib import Path

import httpx
import pytest
from conftest import Server, make_images
from playwright.sync_api import Page, expect
from rated import rate

from tastemaker.storage.library import open_library
from tastemaker.workflows.reports import progress_data

pytestmark = pytest.mark.e2e

WINDOWS = [  # (width, height, a touch screen)
    (1920, 1080, False),
    (1280, 720, False),
    (390, 844, True),
]


@pytest.fixture
def folder(tmp_path) -> Path:
    """16 images (4 of them tall, in a sub-folder), rated in 5 batches of 5 choices."""
    make_images(tmp_path / "lib", 12, size=(400, 260))
    make_images(tmp_path / "lib" / "tall", 4, prefix="tall", size=(120, 400))
    with open_library(tmp_path / "lib") as library:
        library.scan()
        rate(library, 25, batch=5).close()
    return tmp_path / "lib"


def data(page: Page, selector: str, key: str) -> list[str]:
    return page.locator(selector).evaluate_all(f"els => els.map(e => e.dataset.{key})")


def test_the_statistics_page_draws_the_four_charts(browser, folder):
    server = Server(folder)
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(server.url)
        expect(page.locator("header nav a[href='/stats']")).to_have_text("statistics")
        page.goto(server.url + "stats")
        expect(page.locator("body")).to_have_attribute("data-state", "ready")
        expect(page.locator("#summary [data-key=choices] b")).to_have_text("25")
        with open_library(folder) as library:
            expected = progress_data(library.store).batches
        assert len(expected) == 5
        # agreement: one point per batch the database made a call in, and the ceiling
        called = [b for b in expected if b.agreement is not None]
        assert len(called) >= 4
        expect(page.locator("#agreement svg circle.point")).to_have_count(len(called))
        # the server's session has chosen nothing: its batch under way is empty
        expect(page.locator("#agreement svg circle.current")).to_have_count(0)
        expect(page.locator("#agreement svg .ref.ceiling")).to_contain_text("ceiling 75% (generic)")
        ys = [float(y) for y in data(page, "#agreement svg circle.point", "y")]
        assert ys == pytest.approx([b.agreement for b in called])
        # convergence: the first batch starts from a flat ranking, so one point fewer
        expect(page.locator("#convergence svg circle.point")).to_have_count(4)
        ys = [float(y) for y in data(page, "#convergence svg circle.point", "y")]
        assert ys == pytest.approx([b.convergence for b in expected[1:]])
        # histograms: every image counted once
        per_image = [int(n) for n in data(page, "#per-image svg rect.bar", "count")]
        assert sum(per_image) == 16
        scores = [int(n) for n in data(page, "#scores svg rect.bar", "count")]
        assert sum(scores) == 16
        expect(page.locator("#scores svg.model")).to_have_count(0)  # no model in the loop
        tooltip = page.locator("#agreement svg circle.point title").first
        assert f"batch {called[0].number}:" in tooltip.text_content()
    finally:
        server.stop()


def test_the_gallery_sorts_filters_and_enlarges(browser, folder):
    server = Server(folder)
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(server.url + "gallery")
        expect(page.locator("body")).to_have_attribute("data-state", "ready")
        tiles = page.locator("#grid .tile")
        expect(tiles).to_have_count(16)
        scores = [float(s) for s in data(page, "#grid .tile", "score")]
        assert scores == sorted(scores, reverse=True)
        with open_library(folder) as library:
            best = max(library.store.ratings(), key=lambda r: r.elo)
        assert scores[0] == pytest.approx(best.elo)
        # the thumbnails in view are loaded (lazily, from /api/thumb), small
        page.wait_for_function(
            "() => { const shown = [...document.querySelectorAll('#grid .tile img')].slice(0, 6);"
            " return shown.length > 0 && shown.every(i => i.complete && i.naturalWidth > 0); }"
        )
        first = tiles.first.locator("img")
        assert "/api/thumb/" in first.get_attribute("src")
        assert first.evaluate("i => Math.max(i.naturalWidth, i.naturalHeight)") == 256

        page.select_option("#order", "asc")  # worst first
        page.wait_for_function(  # the grid is emptied, then refilled: wait for the new first
            "() => { const t = document.querySelector('#grid .tile'); "
            f"return t !== null && Number(t.dataset.score) === {min(scores)!r}; }}"
        )

        page.select_option("#folder", "tall")
        expect(tiles).to_have_count(4)
        assert all(p.startswith("tall/") for p in data(page, "#grid .tile", "path"))
        assert "folder=tall" in page.url

        box = tiles.nth(1).locator("img").bounding_box()
        tiles.nth(1).click()
        lightbox = page.locator("#lightbox")
        expect(lightbox).to_be_visible()
        big = lightbox.locator("img")
        assert "/api/image/" in big.get_attribute("src")
        page.wait_for_function("() => document.querySelector('#lightbox img').naturalWidth > 0")
        enlarged = big.evaluate(
            "i => { const r = i.getBoundingClientRect(); const s = Math.min("
            "r.width / i.naturalWidth, r.height / i.naturalHeight); "
            "return [i.naturalWidth * s, i.naturalHeight * s]; }"
        )
        assert enlarged[1] > 2 * box["height"]  # shown much larger than its tile
        expect(lightbox.locator(".caption")).to_contain_text("tall/")
        page.keyboard.press("Escape")
        expect(lightbox).to_be_hidden()
    finally:
        server.stop()


def test_with_a_model_the_gallery_sorts_by_it(browser, folder, tiny_model):
    server = Server(folder, "--model", str(tiny_model))
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(server.url + "stats")
        expect(page.locator("body")).to_have_attribute("data-state", "ready")
        model_bars = [int(n) for n in data(page, "#scores svg.model rect.bar", "count")]
        assert sum(model_bars) == 16
        page.goto(server.url + "gallery?sort=model")
        expect(page.locator("body")).to_have_attribute("data-state", "ready")
        expect(page.locator("#grid .tile")).to_have_count(16)
        expect(page.locator("#sort")).to_have_value("model")
        model = [float(s) for s in data(page, "#grid .tile", "modelScore")]
        assert model == sorted(model, reverse=True)
        expect(page.locator("#grid .tile .model").first).to_contain_text("model #1 ")
        expect(page.locator("#grid .tile .model").first).not_to_contain_text("±")  # an MLP
    finally:
        server.stop()


def test_a_kernel_model_shows_each_scores_uncertainty(browser, folder, tiny_kernel_model):
    with Server(folder, "--model", str(tiny_kernel_model)) as server:
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(server.url + "gallery?sort=model")
        expect(page.locator("body")).to_have_attribute("data-state", "ready")
        tiles = page.locator("#grid .tile")
        expect(tiles).to_have_count(16)
        spread = [float(u) for u in data(page, "#grid .tile", "modelUncertainty")]
        assert all(u > 0 for u in spread)
        score = float(tiles.first.get_attribute("data-model-score"))
        shown = f"model #1 {score:+.3f} ± {spread[0]:.2f}"
        expect(tiles.first.locator(".model")).to_have_text(shown)
        tiles.first.click()
        expect(page.locator("#lightbox .caption")).to_contain_text(f"± {spread[0]:.2f}")


def tile(page: Page, key: str) -> tuple[str, str]:
    """A summary figure's value and label."""
    figure = page.locator(f"#summary [data-key={key}]")
    return figure.locator("b").inner_text(), figure.locator("span").inner_text()


def test_before_the_first_batch_the_page_shows_the_batch_under_way(browser, tmp_path):
    """Sets of three, so that choices, appearances and pairwise outcomes all differ: the
    page gives each the store's count, under its own name, and the chart's mean is the
    appearances per image beside it."""
    folder = tmp_path / "lib"
    make_images(folder, 14)
    options = ("--choices", "3", "--pairing", "seed", "--seed", "0", "--repeats", "0")
    with Server(folder, *options) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for _ in range(30):  # of a batch of 100
                s = client.get("/api/next").json()
                best = min(im["id"] for im in s["images"])
                choice = {"pair": s["pair"], "winner": best}
                assert client.post("/api/choose", json=choice).is_success
        with open_library(folder) as library:
            choices = library.store.comparisons()
            current = progress_data(library.store).current
        appearances = sum(len(c.shown) for c in choices)
        pairwise = sum(len(c.shown) - 1 for c in choices)
        assert (len(choices), appearances, pairwise) == (30, 90, 60)
        assert current is not None and current.agreement is not None

        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(server.url + "stats")
        expect(page.locator("body")).to_have_attribute("data-state", "ready")
        per_image = f"{appearances / 14:.2f} per image"
        assert tile(page, "choices") == ("30", f"choices ({30 / 14:.2f} per image)")
        assert tile(page, "appearances") == ("90", f"appearances ({per_image})")
        assert tile(page, "pairwise-outcomes") == ("60", "pairwise outcomes")
        assert tile(page, "batches") == ("0", "batches finished")
        value, label = tile(page, "current")
        assert value == "30 / 100" and label.endswith(f"{round(100 * current.agreement)}%")
        # the batch under way is drawn, hollow, where no batch has ended yet
        expect(page.locator("#agreement svg circle.point")).to_have_count(1)
        point = page.locator("#agreement svg circle.current")
        assert float(point.get_attribute("data-y")) == pytest.approx(current.agreement)
        assert point.get_attribute("data-x") == "30"
        expect(page.locator("#per-image svg .mean text")).to_have_text(f"mean {per_image}")
        counts = [int(n) for n in data(page, "#per-image svg rect.bar", "count")]
        times = [int(float(x)) for x in data(page, "#per-image svg rect.bar", "from")]
        assert sum(n * t for n, t in zip(counts, times, strict=True)) == appearances
        expect(page.locator("#convergence .empty")).to_have_text(
            "No batch finished yet (30 of 100 choices so far)."
        )


def test_gallery_captions_fit_their_tiles_at_every_window_size(
    browser, tmp_path, tiny_kernel_model
):
    """The longest captions (three-digit ranks far apart, a kernel model's uncertainty)
    wrap inside their tiles, on a desktop and on a phone."""
    folder = tmp_path / "lib"
    make_images(folder, 120, size=(40, 30))
    with open_library(folder) as library:
        library.scan()
        rate(library, 60, batch=20, taste=lambda i: -i).close()
    with Server(folder, "--model", str(tiny_kernel_model)) as server:
        for width, height, touch in WINDOWS:
            context = browser.new_context(
                viewport={"width": width, "height": height}, is_mobile=touch, has_touch=touch
            )
            page = context.new_page()
            page.goto(server.url + "gallery?sort=model&order=asc")  # ranks 120, 119, …
            expect(page.locator("body")).to_have_attribute("data-state", "ready")
            expect(page.locator("#grid .tile .model").first).to_contain_text("model #120 ")
            expect(page.locator("#grid .tile .model").first).to_contain_text("±")
            expect(page.locator("#grid .tile .far").first).to_contain_text(" places")
            clipped = page.locator(
                ".tile .caption, .tile .caption .row, .tile .caption .row span"
            ).evaluate_all(
                "els => els.filter(e => e.scrollWidth > e.clientWidth"
                " || e.getBoundingClientRect().right > e.closest('.tile')"
                ".getBoundingClientRect().right + 0.5).map(e => e.textContent)"
            )
            assert clipped == [], (width, height)
            context.close()


def test_the_charts_are_drawn_at_their_width_so_a_phone_can_read_them(browser, folder):
    """On a phone the charts are drawn for its width (not a desktop chart shrunk: text
    of a few pixels), and drawn again when the window's width changes."""
    scale = (
        "() => [...document.querySelectorAll('svg.chart')].every(s => Math.abs("
        "s.getBoundingClientRect().width / s.viewBox.baseVal.width - 1) < 0.02)"
    )
    with Server(folder) as server:
        context = browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
        )
        page = context.new_page()
        page.goto(server.url + "stats")
        expect(page.locator("body")).to_have_attribute("data-state", "ready")
        expect(page.locator("svg.chart")).to_have_count(4)
        assert page.evaluate(scale)
        assert page.locator("#agreement svg").evaluate("s => s.viewBox.baseVal.width") < 400
        page.set_viewport_size({"width": 1280, "height": 720})
        page.wait_for_function(scale)
        assert page.locator("#agreement svg").evaluate("s => s.viewBox.baseVal.width") > 500
        context.close()


def test_batches_the_database_foresaw_nothing_in_are_said_so(browser, tmp_path):
    """Two choices among never-compared images (scored alike, so nothing is predicted)
    end a batch without an agreement: the chart says why it is empty, not 'no choice'."""
    folder = tmp_path / "lib"
    make_images(folder, 12)
    with Server(folder, "--batch", "2", "--seed", "0") as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for _ in range(2):
                s = client.get("/api/next").json()
                choice = {"pair": s["pair"], "winner": s["images"][0]["id"]}
                assert client.post("/api/choose", json=choice).is_success
        with open_library(folder) as library:
            (batch,) = progress_data(library.store).batches
        assert batch.agreement is None
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(server.url + "stats")
        expect(page.locator("body")).to_have_attribute("data-state", "ready")
        expect(page.locator("#agreement .empty")).to_contain_text("No agreement yet")
