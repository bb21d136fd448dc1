"""The HTML pages: one document (``pages/page.html``) around each page's own body, so
the head and the statistics/gallery header are written once. Pages load their scripts
and styles from files only (the CSP allows nothing inline).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path
from string import Template

from fastapi.responses import HTMLResponse

from tastemaker.storage.library import Library

STATIC = Path(__file__).parent / "static"  # served as files under /static
TEMPLATES = Path(__file__).parent / "pages"  # rendered here, never served raw
STYLE = ("stylesheet", "/static/style.css")
ICON = ("icon", "/static/favicon.svg")  # every page's, so no browser asks for /favicon.ico
VIEWS = ("stats", "gallery")  # the pages under one header whose nav marks the current one


@dataclass(frozen=True)
class Page:
    title: str  # after "tastemaker · "
    links: tuple[tuple[str, str], ...]  # (rel, href) of the head's links


PAGES = {
    "index": Page("rate", (STYLE, ICON)),
    "stats": Page("statistics", (STYLE, ("stylesheet", "/static/views.css"), ICON)),
    "gallery": Page("gallery", (STYLE, ("stylesheet", "/static/views.css"), ICON)),
    "docs": Page("API", (("stylesheet", "/docs-assets/swagger-ui.css"), ICON)),
}


def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def render(name: str, profile: str | None = None) -> str:
    """The page ``name`` of :data:`PAGES`: its body file (``pages/<name>.html``) in the
    shared document, under the views' header for the statistics and gallery pages; with
    ``profile``, its header and title name the profile."""
    spec = PAGES[name]
    shown = (
        ""
        if profile is None
        else f'\n    <span class="profile" title="Whose choices these are">{escape(profile)}</span>'
    )
    body = _template(f"{name}.html").substitute(profile=shown).rstrip("\n")
    if name in VIEWS:
        current = {view: ' aria-current="page"' if view == name else "" for view in VIEWS}
        body = _template("view.html").substitute(current, main=body, profile=shown).rstrip("\n")
    links = "\n".join(f'  <link rel="{rel}" href="{href}">' for rel, href in spec.links)
    title = spec.title if profile is None else f"{spec.title} · {escape(profile)}"
    return _template("page.html").substitute(title=title, links=links, body=body)


def page(name: str, library: Library | None = None) -> HTMLResponse:
    """One of the package's HTML pages, checked for a newer version on every visit; a
    page over a library with several profiles names the one it shows."""
    several = library is not None and len(library.store.profiles()) > 1
    profile = library.profile if several and library is not None else None
    return HTMLResponse(render(name, profile), headers={"Cache-Control": "no-cache"})
