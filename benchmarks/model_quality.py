"""How well the model a person takes home predicts their choices on images it never saw.

A simulated person (``tastemaker.rating.simulate``: Bradley–Terry choices, agreeing with
their own true order on 75% of random pairs, ``--consistency``) rates a library, two
images a set, up to ``--budgets`` choices per image (choices ÷ rated images: 1, 3, 6).
Each data set has two pools, drawn afresh per seed: the **rated** images, which every
recipe rates, splits, early-stops, searches and leave-one-outs on as it likes, and a pool
of **new** images (``--new-share`` of the rated count) that no recipe ever sees — not for
rating, not for any selection. Every model is judged only there:

``agreement``   the share of fresh choices between new images (every pair, at most
                ``--eval-pairs``, each judged once more by the same person, the same pairs
                and choices for every row) that the model predicts, ties half; the
                person's own agreement with their true order is 0.75, so nothing can
                expect more (``oracle``: the true utilities on these very choices);
``true order``  the noise-free share of pairs of new images the model orders as the
                true utilities do.

The data sets:

``synthetic``  embeddings with a known hidden taste that is not trivially linear: points
               of ``--clusters`` (8) Gaussian clusters in a ``--latent`` (16) dimensional
               space, mapped linearly into ``--dim`` (768) dimensions with isotropic noise
               (sd ``--noise``); the utility is a cluster offset plus a hidden direction
               within each cluster (each its own, correlated 0.7 with a shared one),
               standardised. A new data set per seed.
``real``       generated demo images (``tastemaker.workflows.demo_images``) whose hidden
               taste ``demo_taste`` is a function of what they show (colour warmth,
               roundness, complexity), standardised, embedded with the bundled
               EfficientNet-Lite0 on the demo library's layers (``--real-layers``, by
               default ``2,3,4``: the middle stages, joined; generated and embedded once per run,
               then split into rated and new afresh per seed; skipped with its reason when
               the extractor cannot be loaded). How much of the taste these features can
               carry is the ceiling's R² on the new images: where it is low, the real set
               tests the pipeline, not the learner.

The rows:

``ceiling``       the default kernel learner (``training.kernel.fit_kernel``) fitted to the
                  TRUE utilities of the rated images: what a model on these features can
                  reach from perfect ratings of the same images. One row per data set;
                  ``gap`` is each row's distance below it in percentage points.
``classic recipe`` the original aesthetic scorer's method (key ``seed`` in the JSON):
                  pairs drawn with its ``(1 - 0.3)^n`` weighting, the Elo database,
                  the MLP with the ranking loss and ``TrainParams()``'s defaults on the
                  training split's Elo scores, early stopping on the held-out images'
                  Elo order; no search, no refit.
``old default``   what ``tastemaker train`` did before the kernel learner: the same pairs
                  and Elo, a ``--trials`` (20) trial TPE search of the MLP
                  (``training.search``) choosing by its held-out metric; no refit.
``new default``   what ``tastemaker rate`` and ``train`` do now: pairs from
                  ``pairing.pick_active`` on a live Bradley–Terry fit
                  (``rating_efficiency.ActiveRater``), Bradley–Terry ratings built exactly
                  as ``train`` builds them (``workflows.train.split_and_full``), then
                  ``training.learners.learn`` with the default kernel learner: settings by
                  leave-one-out on the split, refit on every rated image.
``new, weighted`` the new default's refit with each image weighted by its Bradley–Terry
                  rating's precision (``1 / sd²`` of the fit of every outcome): a variant
                  measured here, not the library's default.

The **closed loop** rates as a person would: a first round (``--loop-checkpoints``' first,
0.25 choices per image, so about half the images are never seen), train the new default,
give the never-compared images the model's starting scores by the prior rule
(``rating.prior.prior_scores`` on the replayed Elo database, as ``tastemaker priors``
does; they become the Bradley–Terry prior means), go on with active pairs, retrain at
every checkpoint. Reported: its agreement at each checkpoint and the choices per image at
which the mean over seeds first comes within ``--loop-within`` (3) percentage points of
the mean ceiling (linear interpolation; "not reached by" the last checkpoint otherwise).

Targets (issue #11): within 2.5 pp of the ceiling at 3 choices per image and 2 pp at 6 on
both sets; at least +1.5 pp over the classic recipe on the synthetic set at 3 and 6 (better
on 4 of 5 seeds), no worse at 1.

    python benchmarks/model_quality.py                    # 5 seeds, both sets, minutes
    python benchmarks/model_quality.py --quick --json out.json   # a CI check, seconds

JSON: ``config`` (the settings); ``results`` keyed by data set, each ``{"skipped": reason}``
or with ``images`` (rated), ``new_images``, ``eval_pairs``, ``dim``, ``budgets``,
``oracle`` (``mean``, ``sd``, ``per_seed``), ``ceiling`` (``agreement``, ``true_order``,
``r2``, each such stats), ``methods`` (``seed``/``old``/``new``/``new_weighted`` -> budget
as a string -> ``agreement`` and ``true_order`` stats and ``gap_to_ceiling_pp``), the
per-seed differences in percentage points ``new_minus_seed`` and ``weighted_minus_new``
(budget -> ``mean``, ``sd``, ``per_seed``, ``better_seeds``), ``closed_loop``
(``checkpoints``, ``agreement`` per checkpoint: ``mean``/``sd``/``per_seed`` lists,
``within_pp``, ``choices_to_within``: a number or null), and for ``real``
``generation_seconds``, ``extraction_seconds`` and ``layers``; ``headline``:
``gap_to_ceiling_pp`` and ``gain_over_seed_pp``, each ``{set: {budget: pp}}`` (new default
vs the ceiling and vs the classic recipe, means over seeds); ``machine``; ``seconds``.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from _common import machine, print_table, write_json
from rating_efficiency import ActiveRater, _record, choices_to_reach

from tastemaker.model import TasteModel
from tastemaker.rating import bradley_terry, elo, pairing
from tastemaker.rating.prior import prior_scores
from tastemaker.rating.ranks import zscore
from tastemaker.rating.simulate import CONSISTENCY, Person, scale_for_consistency
from tastemaker.training import TrainingData, TrainParams, heldout_mask, search, train_model
from tastemaker.training.kernel import fit_kernel
from tastemaker.training.learners import learn, rated
from tastemaker.training.loop import cpu_threads
from tastemaker.training.metrics import choice_agreement, pairwise_accuracy
from tastemaker.workflows.demo import DEMO_LAYERS
from tastemaker.workflows.ratings import ELO_TO_BT, Outcomes, bt_of
from tastemaker.workflows.train import split_and_full

SETS = ("synthetic", "real")
METHODS = ("seed", "old", "new", "new_weighted")
LABELS = {
    "ceiling": "ceiling (kernel on true utilities)",
    "seed": "classic recipe (classic pairs, Elo, MLP)",
    "old": "old default (+ TPE search)",
    "new": "new default (active, BT, kernel)",
    "new_weighted": "new, weighted by BT precision",
}
BUDGETS = (1, 3, 6)
LOOP_CHECKPOINTS = (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0)
QUICK_LOOP_CHECKPOINTS = (0.25, 1.0, 3.0)
EXTRACTOR = "efficientnet-lite0"


@dataclass(frozen=True)
class Config:
    sets: tuple[str, ...]
    synthetic_images: int  # rated
    dim: int
    clusters: int
    latent: int
    noise: float
    images: int  # the real set's rated images
    new_share: float  # new images per rated image
    seeds: int
    consistency: float
    budgets: tuple[int, ...]
    heldout: float
    eval_pairs: int
    trials: int  # the old default's search
    loop_checkpoints: tuple[float, ...]
    loop_within: float  # percentage points
    refit_every: int  # choices between full Bradley–Terry refits; 0: images/100
    prior_sd: float
    temperature: float
    extractor: str
    real_layers: tuple[int, ...]
    train_params: dict


@dataclass(frozen=True)
class DataSet:
    name: str
    x: np.ndarray  # (n, d) float32 embeddings, rated and new images together
    utilities: np.ndarray  # (n,) standardised true utilities
    keys: list[str]  # what heldout_mask hashes


@dataclass(frozen=True)
class Pools:
    """One seed's split of a data set into the rated images and the never-seen new ones,
    with the fresh choices between new images every model is judged on."""

    x: np.ndarray  # rated
    utilities: np.ndarray
    keys: list[str]
    new_x: np.ndarray
    new_utilities: np.ndarray
    fresh_winners: np.ndarray  # indices into the new images
    fresh_losers: np.ndarray


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def rated_images(config: Config, name: str) -> int:
    return config.synthetic_images if name == "synthetic" else config.images


def total_images(config: Config, name: str) -> int:
    """Rated and new images together."""
    count = rated_images(config, name)
    return count + round(config.new_share * count)


def synthetic_set(config: Config, rng: np.random.Generator) -> DataSet:
    """Clustered embeddings whose utility is a cluster offset plus a per-cluster direction."""
    n, r, k = total_images(config, "synthetic"), config.latent, config.clusters
    centres = 2.0 * rng.standard_normal((k, r))
    label = rng.integers(0, k, n)
    within = rng.standard_normal((n, r))
    latent = centres[label] + within
    shared = _unit(rng.standard_normal(r))
    directions = _unit(shared + _unit(rng.standard_normal((k, r))))  # cos ~0.7 with shared
    offsets = rng.standard_normal(k)
    utilities = zscore(offsets[label] + np.einsum("ij,ij->i", within, directions[label]))
    mixing = rng.standard_normal((r, config.dim)) / math.sqrt(r)
    x = latent @ mixing + config.noise * rng.standard_normal((n, config.dim))
    return DataSet("synthetic", x.astype(np.float32), utilities, [f"s{i}" for i in range(n)])


def real_set(config: Config, folder: Path) -> tuple[DataSet | None, dict]:
    """Generated demo images embedded with the extractor; None (and why) if it won't load."""
    from tastemaker.errors import TastemakerError
    from tastemaker.features.extract import extract
    from tastemaker.features.layers import LayerChoice
    from tastemaker.features.loaders import load_extractor
    from tastemaker.workflows.demo_images import demo_taste, generate_demo_images

    try:
        extractor = load_extractor(config.extractor, device="cpu")
    except (TastemakerError, ImportError, OSError, RuntimeError) as e:
        return None, {"skipped": f"cannot load {config.extractor}: {e}"}
    started = time.perf_counter()
    images = generate_demo_images(folder / "images", total_images(config, "real"), seed=0)
    generated = time.perf_counter()
    rows: dict[int, np.ndarray] = {}
    try:
        batches = list(
            extract(extractor, [im.path for im in images], LayerChoice(config.real_layers))
        )
    except (TastemakerError, ValueError) as e:
        return None, {"skipped": f"{config.extractor} layers {config.real_layers}: {e}"}
    for batch in batches:
        if batch.failures:
            raise RuntimeError(f"demo images failed to embed: {batch.failures}")
        rows.update(zip(batch.indices, batch.vectors, strict=True))
    x = np.stack([rows[i] for i in range(len(images))]).astype(np.float32)
    extracted = time.perf_counter()
    utilities = zscore(np.array([demo_taste(im) for im in images]))
    keys = [str(im.path.relative_to(folder)) for im in images]
    info = {
        "generation_seconds": generated - started,
        "extraction_seconds": extracted - generated,
        "layers": list(config.real_layers),
    }
    return DataSet("real", x, utilities, keys), info


def pools(
    config: Config, data: DataSet, rng: np.random.Generator, person_rng: np.random.Generator
) -> Pools:
    """A random ``new_share`` of the images set aside, and the person's fresh choices
    between them: every pair, or ``eval_pairs`` distinct random ones when there are more."""
    n = len(data.x)
    new = np.zeros(n, bool)
    new[rng.choice(n, n - rated_images(config, data.name), replace=False)] = True
    r, e = np.flatnonzero(~new), np.flatnonzero(new)
    i, j = np.triu_indices(len(e), 1)
    if len(i) > config.eval_pairs:
        keep = np.sort(rng.choice(len(i), config.eval_pairs, replace=False))
        i, j = i[keep], j[keep]
    person = Person(data.utilities[e], scale_for_consistency(config.consistency), person_rng)
    winners = person.choose_many(i, j)
    return Pools(
        data.x[r],
        data.utilities[r],
        [data.keys[k] for k in r],
        data.x[e],
        data.utilities[e],
        winners,
        np.where(winners == i, j, i),
    )


# --- rating ---------------------------------------------------------------------------


Snapshot = tuple[np.ndarray, np.ndarray, np.ndarray]  # winners, losers, database scores


def rate_seed(
    n: int, budgets: tuple[int, ...], person: Person, rng: np.random.Generator
) -> dict[int, Snapshot]:
    """The classic pairing and Elo database; the outcomes and scores at each budget."""
    total = n * budgets[-1]
    win = np.empty(total, np.int64)
    lose = np.empty_like(win)
    ratings = np.zeros(n)
    counts = np.zeros(n, np.int64)
    marks = {n * b: b for b in budgets}
    out: dict[int, Snapshot] = {}
    m = 0
    for c in range(1, total + 1):
        shown = pairing.pick(pairing.log_weights(counts), 2, rng)
        pos = person.choose_from(shown)
        ratings[shown] = elo.choose(ratings[shown], pos)
        counts[shown] += 1
        m = _record(shown.tolist(), pos, win, lose, m)
        if c in marks:
            out[marks[c]] = (win[:m].copy(), lose[:m].copy(), ratings.copy())
    return out


def active_rater(config: Config, n: int, most: float) -> ActiveRater:
    """The new default's rater for ``n`` images, room for ``most`` choices per image."""
    every = config.refit_every if config.refit_every > 0 else max(1, n // 100)
    return ActiveRater(
        n, math.ceil(n * most), np.zeros(n), config.prior_sd, every, config.temperature
    )


def outcomes_of(rater: ActiveRater, priors: np.ndarray) -> Outcomes:
    """The rater's choices as the store would give them (``workflows.ratings.outcomes``):
    every image, each outcome weighted 1, ``priors`` the starting scores (Elo scale)."""
    m = rater.m
    return Outcomes(
        ids=np.arange(rater.n),
        winners=rater.winners.copy(),
        losers=rater.losers.copy(),
        k=np.full(m, elo.K),
        weights=np.ones(m),
        counts=rater.counts.copy(),
        priors=priors.copy(),
    )


# --- the models -----------------------------------------------------------------------


def meta(config: Config, name: str, ratings: str) -> dict:
    """What ``train_model``/``learn`` record about the embeddings."""
    real = name == "real"
    return {
        "extractor": config.extractor if real else "synthetic",
        "layers": config.real_layers if real else (0,),
        "layer_mode": "join",
        "ratings": ratings,
    }


def judge(pred: np.ndarray, p: Pools) -> dict[str, float]:
    """Scores of the new images against the fresh choices and the true order."""
    pred = np.asarray(pred, np.float64)
    return {
        "agreement": choice_agreement(pred, p.fresh_winners, p.fresh_losers)[0],
        "true_order": pairwise_accuracy(pred, p.new_utilities),
    }


def seed_models(
    config: Config, name: str, p: Pools, snap: Snapshot, held: np.ndarray, seed: int
) -> dict[str, dict[str, float]]:
    """The classic recipe (one MLP fit) and the old default (a search), on the Elo split."""
    win, lose, scores = snap
    data = TrainingData(x=p.x, scores=scores, winners=win, losers=lose, heldout=held)
    base = TrainParams(**{**config.train_params, "loss": "ranking"})
    info = meta(config, name, "elo")
    one = train_model(data, base, info, seed=seed, device="cpu", threads=1)
    found = search(data, config.trials, info, base=base, seed=seed, device="cpu", threads=1).best
    return {
        "seed": judge(one.model.score_embeddings(p.new_x), p),
        "old": judge(found.model.score_embeddings(p.new_x), p),
    }


def new_default(
    config: Config, name: str, p: Pools, o: Outcomes, held: np.ndarray
) -> tuple[TasteModel, TrainingData]:
    """``learn`` with its defaults on the data ``train`` builds from these outcomes;
    the model and the refit's data."""
    split, full = split_and_full(o, np.arange(len(p.x)), p.x, held)
    return learn(split, full, meta(config, name, "bt")).model, full


def weighted_refit(p: Pools, o: Outcomes, full: TrainingData) -> np.ndarray:
    """The new default's refit (the same images and ratings) with each image weighted by
    its rating's precision; its scores of the new images."""
    rows = rated(full, np.ones(full.n, bool))
    precision = 1.0 / bt_of(o).sd ** 2  # o.ids are the rated images, in order
    fit = fit_kernel(p.x[rows], full.scores[rows], weights=precision[rows])
    return fit.model.predict(p.new_x)[0]


def ceiling(p: Pools) -> dict[str, float]:
    """The kernel learner on the true utilities of the rated images; its R² on the new."""
    pred = fit_kernel(p.x, p.utilities).model.predict(p.new_x)[0]
    u = p.new_utilities
    r2 = 1.0 - float(((u - pred) ** 2).sum() / ((u - u.mean()) ** 2).sum())
    return {**judge(pred, p), "r2": r2}


def closed_loop(
    config: Config,
    name: str,
    p: Pools,
    held: np.ndarray,
    person: Person,
    rng: np.random.Generator,
) -> list[float]:
    """Rate, train, starting scores for the never-compared images, rate on: the new
    default's agreement at each loop checkpoint."""
    n = len(p.x)
    rater = active_rater(config, n, config.loop_checkpoints[-1])
    priors = np.zeros(n)  # the store's starting scores, Elo scale
    curve = []
    for c in config.loop_checkpoints:
        rater.rate(round(n * c), person, rng)
        model, _ = new_default(config, name, p, outcomes_of(rater, priors), held)
        curve.append(judge(model.score_embeddings(p.new_x), p)["agreement"])
        compared = rater.counts > 0
        if not compared.all():  # as tastemaker priors does, from the Elo database
            database = elo.replay(priors, rater.winners, rater.losers)
            priors[~compared] = prior_scores(model.score_embeddings(p.x), compared, database)
            rater.prior_mean = priors * ELO_TO_BT
            rater.refit()
    return curve


# --- one seed -------------------------------------------------------------------------


def run_task(config: Config, data: DataSet | None, set_index: int, seed: int) -> dict:
    """Every row on one data set and seed: rating, training, judging on the new images.
    One torch thread: the processes share the cores, and idle OpenMP threads spinning
    against other work made each small kernel fit several times slower."""
    with cpu_threads(1):
        return _run_task(config, data, set_index, seed)


def _run_task(config: Config, data: DataSet | None, set_index: int, seed: int) -> dict:
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, set_index]).spawn(8)]
    if data is None:
        data = synthetic_set(config, rngs[0])
    p = pools(config, data, rngs[0], rngs[1])
    n = len(p.x)
    scale = scale_for_consistency(config.consistency)
    held = heldout_mask(p.keys, config.heldout, salt=f"model-quality-{seed}")
    seed_snaps = rate_seed(n, config.budgets, Person(p.utilities, scale, rngs[2]), rngs[3])
    rater = active_rater(config, n, config.budgets[-1])
    person = Person(p.utilities, scale, rngs[4])
    out: dict = {
        "oracle": judge(p.new_utilities, p)["agreement"],
        "ceiling": ceiling(p),
        "new_images": len(p.new_x),
        "eval_pairs": len(p.fresh_winners),
    }
    for budget in config.budgets:
        cells = seed_models(config, data.name, p, seed_snaps[budget], held, seed)
        rater.rate(n * budget, person, rngs[5])
        o = outcomes_of(rater, np.zeros(n))
        model, full = new_default(config, data.name, p, o, held)
        cells["new"] = judge(model.score_embeddings(p.new_x), p)
        cells["new_weighted"] = judge(weighted_refit(p, o, full), p)
        out[budget] = cells
    loop_person = Person(p.utilities, scale, rngs[6])
    out["closed_loop"] = closed_loop(config, data.name, p, held, loop_person, rngs[7])
    return out


# --- summary and report ---------------------------------------------------------------


def _stats(values: list[float]) -> dict:
    """Mean, sd over seeds (n - 1; 0 for one seed) and the values."""
    a = np.asarray(values, np.float64)
    sd = float(a.std(ddof=1)) if len(a) > 1 else 0.0
    return {"mean": float(a.mean()), "sd": sd, "per_seed": a.tolist()}


def _diff_pp(a: list[float], b: list[float]) -> dict:
    """``a - b`` per seed in percentage points, and in how many seeds ``a`` was higher."""
    d = 100.0 * (np.asarray(a) - np.asarray(b))
    return {**_stats(d.tolist()), "better_seeds": int((d > 0).sum())}


def summarise(config: Config, runs: list[dict], dim: int, n: int) -> dict:
    ceil = {f: _stats([r["ceiling"][f] for r in runs]) for f in ("agreement", "true_order", "r2")}
    top = ceil["agreement"]["per_seed"]
    methods: dict = {m: {} for m in METHODS}
    new_minus_seed, weighted_minus_new = {}, {}
    for b in config.budgets:
        for m in METHODS:
            entry = {f: _stats([r[b][m][f] for r in runs]) for f in ("agreement", "true_order")}
            entry["gap_to_ceiling_pp"] = _diff_pp(top, entry["agreement"]["per_seed"])
            methods[m][str(b)] = entry

        def agreements(m: str, b: int = b) -> list[float]:
            return methods[m][str(b)]["agreement"]["per_seed"]

        new_minus_seed[str(b)] = _diff_pp(agreements("new"), agreements("seed"))
        weighted_minus_new[str(b)] = _diff_pp(agreements("new_weighted"), agreements("new"))
    curves = np.array([r["closed_loop"] for r in runs])
    loop_mean = curves.mean(axis=0)
    target = ceil["agreement"]["mean"] - config.loop_within / 100.0
    return {
        "images": n,
        "new_images": float(np.mean([r["new_images"] for r in runs])),
        "eval_pairs": float(np.mean([r["eval_pairs"] for r in runs])),
        "dim": dim,
        "budgets": list(config.budgets),
        "oracle": _stats([r["oracle"] for r in runs]),
        "ceiling": ceil,
        "methods": methods,
        "new_minus_seed": new_minus_seed,
        "weighted_minus_new": weighted_minus_new,
        "closed_loop": {
            "checkpoints": list(config.loop_checkpoints),
            "agreement": {
                "mean": loop_mean.tolist(),
                "sd": (curves.std(axis=0, ddof=1) if len(curves) > 1 else 0 * loop_mean).tolist(),
                "per_seed": curves.tolist(),
            },
            "within_pp": config.loop_within,
            "choices_to_within": choices_to_reach(
                list(config.loop_checkpoints), loop_mean.tolist(), target
            ),
        },
    }


def headline(results: dict) -> dict:
    """The new default against the ceiling and the classic recipe, pp, means over seeds."""
    measured = {name: res for name, res in results.items() if "skipped" not in res}
    return {
        "gap_to_ceiling_pp": {
            name: {b: c["gap_to_ceiling_pp"]["mean"] for b, c in res["methods"]["new"].items()}
            for name, res in measured.items()
        },
        "gain_over_seed_pp": {
            name: {b: d["mean"] for b, d in res["new_minus_seed"].items()}
            for name, res in measured.items()
        },
    }


def _pm(s: dict, digits: int = 3) -> str:
    return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f}"


def _seeds(s: dict) -> str:
    return " ".join(f"{v:.3f}" for v in s["per_seed"])


def print_report(config: Config, name: str, res: dict) -> None:
    if "skipped" in res:
        print(f"\n{name}: skipped ({res['skipped']})")
        return
    what = (
        f"{config.clusters} clusters in {config.latent} latent dims, noise {config.noise}"
        if name == "synthetic"
        else f"demo images, {config.extractor} layers {','.join(map(str, res['layers']))}"
    )
    ceil = res["ceiling"]
    title = (
        f"{name}: {res['images']:,} rated images, {res['new_images']:,.0f} new ones, dim "
        f"{res['dim']}, {what}; {config.seeds} seed(s); person consistency "
        f"{config.consistency}\nagreement with the person's fresh choices on "
        f"{res['eval_pairs']:,.0f} pairs of NEW images (mean ± sd over seeds); gap = "
        f"ceiling - row, pp; true order = noise-free pairwise accuracy on the new images"
    )
    headers = [
        "choices/image",
        "row",
        "agreement",
        "gap pp",
        "true order",
        "per seed",
        "vs classic pp",
    ]
    rows: list[list[object]] = [
        [
            "any",
            LABELS["ceiling"],
            _pm(ceil["agreement"]),
            "",
            _pm(ceil["true_order"]),
            _seeds(ceil["agreement"]),
            "",
        ]
    ]
    for b in map(str, config.budgets):
        for m in METHODS:
            cell = res["methods"][m][b]
            versus = ""
            if m == "new":
                d = res["new_minus_seed"][b]
                versus = f"{d['mean']:+.1f} ± {d['sd']:.1f} ({d['better_seeds']}/{config.seeds})"
            elif m == "new_weighted":
                d = res["weighted_minus_new"][b]
                versus = f"vs new {d['mean']:+.1f} ± {d['sd']:.1f}"
            rows.append(
                [
                    b,
                    LABELS[m],
                    _pm(cell["agreement"]),
                    f"{cell['gap_to_ceiling_pp']['mean']:.1f}",
                    _pm(cell["true_order"]),
                    _seeds(cell["agreement"]),
                    versus,
                ]
            )
    print_table(headers, rows, title=title)
    loop = res["closed_loop"]
    reach = loop["choices_to_within"]
    print(
        f"ceiling R² on the new images {_pm(ceil['r2'], 2)}; the true utilities' own "
        f"agreement with the fresh choices (oracle) {_pm(res['oracle'])}"
    )
    print(
        "closed loop (rate, train, model priors, active pairs, retrain), agreement: "
        + ", ".join(
            f"{c:g}: {m:.3f}"
            for c, m in zip(loop["checkpoints"], loop["agreement"]["mean"], strict=True)
        )
        + f"; within {loop['within_pp']:g} pp of the ceiling "
        + (
            f"at {reach:.2f} choices/image"
            if reach is not None
            else f"not reached by {loop['checkpoints'][-1]:g}"
        )
    )
    if name == "real":
        print(
            f"generating {total_images(config, name)} images took "
            f"{res['generation_seconds']:.1f} s, "
            f"embedding them with {config.extractor} {res['extraction_seconds']:.1f} s"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Agreement on new images of the classic recipe, the old and the new "
        "default, against a ceiling."
    )
    ap.add_argument("--sets", nargs="+", choices=SETS, help="data sets (default both)")
    ap.add_argument("--synthetic-images", type=int, help="rated synthetic images (default 1000)")
    ap.add_argument("--dim", type=int, help="synthetic embedding size (default 768)")
    ap.add_argument("--clusters", type=int, default=8)
    ap.add_argument("--latent", type=int, help="synthetic latent dims (default 16)")
    ap.add_argument("--noise", type=float, default=0.5, help="synthetic isotropic noise sd")
    ap.add_argument("--images", type=int, help="rated demo images (default 600)")
    ap.add_argument("--new-share", type=float, default=0.5, help="new images per rated image")
    ap.add_argument("--seeds", type=int, help="seeds (default 5)")
    ap.add_argument("--consistency", type=float, default=CONSISTENCY)
    ap.add_argument("--budgets", type=int, nargs="+", help="choices per image (default 1 3 6)")
    ap.add_argument("--heldout", type=float, default=0.25, help="the split's held-out share")
    ap.add_argument("--eval-pairs", type=int, default=50_000, help="fresh pairs, at most")
    ap.add_argument("--trials", type=int, help="the old default's search (default 20)")
    ap.add_argument(
        "--loop-checkpoints", type=float, nargs="+", help="closed-loop choices per image"
    )
    ap.add_argument("--loop-within", type=float, default=3.0, help="pp below the ceiling")
    ap.add_argument(
        "--refit-every", type=int, default=0, help="choices between refits (0: images/100)"
    )
    ap.add_argument("--prior-sd", type=float, default=bradley_terry.PRIOR_SD)
    ap.add_argument("--temperature", type=float, default=pairing.TEMPERATURE)
    ap.add_argument("--extractor", default=EXTRACTOR)
    ap.add_argument(
        "--real-layers",
        default=DEMO_LAYERS,
        help=f"the extractor's layers for the real set (default the demo's, {DEMO_LAYERS})",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="200 synthetic images (dim 32), 40 real, 1 seed, 3 trials, a short loop",
    )
    ap.add_argument("--jobs", type=int, help="processes (default: cores; 1 with --quick)")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)

    from tastemaker.features.layers import LayerChoice

    budgets = tuple(sorted(set(args.budgets or BUDGETS)))
    checkpoints = tuple(sorted(set(args.loop_checkpoints or ()))) or (
        QUICK_LOOP_CHECKPOINTS if args.quick else LOOP_CHECKPOINTS
    )
    if budgets[0] < 1 or checkpoints[0] <= 0:
        ap.error("budgets must be at least 1 choice per image, checkpoints above 0")
    quick = args.quick
    config = Config(
        sets=tuple(s for s in SETS if s in (args.sets or SETS)),
        synthetic_images=args.synthetic_images or (200 if quick else 1000),
        dim=args.dim or (32 if quick else 768),
        clusters=args.clusters,
        latent=args.latent or (8 if quick else 16),
        noise=args.noise,
        images=args.images or (40 if quick else 600),
        new_share=args.new_share,
        seeds=args.seeds or (1 if quick else 5),
        consistency=args.consistency,
        budgets=budgets,
        heldout=args.heldout,
        eval_pairs=args.eval_pairs,
        trials=args.trials or (3 if quick else 20),
        loop_checkpoints=checkpoints,
        loop_within=args.loop_within,
        refit_every=args.refit_every,
        prior_sd=args.prior_sd,
        temperature=args.temperature,
        extractor=args.extractor,
        real_layers=LayerChoice.parse(args.real_layers).layers,
        train_params=TrainParams().to_dict(),
    )
    started = time.perf_counter()
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="model-quality-") as tmp:
        sets: dict[str, DataSet | None] = {}
        real_info: dict = {}
        if "synthetic" in config.sets:
            sets["synthetic"] = None  # drawn afresh per seed, in the task
        if "real" in config.sets:
            print(
                f"generating {total_images(config, 'real')} demo images and embedding them "
                f"with {config.extractor} ...",
                flush=True,
            )
            real, real_info = real_set(config, Path(tmp))
            if real is None:
                print(f"real-feature set skipped: {real_info['skipped']}")
                results["real"] = real_info
            else:
                sets["real"] = real
        tasks = [(name, s) for name in sets for s in range(config.seeds)]
        jobs = args.jobs or (1 if quick else min(len(tasks), os.cpu_count() or 1))
        jobs = max(1, min(jobs, len(tasks)))
        print(f"{len(tasks)} task(s) on {jobs} process(es) ...", flush=True)
        call = [(config, sets[name], SETS.index(name), s) for name, s in tasks]
        if jobs == 1:
            outs = [run_task(*c) for c in call]
        else:
            # one BLAS thread per process: the processes share the cores
            os.environ.update({v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
            # spawned, not forked: a fork after the extraction's torch threads can hang
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(jobs, mp_context=spawn) as pool:
                outs = list(pool.map(run_task, *zip(*call, strict=True)))
    for name, data in sets.items():
        runs = [o for (nn, _), o in zip(tasks, outs, strict=True) if nn == name]
        dim = config.dim if data is None else data.x.shape[1]
        results[name] = summarise(config, runs, dim, rated_images(config, name))
        if name == "real":
            results[name].update(real_info)
    results = {name: results[name] for name in config.sets if name in results}
    heads = headline(results)
    seconds = time.perf_counter() - started
    for name, res in results.items():
        print_report(config, name, res)
    print("\nheadline (new default, pp of agreement on new images, mean over seeds):")
    for key, per_set in heads.items():
        for name, values in per_set.items():
            print(f"  {key} {name}: " + ", ".join(f"{b}: {v:+.2f}" for b, v in values.items()))
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(
        f"\n{seconds:.1f} s, {jobs} process(es), {os.cpu_count()} cores, "
        f"load average at the end {load} (other work on the machine counts in it)"
    )
    write_json(
        args.json,
        {
            "config": asdict(config),
            "results": results,
            "headline": heads,
            "machine": machine(),
            "seconds": seconds,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
