"""The statistics page's four plots as one image (``tastemaker stats DIR --plot out.png``):
agreement per batch (and in the batch under way) against the ceiling, ranking convergence,
appearances per image and the score distribution. Drawn with matplotlib's Agg canvas on a
Figure of its own (no pyplot, no global state), so it runs anywhere without a display."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from tastemaker.workflows.reports import Histogram, ProgressData

SIZE = (12.0, 8.0)  # inches
DPI = 100  # so the default image is 1200 x 800 pixels
FORMATS = frozenset(f".{suffix}" for suffix in FigureCanvasBase.get_supported_filetypes())
DATABASE, MODEL, CEILING = "#d08a2e", "#3d7fc1", "#3c9a48"


def plot_progress(
    data: ProgressData, path: Path, size: tuple[float, float] = SIZE, dpi: int = DPI
) -> Path:
    """Write the four plots to ``path`` (PNG, or any format matplotlib knows by its
    suffix), ``size`` inches at ``dpi``; returns ``path``."""
    fig = Figure(figsize=size, dpi=dpi, layout="constrained")
    grid = fig.add_gridspec(2, 2)
    fig.suptitle(
        f"{data.images} images, {data.choices} choices, {data.appearances} appearances, "
        f"{data.pairwise_outcomes} pairwise outcomes, {len(data.batches)} batches",
        fontsize=11,
    )
    _agreement(fig.add_subplot(grid[0, 0]), data)
    _convergence(fig.add_subplot(grid[0, 1]), data)
    _per_image(fig.add_subplot(grid[1, 0]), data.appearances_per_image)
    if data.model_scores is None:
        _scores(fig.add_subplot(grid[1, 1]), data.database_scores, "Elo score", DATABASE)
        fig.axes[-1].set_title("Score distribution")
    else:
        cell = grid[1, 1].subgridspec(2, 1)
        top = fig.add_subplot(cell[0])
        _scores(top, data.database_scores, "Elo score", DATABASE)
        top.set_title("Score distribution: database (top), model (bottom)")
        _scores(fig.add_subplot(cell[1]), data.model_scores, "model score", MODEL)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _batches_or_note(ax: Axes, data: ProgressData, values: list[float | None]) -> bool:
    if any(v is not None for v in values):
        return True
    note = "needs a second batch" if data.batches else "no batch finished yet"
    ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes, color="grey")
    return False


def _line(ax: Axes, xs: list[int], ys: list[float | None]) -> None:
    y = np.array([np.nan if v is None else v for v in ys], float)
    ax.plot(xs, y, "-o", color=DATABASE, markersize=4)


def _agreement(ax: Axes, data: ProgressData) -> None:
    ax.set_title("Agreement per batch")
    ax.set_xlabel("choices made")
    ax.set_ylabel("agreement")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.grid(alpha=0.3)
    ys = [b.agreement for b in data.batches]
    current = data.current
    now = None if current is None else current.agreement
    ax.axhline(
        data.ceiling,
        color=CEILING,
        linestyle="--",
        label=f"ceiling {data.ceiling:.0%} ({data.ceiling_source})",
    )
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1, label="chance")
    if current is not None and now is not None:  # hollow: still moving
        ax.plot(
            [current.choices_so_far],
            [now],
            "o",
            color=DATABASE,
            markerfacecolor="none",
            label=f"current batch, {current.choices} choices so far",
        )
        ys = [*ys, now]
    if now is not None or _batches_or_note(ax, data, ys):
        _line(ax, [b.choices_so_far for b in data.batches], ys[: len(data.batches)])
        low = min(v for v in ys if v is not None)
        ax.set_ylim(min(0.4, np.floor(low * 10) / 10), 1.02)
    else:
        ax.set_ylim(0.4, 1.02)
    ax.set_xlim(left=0)
    ax.legend(loc="lower right", fontsize=9)


def _convergence(ax: Axes, data: ProgressData) -> None:
    ax.set_title("Ranking convergence")
    ax.set_xlabel("choices made")
    ax.set_ylabel("Spearman ρ, before vs after the batch")
    ax.grid(alpha=0.3)
    ys = [b.convergence for b in data.batches]
    if _batches_or_note(ax, data, ys):
        _line(ax, [b.choices_so_far for b in data.batches], ys)
        low = min(v for v in ys if v is not None)
        ax.set_ylim(min(0.5, np.floor(low * 10) / 10), 1.02)
    ax.set_xlim(left=0)


def _per_image(ax: Axes, h: Histogram) -> None:
    ax.set_title("Appearances per image")
    ax.set_xlabel("appearances (times shown)")
    ax.set_ylabel("images")
    ax.bar(h.edges[:-1], h.counts, width=0.85, color=DATABASE)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if h.mean is not None:
        ax.axvline(
            h.mean, color="black", linestyle=":", linewidth=1, label=f"mean {h.mean:.2f} per image"
        )
        ax.legend(fontsize=9)
    ax.grid(alpha=0.3, axis="y")


def _scores(ax: Axes, h: Histogram, label: str, colour: str) -> None:
    edges = np.asarray(h.edges)
    ax.bar(
        edges[:-1],
        h.counts,
        width=np.diff(edges),
        align="edge",
        color=colour,
        edgecolor="white",
        linewidth=0.6,
    )
    ax.set_xlabel(label)
    ax.set_ylabel("images")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3, axis="y")
