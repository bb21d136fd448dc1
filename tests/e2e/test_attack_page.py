"""A page of another site, open in the person's browser while they rate, tries what it can
against the rating server (issue #10: it withdrew 12 of 12 choices and ended the session).
Two loopback origins in one real Chromium: the person's page on 127.0.0.1, the other
site's on 127.0.0.2."""

import functools
import http.server
import threading

import pytest
from conftest import Server, make_images
from playwright.sync_api import expect

from tastemaker.storage.library import open_library

pytestmark = pytest.mark.e2e

ATTACK = """<!doctype html>
<html><body>
<form id="undo" method="post" action="{target}/api/undo" enctype="text/plain">
  <input name='{{"choice": 1, "x": "' value='"}}'>
</form>
<form id="end" method="post" action="{target}/api/end"></form>
<img id="peek" src="{target}/api/image/{image}">
<script>
(async () => {{
  const T = "{target}";
  const hits = [];
  for (let i = 0; i < 15; i++) {{
    hits.push(fetch(T + "/api/undo", {{method: "POST", mode: "no-cors"}}));
    hits.push(fetch(T + "/api/undo", {{method: "POST", mode: "no-cors",
      body: new URLSearchParams()}}));
    hits.push(fetch(T + "/api/undo", {{method: "POST", mode: "no-cors",
      headers: {{"Content-Type": "text/plain"}}, body: '{{"choice": ' + (i + 1) + '}}'}}));
    hits.push(fetch(T + "/api/choose", {{method: "POST", mode: "no-cors",
      headers: {{"Content-Type": "text/plain"}}, body: '{{"pair": "x", "winner": "1"}}'}}));
  }}
  for (let i = 0; i < 300; i++) hits.push(fetch(T + "/api/next", {{mode: "no-cors"}}));
  hits.push(fetch(T + "/api/end", {{method: "POST", mode: "no-cors"}}));
  await Promise.allSettled(hits);
  const peek = document.getElementById("peek");
  await peek.decode().catch(() => {{}});
  document.body.dataset.peeked = String(peek.naturalWidth);
  document.body.dataset.done = "yes";
}})();
</script>
</body></html>
"""


@pytest.fixture
def other_site(tmp_path):
    """A plain HTTP server for the other site's page, on 127.0.0.2."""
    root = tmp_path / "other-site"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.2", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.2:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_another_sites_page_cannot_touch_the_session(browser, tmp_path, other_site):
    make_images(tmp_path / "lib", 8, size=(120, 80))
    server = Server(tmp_path / "lib")
    root, other_url = other_site
    try:
        person = browser.new_page()
        blocked = []
        person.on("console", lambda m: blocked.append(m.text) if "Policy" in m.text else None)
        person.goto(server.url)
        body = person.locator("body")
        for n in range(1, 6):
            expect(body).to_have_attribute("data-state", "ready")
            person.keyboard.press("1")
            expect(body).to_have_attribute("data-choices", str(n))
        expect(body).to_have_attribute("data-state", "ready")
        on_screen = person.locator("#stage img").first.get_attribute("data-id")

        target = server.url.rstrip("/")
        (root / "attack.html").write_text(ATTACK.format(target=target, image=on_screen))
        attacker = browser.new_page()
        attacker.goto(f"{other_url}/attack.html")
        expect(attacker.locator("body")).to_have_attribute("data-done", "yes", timeout=30_000)
        assert attacker.locator("body").get_attribute("data-peeked") == "0"  # image unread
        for form in ("undo", "end"):  # a plain form post, navigating the other site's tab
            attacker.goto(f"{other_url}/attack.html")
            with attacker.expect_navigation():
                attacker.evaluate(f"document.getElementById('{form}').submit()")
            assert "another site" in attacker.content()

        assert server.process.poll() is None  # still serving
        assert person.evaluate("fetch('/api/stats').then(r => r.json())")["ended"] is False
        with open_library(tmp_path / "lib") as lib:
            assert len(lib.store.comparisons()) == 5
            assert lib.store.comparisons(include_withdrawn=True) == lib.store.comparisons()

        # the person's page carries on with the set it shows: not crowded out
        person.keyboard.press("2")
        expect(body).to_have_attribute("data-choices", "6")
        expect(person.locator("#message")).to_have_text("")
        with open_library(tmp_path / "lib") as lib:
            assert len(lib.store.comparisons()) == 6
        assert blocked == []  # the CSP blocked nothing of the page's own
    finally:
        server.stop()
