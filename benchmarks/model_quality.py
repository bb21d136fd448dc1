"""How well a model trained on a simulated person's choices agrees with that person.

The same simulated person (``tastemaker.rating.simulate``: Bradley–Terry choices between
two images, agreeing with their own true order on 75% of random pairs, ``--consistency``)
rates two data sets:

``synthetic``  embeddings with a known hidden taste that is not trivially linear: points
               of ``--clusters`` (8) Gaussian clusters in a ``--latent`` (16) dimensional
               space, mapped linearly into ``--dim`` (768) dimensions with isotropic noise
               (sd ``--noise``); the utility is a cluster offset plus a hidden direction
               within each cluster (each cluster its own direction, correlated 0.7 with a
               shared one), standardised. One new data set per seed.
``real``       ``--images`` (600) generated demo images (``tastemaker.workflows.demo_images``) whose
               hidden taste ``demo_taste`` is a function of what they show (colour
               warmth, roundness, complexity), standardised, embedded with the bundled
               EfficientNet-Lite0 (1280 dimensions, offline; generated and embedded once
               per run in a temporary folder, then shared by every seed; skipped with a
               message when the extractor cannot be loaded).

A quarter of the images are held out (``heldout_mask``, a new salt per seed). Both
recipes rate the whole library, two images a set, up to the largest ``--budgets``
(choices per image = choices ÷ images), and train at each budget on what was rated so
far:

``seed``  the seed's recipe: pairs drawn with the seed's ``(1 - 0.3)^n`` weighting
          (``pairing.log_weights``/``pick``), the Elo database (``elo.choose``), then
          ``train_model`` with ``loss="ranking"`` on the training images' Elo scores;
``ours``  pairs from ``pairing.pick_active`` on a live Bradley–Terry fit (a full
          warm-started refit every ``images/100`` choices, a Laplace update of the two
          shown images after every other choice: ``benchmarks/rating_efficiency.py``'s
          loop), then ``train_model`` with ``loss="choices"`` on the raw outcomes, the
          Bradley–Terry ratings as ``scores``.

Both train with the same fixed metaparameters, ``TrainParams()``'s defaults (only the
loss differs; no search for either) and the same training seed; each stops early on
its own held-out loss, as the app does (Elo order of the held-out images for ``seed``,
held-out choices for ``ours``). Each model is then judged on FRESH pairs of held-out
images — every pair of them (at most ``--eval-pairs``, else a random sample), each judged
once more by the same person, the same pairs and choices for both recipes:

``agreement``   the share of the person's fresh choices the model predicts (the product's
                agreement; ties half), and ``agreement / ceiling``, the ceiling being the
                person's consistency (0.75);
``true_order``  the noise-free share of held-out pairs the model orders as the true
                utilities do.

Also reported: ``oracle``, the true utilities' own agreement with those fresh choices (the
attainable ceiling on these very pairs; near 0.75 when the utilities are close to normal),
and ``linear_r2``, the held-out R² of a ridge fit of the true utilities on the
embeddings (how linear the taste is in the features).

    python benchmarks/model_quality.py                    # 1,000 + 600 images, 3 seeds
    python benchmarks/model_quality.py --quick --json out.json   # a CI check, seconds

JSON: ``config`` (the settings, ``train_params`` included); ``results`` keyed by data set
(``synthetic``, ``real``), each either ``{"skipped": reason}`` or with ``images``,
``heldout_images``, ``eval_pairs``, ``dim``, ``budgets``, ``ceiling``, ``oracle`` and
``linear_r2`` (``mean``, ``sd``, ``per_seed``), ``methods`` (``seed``/``ours`` -> budget
as a string -> ``agreement``, ``agreement_vs_ceiling``, ``true_order``, each ``mean``,
``sd``, ``per_seed``; and ``train_outcomes``, ``epochs_run``: means), ``ours_minus_seed``
(budget -> ``agreement``/``true_order`` -> ``mean`` and ``sd`` of the per-seed
differences, ``ours_better_seeds``: in how many seeds ours was higher), and for ``real``
also ``generation_seconds`` and ``extraction_seconds``; ``machine``; ``seconds``.
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
from rating_efficiency import _laplace_update, _record

from tastemaker.rating import bradley_terry, elo, pairing
from tastemaker.rating.ranks import zscore
from tastemaker.rating.simulate import CONSISTENCY, Person, scale_for_consistency
from tastemaker.training import TrainingData, TrainParams, heldout_mask, train_model
from tastemaker.training.metrics import choice_agreement, pairwise_accuracy

METHODS = ("seed", "ours")
SETS = ("synthetic", "real")
BUDGETS = (1, 3, 6)
EXTRACTOR = "efficientnet-lite0"
FIGURES = ("agreement", "agreement_vs_ceiling", "true_order")
LOSS = {"seed": "ranking", "ours": "choices"}
RATINGS = {"seed": "elo", "ours": "bt"}


@dataclass(frozen=True)
class Config:
    sets: tuple[str, ...]
    synthetic_images: int
    dim: int
    clusters: int
    latent: int
    noise: float
    images: int  # the real set's
    seeds: int
    consistency: float
    budgets: tuple[int, ...]
    heldout: float
    eval_pairs: int
    refit_every: int  # choices between full Bradley–Terry refits; 0: images/100
    prior_sd: float
    temperature: float
    extractor: str
    train_params: dict


@dataclass(frozen=True)
class DataSet:
    name: str
    x: np.ndarray  # (n, d) float32 embeddings
    utilities: np.ndarray  # (n,) standardised true utilities
    keys: list[str]  # what heldout_mask hashes


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def synthetic_set(config: Config, rng: np.random.Generator) -> DataSet:
    """Clustered embeddings whose utility is a cluster offset plus a per-cluster direction."""
    n, r, k = config.synthetic_images, config.latent, config.clusters
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
    images = generate_demo_images(folder / "images", config.images, seed=0)
    generated = time.perf_counter()
    rows: dict[int, np.ndarray] = {}
    for batch in extract(extractor, [im.path for im in images], LayerChoice()):
        if batch.failures:
            raise RuntimeError(f"demo images failed to embed: {batch.failures}")
        rows.update(zip(batch.indices, batch.vectors, strict=True))
    x = np.stack([rows[i] for i in range(len(images))]).astype(np.float32)
    extracted = time.perf_counter()
    np.save(folder / "embeddings.npy", x)  # the run's cache: every seed uses these
    utilities = zscore(np.array([demo_taste(im) for im in images]))
    keys = [str(im.path.relative_to(folder)) for im in images]
    info = {
        "generation_seconds": generated - started,
        "extraction_seconds": extracted - generated,
    }
    return DataSet("real", x, utilities, keys), info


# --- rating ---------------------------------------------------------------------------


Snapshot = tuple[np.ndarray, np.ndarray, np.ndarray]  # winners, losers, database scores


def rate_seed(
    n: int, budgets: tuple[int, ...], person: Person, rng: np.random.Generator
) -> dict[int, Snapshot]:
    """The seed's pairing and Elo database; the outcomes and scores at each budget."""
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


def rate_ours(
    config: Config, n: int, person: Person, rng: np.random.Generator
) -> dict[int, Snapshot]:
    """Active pairs on a live Bradley–Terry fit; the outcomes and BT ratings at each budget
    (a converged fit at each)."""
    budgets = config.budgets
    total = n * budgets[-1]
    every = config.refit_every if config.refit_every > 0 else max(1, n // 100)
    win = np.empty(total, np.int64)
    lose = np.empty_like(win)
    ratings = np.zeros(n)
    precision = np.full(n, 1.0 / config.prior_sd**2)
    counts = np.zeros(n, np.int64)
    marks = {n * b: b for b in budgets}
    out: dict[int, Snapshot] = {}
    m = 0
    for c in range(1, total + 1):
        sd = 1.0 / np.sqrt(precision)
        shown = pairing.pick_active(ratings, sd, counts, 2, rng, temperature=config.temperature)
        pos = person.choose_from(shown)
        counts[shown] += 1
        m0 = m
        m = _record(shown.tolist(), pos, win, lose, m)
        if c % every == 0 or c in marks:
            fit = bradley_terry.fit(n, win[:m], lose[:m], prior_sd=config.prior_sd, initial=ratings)
            ratings, precision = fit.ratings, 1.0 / fit.sd**2
        else:
            _laplace_update(ratings, precision, win[m0:m], lose[m0:m])
        if c in marks:
            out[marks[c]] = (win[:m].copy(), lose[:m].copy(), ratings.copy())
    return out


# --- one seed -------------------------------------------------------------------------


def eval_pairs(heldout: np.ndarray, limit: int, rng: np.random.Generator):
    """Every pair of held-out images, or ``limit`` distinct random ones when there are more."""
    idx = np.flatnonzero(heldout)
    i, j = np.triu_indices(len(idx), 1)
    if len(i) > limit:
        keep = np.sort(rng.choice(len(i), limit, replace=False))
        i, j = i[keep], j[keep]
    return idx[i], idx[j]


def linear_r2(x: np.ndarray, u: np.ndarray, heldout: np.ndarray) -> float:
    """Held-out R² of a ridge fit of ``u`` on ``x`` (penalty picked on the training half)."""
    train = ~heldout
    mean = x[train].mean(0)
    xt, xh = x[train] - mean, x[heldout] - mean
    ut = u[train] - u[train].mean()
    uh = u[heldout] - u[train].mean()
    # in the dual (n_train x n_train): cheap when d is large
    gram = xt @ xt.T
    best = -math.inf
    for lam in np.logspace(-2, 4, 13) * np.trace(gram) / len(gram):
        alpha = np.linalg.solve(gram + lam * np.eye(len(gram)), ut)
        pred = xh @ (xt.T @ alpha)
        best = max(best, 1.0 - float(((uh - pred) ** 2).sum() / (uh * uh).sum()))
    return best  # the best penalty on the held-out side: an optimistic bound, for scale


def run_task(config: Config, data: DataSet | None, set_index: int, seed: int) -> dict:
    """Both recipes on one data set and seed: rating, training and the held-out figures."""
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, set_index]).spawn(7)]
    if data is None:
        data = synthetic_set(config, rngs[0])
    n = len(data.x)
    scale = scale_for_consistency(config.consistency)
    heldout = heldout_mask(data.keys, config.heldout, salt=f"model-quality-{seed}")
    snaps = {
        "seed": rate_seed(n, config.budgets, Person(data.utilities, scale, rngs[1]), rngs[2]),
        "ours": rate_ours(config, n, Person(data.utilities, scale, rngs[3]), rngs[4]),
    }
    a, b = eval_pairs(heldout, config.eval_pairs, rngs[5])
    fresh = Person(data.utilities, scale, rngs[6]).choose_many(a, b)
    fresh_losers = np.where(fresh == a, b, a)
    held = np.flatnonzero(heldout)
    out: dict = {
        "oracle": choice_agreement(data.utilities, fresh, fresh_losers)[0],
        "linear_r2": linear_r2(data.x.astype(np.float64), data.utilities, heldout),
        "heldout_images": len(held),
        "eval_pairs": len(a),
    }
    params = TrainParams(**config.train_params)
    for method in METHODS:
        for budget in config.budgets:
            win, lose, scores = snaps[method][budget]
            training = TrainingData(
                x=data.x, scores=scores, winners=win, losers=lose, heldout=heldout
            )
            result = train_model(
                training,
                TrainParams(**{**asdict(params), "loss": LOSS[method]}),
                meta_base={
                    "extractor": config.extractor if data.name == "real" else "synthetic",
                    "layers": (0,),
                    "layer_mode": "join",
                    "ratings": RATINGS[method],
                },
                seed=seed,
                device="cpu",
                threads=1,
            )
            pred = result.model.score_embeddings(data.x).astype(np.float64)
            agreement = choice_agreement(pred, fresh, fresh_losers)[0]
            out[(method, budget)] = {
                "agreement": agreement,
                "agreement_vs_ceiling": agreement / config.consistency,
                "true_order": pairwise_accuracy(pred[held], data.utilities[held]),
                "train_outcomes": int(training.comparisons_within(training.train).sum()),
                "epochs_run": result.metrics["epochs_run"],
            }
    return out


# --- summary and report ---------------------------------------------------------------


def _stats(values: list[float]) -> dict:
    a = np.asarray(values, np.float64)
    return {"mean": float(a.mean()), "sd": float(a.std()), "per_seed": a.tolist()}


def summarise(config: Config, data_name: str, runs: list[dict], dim: int, n: int) -> dict:
    methods: dict = {}
    for method in METHODS:
        methods[method] = {}
        for budget in config.budgets:
            cells = [r[(method, budget)] for r in runs]
            entry = {f: _stats([c[f] for c in cells]) for f in FIGURES}
            entry["train_outcomes"] = float(np.mean([c["train_outcomes"] for c in cells]))
            entry["epochs_run"] = float(np.mean([c["epochs_run"] for c in cells]))
            methods[method][str(budget)] = entry
    diff = {}
    for budget in config.budgets:
        diff[str(budget)] = {}
        for f in ("agreement", "true_order"):
            d = np.array([r[("ours", budget)][f] - r[("seed", budget)][f] for r in runs])
            diff[str(budget)][f] = {
                "mean": float(d.mean()),
                "sd": float(d.std()),
                "ours_better_seeds": int((d > 0).sum()),
            }
    return {
        "images": n,
        "heldout_images": float(np.mean([r["heldout_images"] for r in runs])),
        "eval_pairs": float(np.mean([r["eval_pairs"] for r in runs])),
        "dim": dim,
        "budgets": list(config.budgets),
        "ceiling": config.consistency,
        "oracle": _stats([r["oracle"] for r in runs]),
        "linear_r2": _stats([r["linear_r2"] for r in runs]),
        "methods": methods,
        "ours_minus_seed": diff,
    }


def _pm(s: dict, digits: int = 3) -> str:
    return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f}"


def print_report(config: Config, name: str, res: dict) -> None:
    if "skipped" in res:
        print(f"\n{name}: skipped ({res['skipped']})")
        return
    what = (
        f"{config.clusters} clusters in {config.latent} latent dims, noise {config.noise}"
        if name == "synthetic"
        else f"demo images, {config.extractor}"
    )
    title = (
        f"{name}: {res['images']:,} images ({res['heldout_images']:.0f} held out), "
        f"dim {res['dim']}, {what}; {config.seeds} seed(s); person consistency "
        f"{config.consistency}; {res['eval_pairs']:,.0f} fresh held-out pairs a seed\n"
        f"held-out agreement with the person's fresh choices (mean ± sd over seeds); "
        f"/ceiling = agreement / {config.consistency}; true order = noise-free pairwise "
        f"accuracy against the true utilities"
    )
    headers = [
        "choices/image",
        "method",
        "agreement",
        "/ceiling",
        "true order",
        "ours better",
        "train outcomes",
        "epochs",
    ]
    rows = []
    for budget in config.budgets:
        for method in METHODS:
            cell = res["methods"][method][str(budget)]
            label = "seed (Elo, ranking)" if method == "seed" else "ours (BT active, choices)"
            rows.append(
                [
                    str(budget),
                    label,
                    _pm(cell["agreement"]),
                    f"{cell['agreement_vs_ceiling']['mean']:.3f}",
                    _pm(cell["true_order"]),
                    "",
                    f"{cell['train_outcomes']:,.0f}",
                    f"{cell['epochs_run']:.1f}",
                ]
            )
        d = res["ours_minus_seed"][str(budget)]
        better = d["agreement"]["ours_better_seeds"]
        rows.append(
            [
                "",
                "ours - seed",
                _pm(d["agreement"]),
                "",
                _pm(d["true_order"]),
                f"{better}/{config.seeds} seeds",
                "",
                "",
            ]
        )
    print_table(headers, rows, title=title)
    print(
        f"oracle (the true utilities on the same fresh choices): {_pm(res['oracle'])}; "
        f"linear ridge fit of the true utilities, held-out R²: {_pm(res['linear_r2'], 2)}"
    )
    if name == "real":
        print(
            f"generating {res['images']} images took {res['generation_seconds']:.1f} s, "
            f"embedding them with {config.extractor} {res['extraction_seconds']:.1f} s"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Held-out agreement of models trained by the seed's recipe and ours."
    )
    ap.add_argument("--sets", nargs="+", choices=SETS, help="data sets (default both)")
    ap.add_argument("--synthetic-images", type=int, help="synthetic images (default 1000)")
    ap.add_argument("--dim", type=int, help="synthetic embedding size (default 768)")
    ap.add_argument("--clusters", type=int, default=8)
    ap.add_argument("--latent", type=int, help="synthetic latent dims (default 16)")
    ap.add_argument("--noise", type=float, default=0.5, help="synthetic isotropic noise sd")
    ap.add_argument("--images", type=int, help="generated demo images (default 600)")
    ap.add_argument("--seeds", type=int, help="seeds (default 3)")
    ap.add_argument("--consistency", type=float, default=CONSISTENCY)
    ap.add_argument("--budgets", type=int, nargs="+", help="choices per image (default 1 3 6)")
    ap.add_argument("--heldout", type=float, default=0.25)
    ap.add_argument("--eval-pairs", type=int, default=50_000, help="fresh held-out pairs, at most")
    ap.add_argument(
        "--refit-every", type=int, default=0, help="choices between refits (0: images/100)"
    )
    ap.add_argument("--prior-sd", type=float, default=bradley_terry.PRIOR_SD)
    ap.add_argument("--temperature", type=float, default=pairing.TEMPERATURE)
    ap.add_argument("--extractor", default=EXTRACTOR)
    ap.add_argument(
        "--quick", action="store_true", help="200 synthetic images (dim 32), 40 real, 1 seed"
    )
    ap.add_argument("--jobs", type=int, help="processes (default: cores; 1 with --quick)")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)

    budgets = tuple(sorted(set(args.budgets or BUDGETS)))
    if budgets[0] < 1:
        ap.error("budgets must be at least 1 choice per image")
    quick = args.quick
    config = Config(
        sets=tuple(s for s in SETS if s in (args.sets or SETS)),
        synthetic_images=args.synthetic_images or (200 if quick else 1000),
        dim=args.dim or (32 if quick else 768),
        clusters=args.clusters,
        latent=args.latent or (8 if quick else 16),
        noise=args.noise,
        images=args.images or (40 if quick else 600),
        seeds=args.seeds or (1 if quick else 3),
        consistency=args.consistency,
        budgets=budgets,
        heldout=args.heldout,
        eval_pairs=args.eval_pairs,
        refit_every=args.refit_every,
        prior_sd=args.prior_sd,
        temperature=args.temperature,
        extractor=args.extractor,
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
                f"generating {config.images} demo images and embedding them "
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
            # spawned, not forked: a fork after the extraction's torch threads can hang
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(jobs, mp_context=spawn) as pool:
                outs = list(pool.map(run_task, *zip(*call, strict=True)))
    for name in sets:
        runs = [o for (nn, _), o in zip(tasks, outs, strict=True) if nn == name]
        data = sets[name]
        dim = config.dim if data is None else data.x.shape[1]
        n = config.synthetic_images if data is None else len(data.x)
        results[name] = summarise(config, name, runs, dim, n)
        if name == "real":
            results[name].update(real_info)
    results = {name: results[name] for name in config.sets if name in results}
    seconds = time.perf_counter() - started
    for name, res in results.items():
        print_report(config, name, res)
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
            "machine": machine(),
            "seconds": seconds,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
