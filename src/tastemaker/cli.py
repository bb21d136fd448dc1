"""The ``tastemaker`` command. Each command opens the library, calls one workflow and
turns a :class:`TastemakerError` into one line on stderr (exit code 1)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from tastemaker import __version__
from tastemaker.errors import TastemakerError
from tastemaker.progress import Progress as ProgressFn
from tastemaker.rate import RateSession, RateSettings
from tastemaker.rating import elo, pairing
from tastemaker.stats import describe, describe_agreement, library_stats
from tastemaker.storage.library import Library, ScanReport, open_library

app = typer.Typer(
    help="Train a model of your own taste in images: A/B-rate them in the browser, "
    "then train and score.",
    no_args_is_help=True,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)

Folder = Annotated[Path, typer.Argument(help="The folder of images (sub-folders included).")]


def command(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Register a command whose TastemakerError becomes one line, not a traceback."""
    if fn is None:
        return functools.partial(command, name=name)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TastemakerError as e:
            err.print(f"[bold red]Error:[/] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("Interrupted.")
            raise typer.Exit(130) from None

    return app.command(name)(run)


@contextmanager
def progress_bar() -> Iterator[ProgressFn]:
    """A rich progress bar (on stderr) that library jobs drive through a callback; it
    appears only once there is something to report."""
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def report(description: str, done: int, total: int) -> None:
        if not tasks:
            bar.start()
        if description not in tasks:
            tasks[description] = bar.add_task(description, total=total)
        bar.update(tasks[description], completed=done, total=total)

    try:
        yield report
    finally:
        if tasks:
            bar.stop()


def scanned(folder: Path) -> tuple[Library, ScanReport]:
    """Open the library in ``folder`` and bring it up to date, telling what changed."""
    library = open_library(folder)
    with progress_bar() as report:
        result = library.scan(report)
    for path, problem in result.unreadable:
        err.print(f"[yellow]Skipped[/] {path}: {problem}", highlight=False)
    return library, result


def version_callback(value: bool) -> None:
    if value:
        out.print(f"tastemaker {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, help="Show the version.")
    ] = False,
) -> None:
    """Train a model of your own taste in images."""


@command
def scan(folder: Folder) -> None:
    """Find the images in FOLDER (new, moved, missing, unreadable) and update its library."""
    library, result = scanned(folder)
    with library:
        out.print(
            f"{result.present} images ({result.added} new, {result.changed} changed, "
            f"{result.missing} missing, {len(result.unreadable)} unreadable)"
        )


@command
def rate(
    folder: Folder,
    choices: Annotated[int, typer.Option(help="Images per set, 2 to 4.")] = 2,
    batch: Annotated[int, typer.Option(help="Choices between batch reports.")] = 100,
    host: Annotated[str, typer.Option(help="Address to serve the page on.")] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="Port; default 8765, or a free one if that is taken.")
    ] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open a browser.")
    ] = False,
    k: Annotated[float, typer.Option("--k", help="Elo K (the seed's 0.8).")] = elo.K,
    lcw: Annotated[
        float,
        typer.Option(help="Favour less-compared images: weight (1-lcw)^comparisons; 0 = uniform."),
    ] = pairing.LCW,
    seed: Annotated[int | None, typer.Option(help="Seed for the choice of sets.")] = None,
) -> None:
    """Rate FOLDER's images in the browser, choosing the one you prefer from each set.

    Keys: 1-4 or arrows choose, z or Backspace undo, s skip, q end. Every choice is saved
    before the next set appears. Ctrl-C ends the session and prints its statistics.
    """
    from tastemaker.web.serve import serve

    settings = RateSettings(choices=choices, batch=batch, k=k, lcw=lcw)
    library, result = scanned(folder)
    with library:
        out.print(f"{result.present} images in {library.root}")
        session = RateSession(library, settings, seed=seed)
        out.print("Rating page (Ctrl-C to stop):")
        serve(session, host, port, open_browser=not no_browser, announce=out.print)
        s = session.session_stats()
        out.print(
            f"Session: {s.choices} choices in {s.seconds / 60:.1f} min "
            f"({s.per_minute:.1f}/min); {describe_agreement(s.agreement)}"
        )
        out.print(describe(library_stats(library)), highlight=False)


@command
def stats(
    folder: Folder,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Progress and agreement of FOLDER's library: images, comparisons, batches."""
    library, _ = scanned(folder)
    with library:
        result = library_stats(library)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        out.print(describe(result), highlight=False)


@command
def export(
    folder: Folder,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (.csv or .json).")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or json; default from the file name.")
    ] = None,
    comparisons: Annotated[
        bool,
        typer.Option("--comparisons", help="Export the raw choices (CSV) instead of scores."),
    ] = False,
) -> None:
    """Export FOLDER's database scores (CSV or JSON), or its raw comparisons (CSV)."""
    from tastemaker.import_export import export_comparisons, export_scores

    library, _ = scanned(folder)
    with library:
        if comparisons:
            n = export_comparisons(library, output)
            out.print(f"Wrote {n} pairwise outcomes to {output}")
        else:
            n = export_scores(library, output, fmt)
            out.print(f"Wrote {n} scores to {output}")


@command(name="import")
def import_scores(
    folder: Folder,
    source: Annotated[
        Path,
        typer.Argument(help="score.json (either seed format) or a CSV with relative_path,score"),
    ],
) -> None:
    """Import starting scores from an older tool's score file into FOLDER's library."""
    from tastemaker.import_export import import_scores

    library, _ = scanned(folder)
    with library:
        report = import_scores(library, source)
    out.print(f"Imported {report.imported} scores from {source}")
    if report.unmatched:
        shown = ", ".join(report.unmatched[:5]) + (" …" if len(report.unmatched) > 5 else "")
        out.print(f"{len(report.unmatched)} paths match no image in the library: {shown}")


@command
def demo(
    folder: Annotated[Path, typer.Argument(help="Where to make the demo library.")] = Path(
        "tastemaker-demo"
    ),
    count: Annotated[int, typer.Option(help="How many images to generate.")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the generated images.")] = 0,
    port: Annotated[int | None, typer.Option(help="Port; default 8765 or a free one.")] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open a browser.")
    ] = False,
    generate_only: Annotated[
        bool, typer.Option("--generate-only", help="Make the images, do not start rating.")
    ] = False,
) -> None:
    """Make a sample library of generated images in FOLDER and rate it."""
    from tastemaker.demo_images import generate_demo_images

    if not (folder.is_dir() and any(folder.iterdir())):
        with progress_bar() as report:
            done = 0

            def one() -> None:
                nonlocal done
                done += 1
                report("Generating demo images", done, count)

            generate_demo_images(folder, count=count, seed=seed, on_image=one)
        out.print(f"Made {count} demo images in {folder}")
    if not generate_only:
        rate(folder, port=port, no_browser=no_browser)
