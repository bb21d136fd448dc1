"""The ``tastemaker`` app and what every command shares: a :class:`TastemakerError`
becomes one line on stderr (exit code 1), naming a setting by its flag; long work shows
a progress bar."""

from __future__ import annotations

import functools
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TimeRemainingColumn,
)
from rich.text import Text
from typer.core import TyperArgument, TyperCommand, TyperGroup

from tastemaker import __version__
from tastemaker.errors import SettingError, TastemakerError
from tastemaker.progress import Progress as ProgressFn
from tastemaker.storage.library import Library, ScanReport, open_library
from tastemaker.storage.store import DEFAULT_PROFILE


class Argument(TyperArgument):
    """An argument written as click writes it, in capitals: ``FOLDER``, ``[FOLDER]``,
    ``PATHS...``; its help says what it takes (typer writes ``{folder}`` in the usage line
    and a Python type such as ``<list[Path]>`` beside it)."""

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        return [self.display_name_raw if self.required else f"[{self.display_name_raw}]"]

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def readable(params: list[Any]) -> list[Any]:
    """``params`` shown as a well-made CLI shows them: a flag with no ``<bool>`` (it takes
    no value), an argument as an :class:`Argument`. Typer builds the parameter objects
    itself and takes no class for them, hence the class set here."""
    for param in params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif isinstance(param, TyperArgument) and not isinstance(param, Argument):
            name = param.name.upper() if param.name else "ARG"
            param.metavar = name + ("..." if param.nargs != 1 else "")
            param.__class__ = Argument
    return params


class Command(TyperCommand):
    """A command whose help reads like a well-made CLI's (see :func:`readable`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return readable(super().get_params(ctx))


class Group(TyperGroup):
    """The app, its own options shown as its commands' are."""

    def get_params(self, ctx: Any) -> list[Any]:
        return readable(super().get_params(ctx))


def reflow(doc: str) -> str:
    """A docstring as help: each paragraph one line, for the help to wrap at the screen's
    width (typer keeps the docstring's own line breaks, so the help breaks twice)."""
    paragraphs = re.split(r"\n\s*\n", inspect.cleandoc(doc))
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


UNWRAPPED = 100_000  # the width of a pipe or a log: wide enough for any table row


def console(stderr: bool = False) -> Console:
    """Rich's console; when the output is not a terminal (a pipe, a log), neither lines
    nor table cells are wrapped at 80 columns, so a line read or searched there stays
    whole."""
    if (sys.stderr if stderr else sys.stdout).isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, soft_wrap=True, width=UNWRAPPED)


app = typer.Typer(
    cls=Group,
    help="Train a model of your own taste in images: A/B-rate them in the browser, "
    "then train and score.\n\n"
    "'Classic' in the help means the aesthetic scorer tastemaker grew from (Chris "
    "Goringe's Elo A/B rating and MLP training), kept with its exact numbers.",
    no_args_is_help=True,
    add_completion=False,
)
out = console()
err = console(stderr=True)

# text, not Path: Path("") is the current folder, and an empty name must not mean that
Folder = Annotated[str, typer.Argument(help="The folder of images (sub-folders included).")]
Store = Annotated[
    Path | None,
    typer.Option(
        "--store",
        help="Keep the library's store (choices, cache, models) in this folder instead of "
        "FOLDER/.tastemaker, e.g. for a folder you cannot write to; or set TASTEMAKER_STORE.",
    ),
]
Profile = Annotated[
    str,
    typer.Option(
        "--profile",
        help="Whose taste: the profile whose choices, ratings and models this reads and "
        "writes (images and their embeddings are shared by all).",
    ),
]
# what --format json was called before; kept, out of the help, so that scripts go on working
JsonAlias = Annotated[bool, typer.Option("--json", hidden=True, help="Same as --format json.")]
PRINTED_FORMATS = ("text", "json")
RatingsOption = typer.Option(
    help="Database scores: elo (the classic Elo, updated choice by choice) or bt "
    "(Bradley-Terry over all choices)."
)


def flag(setting: str) -> str:
    """The option that sets ``setting`` (a settings field): ``typical_seconds`` is
    ``--typical-seconds``, as typer names a parameter's option."""
    return "--" + setting.replace("_", "-")


def message(error: TastemakerError) -> str:
    """The error as the CLI says it: a setting is named by its flag."""
    return error.naming(flag) if isinstance(error, SettingError) else str(error)


def command(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Register a command whose TastemakerError becomes one line, not a traceback."""
    if fn is None:
        return functools.partial(command, name=name)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TastemakerError as e:
            err.print(f"[bold red]Error:[/] {escape(message(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt as e:  # its message, if any, says what is kept
            said = " ".join(["Interrupted.", *map(str, e.args)])
            err.print(said, markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None

    return app.command(name, cls=Command, help=reflow(fn.__doc__ or ""))(run)


class RateColumn(ProgressColumn):
    """Items per second (images/s while embedding)."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.1f}/s" if task.speed else "", style="progress.data.speed")


class CountedColumn(ProgressColumn):
    """A column for jobs with a count; blank on the status line, which has none."""

    def __init__(self, column: ProgressColumn) -> None:
        super().__init__()
        self.column = column

    def render(self, task: Task) -> Any:
        return Text("") if task.total is None else self.column.render(task)


STATUS = ""  # the status line's key among the jobs


@contextmanager
def progress_bar() -> Iterator[ProgressFn]:
    """A rich progress bar (on stderr) that library jobs drive through a callback; it
    appears only once there is something to report. A report with a total of 0 is a
    status (see :mod:`tastemaker.progress`): one line, hidden once a job counts."""
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        *map(CountedColumn, (MofNCompleteColumn(), RateColumn(), TimeRemainingColumn())),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # drawn only on a terminal; elsewhere not even a newline
    )
    tasks: dict[str, Any] = {}

    def report(description: str, done: int, total: int) -> None:
        # one bar per job; a job may change its description ("search: best 73.0% ...")
        job = description.split(":")[0] if total else STATUS
        if not tasks:
            bar.start()
        if job not in tasks:
            tasks[job] = bar.add_task(description, total=total or None)
        bar.update(
            tasks[job], completed=done, total=total or None, description=description, visible=True
        )
        if total and STATUS in tasks:
            bar.update(tasks[STATUS], visible=False)
        if not total:
            bar.refresh()  # a new step shows at once, however short

    try:
        yield report
    finally:
        if tasks:
            bar.stop()


def scanned(
    folder: str,
    store: Path | None,
    check: Callable[[Library], object] | None = None,
    create: bool = False,
    tell_all: bool = False,
    report: ProgressFn | None = None,
    profile: str = DEFAULT_PROFILE,
) -> tuple[Library, ScanReport]:
    """Open the library in ``folder`` for ``profile`` (creating it, and the profile, only
    if ``create``: a command that reads refuses a folder that is no library yet), run
    ``check`` (of its output paths, say) and bring it up to date on ``report`` (a
    command's own progress bar, or one of its own), naming each unreadable file once
    (every one if ``tell_all``), the others in one line."""
    library = open_library(folder, store=store, create=create, profile=profile)
    try:
        if check:
            check(library)
        with progress_bar() if report is None else nullcontext(report) as shown:
            shown(f"Scanning {library.root}", 0, 0)
            result = library.scan(shown)
        new = library.untold(result.unreadable)
    except BaseException:
        library.close()
        raise
    report_skipped(result.unreadable if tell_all else new)
    told = 0 if tell_all else len(result.unreadable) - len(new)
    if told:
        files = "file" if told == 1 else "files"
        scan = f"tastemaker scan {folder}" + (f" --store {store}" if store else "")
        line = f"{told} unreadable {files} skipped, named before ({scan} lists them)"
        err.print(line, highlight=False, soft_wrap=True)
    return library, result


def report_skipped(problems: Iterable[tuple[object, str]]) -> None:
    """One line per file that could not be read, naming it; the job went on without it."""
    for path, problem in problems:
        line = f"[yellow]Skipped[/] {escape(str(path))}: {escape(problem)}"
        err.print(line, highlight=False, soft_wrap=True)


def printed_format(fmt: str | None, as_json: bool = False, hint: str = "") -> str:
    """How a command prints its result: --format (text or json), or json for --json."""
    fmt = (fmt or ("json" if as_json else "text")).lower()
    if fmt not in PRINTED_FORMATS:
        raise TastemakerError(f"--format is text or json, not {fmt!r}{hint}")
    return fmt


def check_port(port: int | None) -> None:
    if port is not None and not 0 <= port <= 65535:
        raise TastemakerError(f"--port {port}: give a port from 1 to 65535 (0: any free one)")


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
