"""The commands: each opens the library, calls one workflow and prints what it did."""

from __future__ import annotations

import json
import math
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from tastemaker.cli.main import (
    Folder,
    JsonAlias,
    Profile,
    RatingsOption,
    Store,
    check_port,
    command,
    err,
    out,
    printed_format,
    progress_bar,
    report_skipped,
    scanned,
)
from tastemaker.cli.output import (
    describe,
    describe_agreement,
    describe_comparison,
    describe_embedded,
    describe_metrics,
)
from tastemaker.engines.parquet import DEFAULT_SHARD_SIZE, FAILED
from tastemaker.errors import TastemakerError
from tastemaker.features.layers import LayerChoice
from tastemaker.features.registry import DEFAULT_EXTRACTOR
from tastemaker.storage.library import Library, open_library
from tastemaker.storage.store import DEFAULT_PROFILE
from tastemaker.workflows.rate import RateSession, RateSettings, check_number
from tastemaker.workflows.reports import library_stats
from tastemaker.workflows.train import TrainSettings

if TYPE_CHECKING:
    from rich.console import Console

    from tastemaker.engines.batch import Job
    from tastemaker.model import TasteModel
    from tastemaker.workflows.score import LibraryScores
    from tastemaker.workflows.xmp_ratings import XmpReport


@command
def scan(folder: Folder, store: Store = None) -> None:
    """Find the images in FOLDER (new, moved, missing, unreadable) and update its library."""
    library, result = scanned(folder, store, create=True, tell_all=True)
    with library:
        copies = result.copies
        line = (
            f"{result.present} images ({result.added} new, {result.changed} changed, "
            f"{result.missing} missing, {len(result.unreadable)} unreadable)"
        )
        if copies:
            are = "file is a copy" if copies == 1 else "files are copies"
            line += f"; {copies} {are} of another, counted once"
        out.print(line, soft_wrap=True)


@command
def rate(
    folder: Folder,
    store: Store = None,
    profile: Profile = DEFAULT_PROFILE,
    choices: Annotated[int, typer.Option(help="Images per set, 2 to 4.")] = RateSettings.choices,
    batch: Annotated[int, typer.Option(help="Choices between batch reports.")] = RateSettings.batch,
    host: Annotated[
        str,
        typer.Option(
            help="Address to serve the page on; 0.0.0.0 lets the network in (plain HTTP), "
            "with a token in the printed URL."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="Port; default 8765, or a free one if that is taken.")
    ] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open a browser.")
    ] = False,
    k: Annotated[float, typer.Option("--k", help="Elo K (classic: 0.8).")] = RateSettings.k,
    lcw: Annotated[
        float,
        typer.Option(help="Favour less-compared images: weight (1-lcw)^comparisons; 0 = off."),
    ] = RateSettings.lcw,
    seed: Annotated[int | None, typer.Option(help="Seed for the choice of sets.")] = None,
    pairing: Annotated[
        str,
        typer.Option(
            help="active: the most informative pairs by a live Bradley-Terry fit, "
            "never-compared images first (fewer choices needed); classic: the classic "
            "scorer's random pairs, less-compared images weighted (1-lcw)^n."
        ),
    ] = RateSettings.pairing,
    weight_by_speed: Annotated[
        bool,
        typer.Option(
            "--weight-by-speed",
            help="Let a quick choice count more than a slow "
            "one: K times clamp(typical/taken, 0.5, 2).",
        ),
    ] = RateSettings.weight_by_speed,
    typical_seconds: Annotated[
        float | None,
        typer.Option(help="Typical response time for --weight-by-speed (default: your median)."),
    ] = RateSettings.typical_seconds,
    repeats: Annotated[
        float,
        typer.Option(
            help="Share of sets that repeat a pair you judged minutes ago (sides "
            "swapped), to measure your own consistency; 0 = none."
        ),
    ] = RateSettings.repeats,
    controversy: Annotated[
        float,
        typer.Option(
            help="cw: show images the model and database disagree on more, "
            "weight (1+cw)^|model - database| (standardised); 0 = off."
        ),
    ] = RateSettings.controversy,
    unsure: Annotated[
        float,
        typer.Option(
            help="Show the images the model is least sure of more (a kernel model's "
            "uncertainty u), weight (u / median u)^unsure; 0 = off."
        ),
    ] = RateSettings.unsure,
    model: Annotated[
        Path | None,
        typer.Option(
            help="Model to consult (the odd-one-out statistics): a file or a library "
            "folder (its latest model); default: this library's latest model, if any."
        ),
    ] = None,
    no_model: Annotated[bool, typer.Option("--no-model", help="Do not consult a model.")] = False,
) -> None:
    """Rate FOLDER's images in the browser, choosing the one you prefer from each set.

    Keys: 1-4 or arrows choose, z or Backspace undo, s skip, a actual size, q end (it asks
    first); the page has buttons for them too. Every choice is saved before the next set
    appears. Ending on the page keeps the statistics and gallery served; Ctrl-C stops the
    server and prints the session's statistics.
    """
    from tastemaker.web.serve import serve

    check_port(port)
    settings = RateSettings(
        choices=choices,
        batch=batch,
        k=k,
        lcw=lcw,
        pairing=pairing,
        weight_by_speed=weight_by_speed,
        typical_seconds=typical_seconds,
        controversy=controversy,
        unsure=unsure,
        repeats=repeats,
    )
    library, result = scanned(folder, store, create=True, profile=profile)
    with library:
        out.print(f"{result.present} images in {library.root}")
        consulted = None if no_model else consult_model(library, model)
        session = RateSession(
            library,
            settings,
            seed=seed,
            model_scores=consulted.scores if consulted else None,
            model_uncertainties=consulted.uncertainties if consulted else None,
        )
        out.print("Rating page (Ctrl-C to stop):")
        try:
            serve(session, host, port, not no_browser, lambda line: out.print(line, soft_wrap=True))
        finally:
            session.close()
        s = session.session_stats()
        out.print(
            f"Session: {s.choices} choices in {s.seconds / 60:.1f} min "
            f"({s.per_minute:.1f}/min); {describe_agreement(s.agreement)}"
        )
        out.print(describe(library_stats(library)), highlight=False)


@command
def recompute(
    folder: Folder,
    store: Store = None,
    profile: Profile = DEFAULT_PROFILE,
    weight_by_speed: Annotated[
        bool,
        typer.Option(
            "--weight-by-speed/--no-weight-by-speed",
            help="Weigh every stored choice by its response time, or not.",
        ),
    ] = False,
    typical_seconds: Annotated[
        float | None, typer.Option(help="Typical response time (default: your median).")
    ] = None,
) -> None:
    """Recompute FOLDER's database scores from the stored choices.

    With --weight-by-speed, a quick choice counts more than a slow one (weights from the
    stored response times); without, every choice counts the same (the classic numbers).
    """
    from tastemaker.workflows.ratings import reweigh

    if typical_seconds is not None:
        check_number("typical_seconds", typical_seconds, 0, 3600, low_open=True)
    library, _ = scanned(folder, store, profile=profile)
    with library:
        typical = reweigh(
            library.store, weight_by_speed, typical_seconds * 1000 if typical_seconds else None
        )
        n = len(library.store.comparisons())
    how = f"weighted by speed (typical {typical / 1000:.2f} s)" if typical else "unweighted"
    out.print(f"Recomputed the scores from {n} choices, {how}.")


def consult_model(library: Library, path: Path | None) -> LibraryScores | None:
    """The model in the loop's scores and their uncertainties (``path``, else the
    library's newest model, if any), telling which model it is and which images it could
    not score."""
    from tastemaker.workflows.score import model_in_the_loop

    with progress_bar() as report:
        consulted = model_in_the_loop(library, path, report)
    if consulted is None:
        return None
    report_skipped(consulted.scored.failures)
    out.print(f"Model in the loop: {consulted.path.name}")
    return consulted.scored


@command
def stats(
    folder: Folder,
    store: Store = None,
    profile: Profile = DEFAULT_PROFILE,
    fmt: Annotated[str | None, typer.Option("--format", help="text (the default) or json.")] = None,
    as_json: JsonAlias = False,
    ratings: Annotated[str, RatingsOption] = "elo",
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Also write the progress plots (agreement, convergence, appearances per "
            "image, scores) to this PNG file."
        ),
    ] = None,
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            metavar="A B",
            help="Instead, how alike two profiles' tastes are: their databases on the "
            "images both compared, each one's choices as the other's database orders them, "
            "their newest models on every image.",
        ),
    ] = None,
) -> None:
    """Progress and agreement of FOLDER's library: images, choices, batches."""
    fmt = printed_format(fmt, as_json)
    if compare is not None:
        from tastemaker.workflows.compare import compare_profiles

        if plot or profile != DEFAULT_PROFILE:
            raise TastemakerError(
                "--compare A B names both profiles and prints no plots: leave out "
                + ("--plot" if plot else "--profile")
            )
        library, _ = scanned(folder, store, profile=compare[0])
        with library, progress_bar() as report:
            compared = compare_profiles(library, compare[1], ratings, report)
        if fmt == "json":
            print(json.dumps(compared.to_dict(), indent=2))
        else:
            out.print(describe_comparison(compared), highlight=False)
        return
    if plot:
        from tastemaker.cli.plots import FORMATS

        library, _ = scanned(
            folder,
            store,
            lambda lib: lib.check_output(plot, suffixes=FORMATS),
            profile=profile,
        )
    else:
        library, _ = scanned(folder, store, profile=profile)
    with library:
        result = library_stats(library, ratings)
        if plot:
            from tastemaker.cli.plots import plot_progress
            from tastemaker.workflows.reports import progress_data

            plot_progress(progress_data(library.store), plot)
            err.print(f"Wrote the progress plots to {plot}", highlight=False, soft_wrap=True)
    if fmt == "json":
        print(json.dumps({"profile": profile, **result.to_dict()}, indent=2))
    else:
        whose = f"Profile: {profile}\n" if profile != DEFAULT_PROFILE else ""
        out.print(whose + describe(result), highlight=False)


XmpOption = Annotated[
    bool,
    typer.Option(
        "--xmp",
        help="Write 1-5 star ratings (xmp:Rating) into each image's XMP sidecar for photo "
        "managers: only the rating changes, the images are not touched. Needs "
        "pip install 'tastemaker\\[xmp]'.",  # \\[: rich would read [xmp] as markup
    ),
]
SidecarOption = Annotated[
    str,
    typer.Option(
        "--sidecar",
        help="With --xmp: darktable (IMG_0001.CR2.xmp, also digiKam's) or lightroom "
        "(IMG_0001.xmp, also Capture One's).",
    ),
]
StarsAtOption = Annotated[
    str | None,
    typer.Option(
        "--stars-at",
        help="With --xmp: the lowest scores of 2, 3, 4 and 5 stars, such as -1,-0.3,0.3,1; "
        "by default each fifth of the scores gets its stars.",
    ),
]


def check_xmp(style: str, stars_at: str | None) -> list[float] | None:
    """The star thresholds, once the XMP options and the extra are known to work."""
    from tastemaker.workflows.xmp_ratings import load_exiv2, parse_thresholds, sidecar_path

    sidecar_path(Path("IMG.jpg"), style)  # an unknown style is refused before any writing
    load_exiv2()
    return None if stars_at is None else parse_thresholds(stars_at)


def said_xmp(report: XmpReport, to: Console = out) -> None:
    to.print(f"Wrote star ratings to {report.written} XMP sidecars ({report.created} new)")


@command
def export(
    folder: Folder,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (.csv or .json).")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or json; default from the file name.")
    ] = None,
    comparisons: Annotated[
        bool,
        typer.Option(
            "--comparisons",
            help="Export the choices instead of scores: one record per pairwise outcome "
            "(winner, loser), so a choice among k images gives k-1 records.",
        ),
    ] = False,
    xmp: XmpOption = False,
    sidecar: SidecarOption = "darktable",
    stars_at: StarsAtOption = None,
    store: Store = None,
    profile: Profile = DEFAULT_PROFILE,
) -> None:
    """Export FOLDER's database scores (Elo, with Bradley-Terry ratings and their
    uncertainty beside) or its choices as pairwise outcomes, as CSV or JSON; import
    reads either back. --xmp stars the compared images in XMP sidecars."""
    from tastemaker.workflows.choices_file import export_comparisons
    from tastemaker.workflows.scores_file import export_scores, file_format
    from tastemaker.workflows.xmp_ratings import export_star_ratings

    thresholds = check_xmp(sidecar, stars_at) if xmp else None
    if output is None and not xmp:
        raise TastemakerError("Name the file to write with --output (or give --xmp)")
    library, _ = scanned(  # a name that tells no format is refused before the scan
        folder,
        store,
        None
        if output is None
        else lambda lib: (lib.check_output(output), file_format(output, fmt)),
        profile=profile,
    )
    with library:
        if xmp:
            said_xmp(export_star_ratings(library, sidecar, thresholds))
        if output is None:
            return
        if comparisons:
            n = export_comparisons(library, output, fmt)
            out.print(f"Wrote {n} pairwise outcomes to {output}")
        else:
            exported = export_scores(library, output, fmt)
            out.print(f"Wrote {exported.images} scores to {output}")
            if exported.no_bt is not None:
                line = f"The Bradley-Terry columns are empty: {exported.no_bt}."
                err.print(line, markup=False, highlight=False, soft_wrap=True)


@command(name="import")
def import_scores(
    folder: Folder,
    source: Annotated[
        Path,
        typer.Argument(
            help="A score file (the classic scorer's score.json, an export, or score -o's "
            "output) or a choices file (export --comparisons)."
        ),
    ],
    store: Store = None,
    profile: Profile = DEFAULT_PROFILE,
) -> None:
    """Import starting scores, or choices, into FOLDER's library.

    Choices are added only where the library lacks them (the same moment, images and
    choice): importing a file twice adds nothing. score -o's model scores become starting
    scores of never-compared images, as prior gives them.
    """
    from tastemaker.workflows.choices_file import ChoicesImport, import_file

    library, _ = scanned(folder, store, create=True, profile=profile)
    with library:
        report = import_file(library, source)
    if isinstance(report, ChoicesImport):
        out.print(
            f"Imported {report.added} choices from {source} "
            f"({report.present} already in the library)"
        )
        if report.skipped:
            out.print(
                f"{report.skipped} choices left out: they show images not in the library "
                f"({listed(report.unmatched)})"
            )
        return
    if report.compared is not None:
        out.print(
            f"Imported {report.imported} model scores from {source} as starting scores of "
            f"never-compared images; {report.compared} compared images left as they are"
        )
    else:
        out.print(f"Imported {report.imported} scores from {source}")
    if report.chess_mean is not None:
        out.print(
            f"Read as chess-style Elo (400 points = ten times the odds): the scores were "
            f"divided by 400 around their mean {report.chess_mean:.6g}, the classic scale."
        )
    if report.unmatched:
        out.print(
            f"{len(report.unmatched)} paths match no image in the library: "
            f"{listed(report.unmatched)}"
        )


def listed(paths: list[str]) -> str:
    """The first five of ``paths``, and an ellipsis when there are more."""
    return ", ".join(paths[:5]) + (" …" if len(paths) > 5 else "")


@command
def train(
    folder: Folder,
    store: Store = None,
    profile: Profile = DEFAULT_PROFILE,
    extractor: Annotated[
        str | None,
        typer.Option(
            help="Backbone: hub id, local folder or efficientnet-lite0 "
            "(default: the library's, else openai/clip-vit-large-patch14)."
        ),
    ] = None,
    layers: Annotated[
        str | None,
        typer.Option(
            help="Layers: 0 = final embedding, n = an earlier block's, n back; e.g. 0,2 "
            "(default: the library's, else 0)."
        ),
    ] = None,
    layer_mode: Annotated[
        str, typer.Option(help="join or average several layers.")
    ] = LayerChoice.mode,
    learner: Annotated[
        str,
        typer.Option(
            help="kernel (a kernel model with an uncertainty per score, its settings by "
            "leave-one-out) or mlp (the classic scorer's small network)."
        ),
    ] = TrainSettings.learner,
    loss: Annotated[
        str | None,
        typer.Option(
            help="The MLP's loss: ranking (the classic one, by default), mse, or choices "
            "(learns from your raw choices)."
        ),
    ] = TrainSettings.loss,
    trials: Annotated[
        int,
        typer.Option(help="An Optuna search of N MLP fits (0: one fit with good defaults)."),
    ] = TrainSettings.trials,
    sampler: Annotated[
        str, typer.Option(help="Optuna sampler: tpe, cmaes or random.")
    ] = TrainSettings.sampler,
    heldout: Annotated[
        float, typer.Option(help="Share of images held out to measure.")
    ] = TrainSettings.heldout,
    ratings: Annotated[
        str,
        typer.Option(
            help="What the model learns: bt (Bradley-Terry over all choices) or elo (the "
            "classic Elo)."
        ),
    ] = TrainSettings.ratings,
    seed: Annotated[int, typer.Option(help="Seed of the training runs.")] = TrainSettings.seed,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Model file (default: in the library).")
    ] = None,
) -> None:
    """Train a model of your taste on FOLDER's choices.

    Embeds the images (cached), chooses the learner's settings on three quarters of the
    images and measures it on choices involving the rest, then refits it on every rated
    image and saves it in the library with those held-out figures. The classic recipe:
    --learner mlp --ratings elo --trials 20.
    """
    from tastemaker.workflows.train import check_training, train_library

    if layers is None:
        LayerChoice(mode=layer_mode)  # --layer-mode is checked even without --layers
    with progress_bar() as report:
        report("Loading PyTorch", 0, 0)  # the settings' checks import it: seconds, at times
        settings = TrainSettings(
            extractor=extractor,
            layers=LayerChoice.parse(layers, layer_mode) if layers else None,
            learner=learner,
            loss=loss,
            trials=trials,
            sampler=sampler,
            heldout=heldout,
            seed=seed,
            ratings=ratings,
        )

        def check(library: Library) -> None:  # before the scan
            if output:
                library.check_output(output)
            check_training(library, settings, output)

        library, _ = scanned(folder, store, check, create=True, report=report, profile=profile)
        with library:
            trained = train_library(library, settings, output, report)
    report_skipped(trained.embedded.failures)
    m = trained.model.meta.metrics
    out.print(describe_embedded(len(trained.embedded.image_ids), trained.embedded.extracted))
    out.print(describe_metrics(m), highlight=False)
    if trained.interrupted:
        out.print(
            f"Search interrupted: of its {trained.trials} trials so far, trial "
            f"{trained.best_trial} is the best; the model saved has its settings, refitted "
            "on every rated image.",
            highlight=False,
        )
    out.print(f"Model saved: {trained.path}")
    if trained.storage:
        out.print(
            f"Search history ({trained.trials} trials): optuna-dashboard {trained.storage}",
            highlight=False,
            soft_wrap=True,
        )


EngineOption = Annotated[
    str,
    typer.Option(
        help="local (this process) or ray (Ray Data: a local Ray, or the cluster at "
        "--address; needs pip install 'tastemaker\\[ray]' and a Parquet -o folder)."
    ),
]
AddressOption = Annotated[
    str | None,
    typer.Option(help="With --engine ray: the Ray cluster to join (e.g. 10.0.0.1:6379, auto)."),
]
ShardSizeOption = Annotated[
    int,
    typer.Option(help="Rows per Parquet shard: what a stopped run may have to redo."),
]


@command
def score(
    model: Annotated[
        Path,
        typer.Argument(
            help="A model file (.safetensors, or LAION's .pth), or a library folder (the "
            "latest model of --profile there)."
        ),
    ],
    paths: Annotated[list[Path], typer.Argument(help="Images and folders (searched recursively).")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the scores to this file (.csv or .json)."),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Printed: text (a table, the default) or json; with -o: csv "
            "(path,score,uncertainty), json or parquet (a folder of shards, resumable), by "
            "default from the file name.",
        ),
    ] = None,
    as_json: JsonAlias = False,
    top: Annotated[int | None, typer.Option(help="Keep only the N best (1 or more).")] = None,
    minimum: Annotated[float | None, typer.Option("--min", help="Keep scores >= this.")] = None,
    copy_to: Annotated[
        Path | None, typer.Option(help="Copy the kept images here, best first.")
    ] = None,
    link_to: Annotated[
        Path | None, typer.Option(help="Symlink the kept images here, best first.")
    ] = None,
    prob_vs: Annotated[
        Path | None,
        typer.Option(
            help="Also give P(you prefer each image over this one); needs a "
            "calibrated model (trained by tastemaker)."
        ),
    ] = None,
    xmp: XmpOption = False,
    sidecar: SidecarOption = "darktable",
    stars_at: StarsAtOption = None,
    engine: EngineOption = "local",
    address: AddressOption = None,
    shard_size: ShardSizeOption = DEFAULT_SHARD_SIZE,
    profile: Profile = DEFAULT_PROFILE,
) -> None:
    """Score images with MODEL, best first.

    Scores are on the model's scale: mean 0, standard deviation 1 over the images it
    was trained on. A kernel model (the default) also gives each score's uncertainty, its
    standard deviation in the same units: large for an image unlike any it learnt from.

    For many images: -o OUT.parquet writes a folder of Parquet shards (path, score,
    uncertainty), unranked, that a rerun resumes; --engine ray runs it on Ray Data.
    """
    from tastemaker.engines.parquet import wants_parquet

    if wants_parquet(output, fmt):
        unranked = {"--top": top, "--min": minimum, "--copy-to": copy_to, "--link-to": link_to}
        unranked |= {"--prob-vs": prob_vs, "--xmp": xmp or None}
        given = [name for name, value in unranked.items() if value is not None]
        if given:
            raise TastemakerError(
                f"{given[0]} works on ranked scores; Parquet output keeps every score, unranked"
            )
        assert output is not None
        _score_to_parquet(model, paths, output, engine, address, shard_size, profile)
        return
    if engine != "local" or address:
        raise TastemakerError(
            f"--engine {engine} writes a Parquet folder: give -o OUT.parquet (or --format parquet)"
        )
    from tastemaker.model import read_model
    from tastemaker.storage.library import check_output, image_files
    from tastemaker.workflows.models import resolve_model_path
    from tastemaker.workflows.score import (
        copy_best,
        ranked,
        score_files,
        score_records,
        write_scores,
    )
    from tastemaker.workflows.scores_file import file_format
    from tastemaker.workflows.xmp_ratings import write_star_ratings

    if top is not None and top < 1:
        raise TastemakerError(f"--top {top}: give how many of the best to keep, 1 or more")
    if minimum is not None and not math.isfinite(minimum):
        raise TastemakerError(f"--min must be a finite number, not {minimum}")
    if output:
        check_output(output)
        fmt = file_format(output, fmt)
    else:
        fmt = printed_format(fmt, as_json, " (a CSV file is written with -o FILE)")
    for dest in (copy_to, link_to):
        if dest:
            check_output(dest, folder=True)
    thresholds = check_xmp(sidecar, stars_at) if xmp else None
    model_path = resolve_model_path(model, profile)
    skipped: list[tuple[str, str]] = []
    files = image_files(paths, skipped)
    report_skipped(skipped)
    if not files:
        raise TastemakerError("No images found in " + ", ".join(map(str, paths)))
    taste = read_model(model_path)
    with progress_bar() as report:
        result = score_files(taste, files, report)
    scored = result.scored
    if result.reused:
        err.print(
            describe_embedded(result.extracted + result.reused, result.extracted), highlight=False
        )
    report_skipped((files[i], problem) for i, problem in scored.failures)
    if len(scored.failures) == len(files):
        raise TastemakerError(f"None of the {len(files)} images could be read; nothing scored")
    rows = ranked(files, scored, top, minimum)
    probs = prefer_probabilities(taste, rows, prob_vs) if prob_vs else None
    if output:
        write_scores(rows, output, probs, fmt)
        out.print(f"Wrote {len(rows)} scores to {output}")
    elif fmt == "json":
        print(json.dumps(score_records(rows, probs), indent=1))
    else:
        spread = taste.has_uncertainty
        table = Table(
            "score", *(["±"] if spread else []), *(["P(prefer)"] if probs else []), "path", box=None
        )
        for i, (path, value, u) in enumerate(rows):
            table.add_row(
                f"{value:+.3f}",
                *([f"{u:.2f}"] if spread else []),
                *([f"{probs[i]:.2f}"] if probs else []),
                str(path),
            )
        out.print(table)
    if xmp:
        images, values = [p for p, _, _ in rows], [v for _, v, _ in rows]
        starred = write_star_ratings(images, values, sidecar, thresholds)
        said_xmp(starred, err if fmt == "json" and not output else out)  # JSON stays parseable
    for dest, link in ((copy_to, False), (link_to, True)):
        if dest:
            made = copy_best(rows, dest, link)
            out.print(f"{'Linked' if link else 'Copied'} {len(made)} images to {dest}")


def _score_to_parquet(
    model: Path,
    paths: list[Path],
    output: Path,
    engine: str,
    address: str | None,
    shard_size: int,
    profile: str,
) -> None:
    from tastemaker.engines.batch import Job
    from tastemaker.workflows.models import resolve_model_path

    job = _checked_run(
        output, engine, address, lambda: Job.scoring(resolve_model_path(model, profile))
    )
    _run_to_parquet(job, paths, output, engine, address, shard_size, "scores")


def _checked_run(output: Path, engine: str, address: str | None, job: Callable[[], Job]) -> Job:
    """The job, once the output folder and engine are known to work (before any scan)."""
    from tastemaker.engines.parquet import arrow
    from tastemaker.storage.library import check_output
    from tastemaker.workflows.bulk import check_engine

    check_engine(engine, address)
    check_output(output, folder=True)
    arrow()
    if engine == "ray":
        from tastemaker.engines.ray_data import load_ray

        load_ray()
    return job()


def _run_to_parquet(
    job: Job,
    paths: list[Path],
    output: Path,
    engine: str,
    address: str | None,
    shard_size: int,
    what: str,
) -> None:
    from tastemaker.storage.library import image_files
    from tastemaker.workflows.bulk import run_to_parquet

    skipped: list[tuple[str, str]] = []
    files = image_files(paths, skipped)
    report_skipped(skipped)
    if not files:
        raise TastemakerError("No images found in " + ", ".join(map(str, paths)))
    with progress_bar() as report:
        if engine == "ray":
            report("Starting Ray" if not address else f"Joining Ray at {address}", 0, 0)
        result = run_to_parquet(
            job, files, output, engine, address, shard_size, report, lambda line: err.print(line)
        )
    report_skipped(result.failures)
    if result.failures:
        err.print(
            f"{len(result.failures)} unreadable, listed in {output / FAILED}; "
            "the same command tries them again",
            highlight=False,
            soft_wrap=True,
        )
    before = f" ({result.before} there already)" if result.before else ""
    out.print(f"Wrote {result.written} {what} to {output}{before}", highlight=False)


@command
def embed(
    paths: Annotated[list[Path], typer.Argument(help="Images and folders (searched recursively).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The Parquet folder to write (or resume).")
    ],
    extractor: Annotated[
        str,
        typer.Option(help="Backbone: hub id, local folder or efficientnet-lite0."),
    ] = DEFAULT_EXTRACTOR,
    layers: Annotated[
        str, typer.Option(help="Layers: 0 = final embedding, n = an earlier block's; e.g. 0,2.")
    ] = "0",
    layer_mode: Annotated[
        str, typer.Option(help="join or average several layers.")
    ] = LayerChoice.mode,
    engine: EngineOption = "local",
    address: AddressOption = None,
    shard_size: ShardSizeOption = DEFAULT_SHARD_SIZE,
) -> None:
    """Embed images into a folder of Parquet shards (path, embedding), to keep the
    features once and score them with many models.

    A rerun into the same folder skips the images it holds; a folder of another
    extractor's or layers' embeddings is refused.
    """
    from tastemaker.engines.batch import Job

    job = _checked_run(
        output,
        engine,
        address,
        lambda: Job.embedding(extractor, LayerChoice.parse(layers, layer_mode)),
    )
    _run_to_parquet(job, paths, output, engine, address, shard_size, "embeddings")


def prefer_probabilities(
    taste: TasteModel, rows: list[tuple[Path, float, float]], reference: Path
) -> list[float]:
    """P(the person prefers each ranked image over ``reference``)."""
    from tastemaker.workflows.score import score_images

    if taste.meta.calibration is None:
        raise TastemakerError("--prob-vs needs a calibrated model; retrain it with tastemaker")
    (ref,) = score_images(taste, [reference]).scores
    if ref is None:
        raise TastemakerError(f"{reference}: cannot be read as an image")
    return [float(taste.prob_prefer(s, ref)) for _, s, _ in rows]


@command
def prior(
    folder: Folder,
    store: Store = None,
    profile: Profile = DEFAULT_PROFILE,
    model: Annotated[
        Path | None,
        typer.Option(
            help="Model file, or a library folder (its latest model); default: this "
            "library's latest."
        ),
    ] = None,
) -> None:
    """Give FOLDER's never-compared images starting scores from a model.

    The next A/B session then begins from the model's guess (as the classic scorer's
    aesthetic_score_from_model does).
    """
    from tastemaker.model import read_model
    from tastemaker.workflows.models import library_model
    from tastemaker.workflows.priors import apply_model_prior

    library, _ = scanned(folder, store, create=True, profile=profile)
    with library:
        path = library_model(library, model)
        if path is None:
            raise TastemakerError(
                f"{library.root}: no trained model yet; train one (tastemaker train "
                f"{library.root}) or give --model FILE"
            )
        with progress_bar() as report:
            result = apply_model_prior(library, read_model(path), path.name, report)
        report_skipped(result.failures)
    out.print(
        f"Starting scores from {path.name} for {result.given} never-compared images "
        f"(spread sd {result.sd:.3f}); {result.compared} compared images left as they are."
    )


@command
def models(folder: Folder, store: Store = None, profile: Profile = DEFAULT_PROFILE) -> None:
    """The models trained on FOLDER (under the profile), with their held-out metrics."""

    with open_library(folder, store=store, create=False, profile=profile) as library:
        records = library.store.models()
    if not records:
        named = "" if profile == DEFAULT_PROFILE else f" --profile {profile}"
        out.print(f"No models yet: tastemaker train {folder}{named}", highlight=False)
        return
    for r in records:
        trained = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at))
        out.print(f"#{r.id}  {trained}  {r.extractor} (layers {r.layers})", highlight=False)
        out.print(textwrap.indent(describe_metrics(r.metrics), "    "), highlight=False)
        out.print(f"    {r.path}", highlight=False, soft_wrap=True)


@command(name="export-model")
def export_model(
    model: Annotated[
        Path,
        typer.Argument(
            help="A model file (.safetensors, or LAION's .pth), or a library folder (the "
            "latest model of --profile there)."
        ),
    ],
    dest: Annotated[Path, typer.Argument(help="The folder to write (made if need be).")],
    license: Annotated[
        str,
        typer.Option(help="The licence the card declares, as the hub spells it (mit, cc-by-4.0)."),
    ] = "other",
    force: Annotated[
        bool, typer.Option("--force", help="Replace an earlier export in DEST.")
    ] = False,
    profile: Profile = DEFAULT_PROFILE,
) -> None:
    """Write MODEL into DEST with a model card, ready to share.

    DEST holds the model file, README.md (the card: metadata for the Hugging Face hub,
    the figures and counts, usage, limitations) and config.json; upload it with
    huggingface-cli upload USER/REPO DEST. The folder itself works as a model anywhere.
    """
    from tastemaker.workflows.model_card import export_model as export
    from tastemaker.workflows.models import resolve_model_path

    written = export(resolve_model_path(model, profile), dest, force, license)
    out.print(f"Wrote {written.name}, README.md and config.json to {dest}", highlight=False)


@command
def extractors() -> None:
    """The named feature extractors (any hub id or local folder works too)."""
    from tastemaker.features.registry import list_extractors

    table = Table("name", "dim", "about", box=None)
    for spec in list_extractors():
        table.add_row(spec.name, str(spec.dim or "?"), spec.description)
    out.print(table)


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
    store: Store = None,
) -> None:
    """Make a sample library of generated images in FOLDER and rate it."""
    from tastemaker.workflows.demo import make_demo_library

    if count < 1:
        raise TastemakerError(f"--count {count}: give how many images to make, 1 or more")
    check_port(port)
    with progress_bar() as report:
        made = make_demo_library(folder, count, seed, store, report)
    if made:
        out.print(f"Made {count} demo images in {folder}")
    if not generate_only:
        rate(str(folder), store, port=port, no_browser=no_browser)
