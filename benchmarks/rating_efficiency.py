"""How many choices each rating method needs to recover a simulated person's ranking.

A simulated person (``tastemaker.rating.simulate``: Bradley–Terry choices, agreeing with
their own true order on 75% of random pairs by default) rates libraries of 300 and 1,000
images, two images a set. After 0, 1, 2, 3, 4, 6, 8, 12 and 16 choices per image
(choices ÷ images) we measure the Spearman rho between the true utilities and each
method's ratings:

``seed``            the classic method (printed ``classic``; the original aesthetic
                    scorer's): Elo (K = 0.8) on pairs drawn with its ``(1 - 0.3)^n``
                    weighting — the app's own ``elo.choose`` and
                    ``pairing.log_weights``/``pairing.pick``;
``bt``              a Bradley–Terry fit (``bradley_terry.fit``) on the very same choices;
``bt-active``       Bradley–Terry with ``pairing.pick_active`` choosing each set: a full
                    warm-started refit every ``images/100`` choices (``--refit-every``),
                    and after every other choice an O(1) Laplace (Glicko-like) update of
                    the shown images' ratings and precisions, so each pick sees every
                    earlier choice; at each checkpoint the fit is converged;
``bt-active-prior`` the same, started from a model prior: a noisy score with correlation
                    ``--prior-corr`` (0.8) to the truth, standing in for a trained model,
                    calibrated to the Bradley–Terry scale as an app would calibrate a
                    model against the ratings (mean ``s rho score``, sd
                    ``s sqrt(1 - rho^2)``, ``s`` the person's scale).

One truth per seed, shared by every method; every compared figure comes from one run.
Reported: the mean rho per checkpoint, the choices per image each method needs to reach
rho 0.7 and 0.8 (linear interpolation on the mean curve; ``null``/"not reached"), and
the headline: choices needed to reach the classic method's rho at the last checkpoint,
as a ratio of its own (its first crossing of that value).

    python benchmarks/rating_efficiency.py                 # 300 and 1,000 images, 5 seeds
    python benchmarks/rating_efficiency.py --quick --json out.json   # a CI check, seconds

JSON: ``config`` (the settings), ``results`` keyed by library size, each with
``choices_per_image``, ``rho`` (per method: ``mean``, ``sd``, ``per_seed``),
``choices_to_reach`` (``"0.7"``/``"0.8"`` -> per method), ``seed_rho_at_max``,
``choices_to_seed_rho_at_max`` and ``ratio_vs_seed`` (per method); ``headline`` keyed by
size; ``timing`` (best of 3: a cold Bradley–Terry fit of 10,000 images and 50,000
comparisons, a warm refit after one more, one ``pick_active`` and one seed ``pick`` among
100,000 images); ``seconds``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import TextIO

import numpy as np

from tastemaker.rating import bradley_terry, elo, pairing
from tastemaker.rating.ranks import spearman
from tastemaker.rating.simulate import CONSISTENCY, Person, scale_for_consistency

METHODS = ("seed", "bt", "bt-active", "bt-active-prior")
NAMES = {"seed": "classic"}  # printed; the JSON keeps its keys
CHECKPOINTS = (1, 2, 3, 4, 6, 8, 12, 16)
QUICK_CHECKPOINTS = (1, 2, 4, 8)
TARGETS = ("0.7", "0.8")


@dataclass(frozen=True)
class Config:
    images: tuple[int, ...]
    seeds: int
    consistency: float
    prior_corr: float
    choices: int  # images per set
    checkpoints: tuple[int, ...]
    refit_every: int  # choices between full refits in the active methods; 0: images/100
    prior_sd: float
    temperature: float


def refit_interval(config: Config, n: int) -> int:
    return config.refit_every if config.refit_every > 0 else max(1, n // 100)


def _record(shown: list[int], pos: int, win: np.ndarray, lose: np.ndarray, m: int) -> int:
    """Append the set's pairwise outcomes (``elo.pairwise``) at ``m``; the new length."""
    for w, lo in elo.pairwise(shown, pos):
        win[m], lose[m] = w, lo
        m += 1
    return m


def rho(ratings: np.ndarray, truth: np.ndarray) -> float:
    """Spearman's rho with the true utilities; 0 while the ratings are still flat (before
    any choice, without a prior): no information yet, where every curve starts."""
    r = spearman(ratings, truth)
    return 0.0 if np.isnan(r) else r


def run_seed(
    config: Config, n: int, person: Person, rng: np.random.Generator
) -> dict[str, list[float]]:
    """``seed`` (live Elo, as the app does it) and ``bt`` (fitted on the same outcomes)."""
    k = config.choices
    total = n * config.checkpoints[-1]
    win = np.empty(total * (k - 1), np.int64)
    lose = np.empty_like(win)
    ratings = np.zeros(n)
    counts = np.zeros(n, np.int64)
    curves: dict[str, list[float]] = {"seed": [0.0], "bt": [0.0]}
    marks = {n * c for c in config.checkpoints}
    fit = None
    m = 0
    for c in range(1, total + 1):
        shown = pairing.pick(pairing.log_weights(counts), k, rng)
        pos = person.choose_from(shown)
        ratings[shown] = elo.choose(ratings[shown], pos)
        counts[shown] += 1
        m = _record(shown.tolist(), pos, win, lose, m)
        if c in marks:
            fit = bradley_terry.fit(
                n,
                win[:m],
                lose[:m],
                prior_sd=config.prior_sd,
                initial=None if fit is None else fit.ratings,
            )
            curves["seed"].append(rho(ratings, person.utilities))
            curves["bt"].append(rho(fit.ratings, person.utilities))
    if not np.array_equal(elo.replay(np.zeros(n), win[:m], lose[:m]), ratings):
        raise AssertionError("the recorded outcomes do not replay to the live Elo ratings")
    return curves


class ActiveRater:
    """A person's choices on sets from ``pairing.pick_active`` over a live Bradley–Terry
    fit: a full warm-started refit every ``every`` choices and at the end of each
    :meth:`rate`, an O(1) Laplace update of the shown images in between. It keeps its
    state, so rating can pause (to measure, to train a model, to set new priors) and go on."""

    def __init__(
        self,
        n: int,
        capacity: int,
        prior_mean: np.ndarray,
        prior_sd: float,
        every: int,
        temperature: float,
        k: int = 2,
    ) -> None:
        self.n, self.prior_sd, self.every = n, prior_sd, every
        self.temperature, self.k = temperature, k
        self.win = np.empty(capacity, np.int64)
        self.lose = np.empty_like(self.win)
        self.m = 0  # pairwise outcomes recorded
        self.choices = 0
        self.prior_mean = prior_mean.copy()
        self.ratings = prior_mean.copy()
        self.precision = np.full(n, 1.0 / prior_sd**2)
        self.counts = np.zeros(n, np.int64)

    @property
    def winners(self) -> np.ndarray:
        return self.win[: self.m]

    @property
    def losers(self) -> np.ndarray:
        return self.lose[: self.m]

    def rate(self, until: int, person: Person, rng: np.random.Generator) -> None:
        """Choices until there are ``until`` in all; the fit is converged at the end."""
        for c in range(self.choices + 1, until + 1):
            sd = 1.0 / np.sqrt(self.precision)
            shown = pairing.pick_active(
                self.ratings, sd, self.counts, self.k, rng, temperature=self.temperature
            )
            pos = person.choose_from(shown)
            self.counts[shown] += 1
            m0 = self.m
            self.m = _record(shown.tolist(), pos, self.win, self.lose, self.m)
            if c % self.every == 0 or c == until:
                self.refit()
            else:
                _laplace_update(
                    self.ratings, self.precision, self.win[m0 : self.m], self.lose[m0 : self.m]
                )
        self.choices = max(self.choices, until)

    def refit(self) -> None:
        """The full fit of every outcome so far, warm-started from the live ratings."""
        fit = bradley_terry.fit(
            self.n,
            self.winners,
            self.losers,
            prior_mean=self.prior_mean,
            prior_sd=self.prior_sd,
            initial=self.ratings,
        )
        self.ratings, self.precision = fit.ratings, 1.0 / fit.sd**2


def run_active(
    config: Config,
    n: int,
    person: Person,
    rng: np.random.Generator,
    prior_mean: np.ndarray,
    prior_sd: float,
) -> list[float]:
    """Bradley–Terry with ``pairing.pick_active``."""
    k = config.choices
    rater = ActiveRater(
        n,
        n * config.checkpoints[-1] * (k - 1),
        prior_mean,
        prior_sd,
        refit_interval(config, n),
        config.temperature,
        k,
    )
    curve = [rho(rater.ratings, person.utilities)]
    for c in config.checkpoints:
        rater.rate(n * c, person, rng)
        curve.append(rho(rater.ratings, person.utilities))
    return curve


def _laplace_update(
    ratings: np.ndarray, precision: np.ndarray, win: np.ndarray, lose: np.ndarray
) -> None:
    """One Newton step of the two images' posterior per outcome (a Glicko-like online
    update, in place): ``r_w += (1 - p) sd_w^2 / (1 + p (1 - p) v)``, ``r_l`` the mirror,
    and both precisions gain ``p (1 - p)``, the Hessian's diagonal."""
    for w, lo in zip(win.tolist(), lose.tolist(), strict=True):
        p = 1.0 / (1.0 + math.exp(-(ratings[w] - ratings[lo])))
        c = p * (1.0 - p)
        var_w, var_l = 1.0 / precision[w], 1.0 / precision[lo]
        g = (1.0 - p) / (1.0 + c * (var_w + var_l))
        ratings[w] += g * var_w
        ratings[lo] -= g * var_l
        precision[w] += c
        precision[lo] += c


def run_task(config: Config, n: int, seed: int) -> dict[str, list[float]]:
    """Every method for one library size and seed, on one shared truth."""
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, n]).spawn(8)]
    utilities = rngs[0].standard_normal(n)
    scale = scale_for_consistency(config.consistency)
    curves = run_seed(config, n, Person(utilities, scale, rngs[1]), rngs[2])
    curves["bt-active"] = run_active(
        config, n, Person(utilities, scale, rngs[3]), rngs[4], np.zeros(n), config.prior_sd
    )
    rho = config.prior_corr
    score = rho * utilities + math.sqrt(1 - rho * rho) * rngs[5].standard_normal(n)
    curves["bt-active-prior"] = run_active(
        config,
        n,
        Person(utilities, scale, rngs[6]),
        rngs[7],
        scale * rho * score,
        scale * math.sqrt(1 - rho * rho),
    )
    return curves


def timing(repeat: int = 3) -> dict[str, float]:
    """Seconds (best of ``repeat``) of the operations the app repeats at scale."""
    rng = np.random.default_rng(0)
    n, m = 10_000, 50_000
    person = Person.random(n, rng)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    win = person.choose_many(a, b)
    lose = np.where(win == a, b, a)

    def best(fn) -> float:
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    cold = bradley_terry.fit(n, win, lose)
    big = 100_000
    ratings, sd = rng.normal(size=big), rng.uniform(0.2, 2.0, big)
    counts = rng.integers(0, 9, big)
    return {
        "bt_fit_10k_images_50k_comparisons": best(lambda: bradley_terry.fit(n, win, lose)),
        "bt_refit_warm_one_more": best(
            lambda: bradley_terry.fit(n, np.r_[win, 0], np.r_[lose, 1], initial=cold.ratings)
        ),
        "pick_active_100k_images": best(lambda: pairing.pick_active(ratings, sd, counts, 2, rng)),
        "seed_pick_100k_images": best(lambda: pairing.pick(pairing.log_weights(counts), 2, rng)),
    }


def choices_to_reach(xs: list[float], ys: list[float], target: float) -> float | None:
    """Choices per image at which the curve first reaches ``target``, interpolating
    linearly between measured points; None when it never does."""
    for i, y in enumerate(ys):
        if y >= target:
            if i == 0:
                return float(xs[0])
            x0, y0 = xs[i - 1], ys[i - 1]
            return float(x0 + (xs[i] - x0) * (target - y0) / (y - y0))
    return None


def summarise(config: Config, per_seed: list[dict[str, list[float]]]) -> dict:
    xs = [0, *config.checkpoints]
    rho = {}
    for method in METHODS:
        runs = np.array([r[method] for r in per_seed])
        rho[method] = {
            "mean": runs.mean(axis=0).tolist(),
            "sd": runs.std(axis=0).tolist(),
            "per_seed": runs.tolist(),
        }
    reach = {
        t: {m: choices_to_reach(xs, rho[m]["mean"], float(t)) for m in METHODS} for t in TARGETS
    }
    seed_final = rho["seed"]["mean"][-1]
    needed = {m: choices_to_reach(xs, rho[m]["mean"], seed_final) for m in METHODS}
    return {
        "choices_per_image": xs,
        "rho": rho,
        "choices_to_reach": reach,
        "seed_rho_at_max": seed_final,
        "choices_to_seed_rho_at_max": needed,
        "ratio_vs_seed": {m: None if v is None else v / needed["seed"] for m, v in needed.items()},
    }


def headline(config: Config, results: dict) -> dict:
    out = {}
    for n, res in results.items():
        ratio = res["ratio_vs_seed"]
        reach8 = res["choices_to_reach"]["0.8"]
        out[n] = {
            "seed_rho_at_max": res["seed_rho_at_max"],
            "ratio_bt": ratio["bt"],
            "ratio_bt_active": ratio["bt-active"],
            "ratio_bt_active_prior": ratio["bt-active-prior"],
            "ratio_at_most_0.4": (ratio["bt-active"] or math.inf) <= 0.4,
            "rho_0.8_without_prior_at": reach8["bt-active"],
            "rho_0.8_without_prior_within_8": (reach8["bt-active"] or math.inf) <= 8,
            "rho_0.8_with_prior_at": reach8["bt-active-prior"],
            "rho_0.8_with_prior_within_3": (reach8["bt-active-prior"] or math.inf) <= 3,
        }
    return out


def _fmt(x: float | None) -> str:
    return "not reached" if x is None else f"{x:.2f}"


def print_report(config: Config, results: dict, heads: dict, out: TextIO = sys.stdout) -> None:
    for n, res in results.items():
        print(
            f"\n{n} images, {config.seeds} seed(s), consistency {config.consistency}, "
            f"{config.choices} images a set: Spearman rho (mean) after choices per image",
            file=out,
        )
        print(f"{'method':<16}" + "".join(f"{x:>7}" for x in res["choices_per_image"]), file=out)
        for m in METHODS:
            rhos = "".join(f"{v:7.3f}" for v in res["rho"][m]["mean"])
            print(f"{NAMES.get(m, m):<16}" + rhos, file=out)
        seed_rho = f"rho {res['seed_rho_at_max']:.3f}"
        cols = [f"rho {t}" for t in TARGETS] + [seed_rho, "vs classic"]
        print(f"\n{'choices/image to':<16}" + "".join(f"{c:>13}" for c in cols), file=out)
        for m in METHODS:
            cells = [res["choices_to_reach"][t][m] for t in TARGETS]
            cells += [res["choices_to_seed_rho_at_max"][m], res["ratio_vs_seed"][m]]
            print(f"{NAMES.get(m, m):<16}" + "".join(f"{_fmt(c):>13}" for c in cells), file=out)
        h = heads[n]
        print(
            f"\nheadline: to the classic method's rho at {config.checkpoints[-1]} "
            f"choices/image, bt needs {_fmt(h['ratio_bt'])}x its choices, bt-active "
            f"{_fmt(h['ratio_bt_active'])}x (target <= 0.4: {h['ratio_at_most_0.4']}); "
            f"rho 0.8 at {_fmt(h['rho_0.8_without_prior_at'])} choices/image without a prior "
            f"(<= 8: {h['rho_0.8_without_prior_within_8']}), at "
            f"{_fmt(h['rho_0.8_with_prior_at'])} with it "
            f"(<= 3: {h['rho_0.8_with_prior_within_3']})",
            file=out,
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Choices each rating method needs to recover a simulated ranking."
    )
    ap.add_argument("--images", type=int, nargs="+", help="library sizes (default 300 1000)")
    ap.add_argument("--seeds", type=int, help="seeds per size (default 5)")
    ap.add_argument("--consistency", type=float, default=CONSISTENCY)
    ap.add_argument("--prior-corr", type=float, default=0.8, help="model prior vs truth")
    ap.add_argument("--choices", type=int, default=2, choices=(2, 3, 4), help="images a set")
    ap.add_argument("--checkpoints", type=int, nargs="+", help="choices per image to measure")
    ap.add_argument(
        "--refit-every", type=int, default=0, help="choices between refits (0: images/100)"
    )
    ap.add_argument("--prior-sd", type=float, default=bradley_terry.PRIOR_SD)
    ap.add_argument("--temperature", type=float, default=pairing.TEMPERATURE)
    ap.add_argument("--quick", action="store_true", help="100 images, 2 seeds, to 8: for CI")
    ap.add_argument("--jobs", type=int, help="processes (default: cores; 1 with --quick)")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)

    checkpoints = tuple(sorted(set(args.checkpoints or ()))) or (
        QUICK_CHECKPOINTS if args.quick else CHECKPOINTS
    )
    if checkpoints[0] < 1:
        ap.error("checkpoints must be at least 1 choice per image")
    config = Config(
        images=tuple(args.images or ((100,) if args.quick else (300, 1000))),
        seeds=args.seeds or (2 if args.quick else 5),
        consistency=args.consistency,
        prior_corr=args.prior_corr,
        choices=args.choices,
        checkpoints=checkpoints,
        refit_every=args.refit_every,
        prior_sd=args.prior_sd,
        temperature=args.temperature,
    )
    tasks = [(n, s) for n in config.images for s in range(config.seeds)]
    jobs = args.jobs or (1 if args.quick else min(len(tasks), os.cpu_count() or 1))
    started = time.perf_counter()
    if jobs == 1:
        outs = [run_task(config, n, s) for n, s in tasks]
    else:
        with ProcessPoolExecutor(jobs) as pool:
            outs = list(pool.map(run_task, [config] * len(tasks), *zip(*tasks, strict=True)))
    results = {
        str(n): summarise(config, [o for (nn, _), o in zip(tasks, outs, strict=True) if nn == n])
        for n in config.images
    }
    seconds = time.perf_counter() - started
    heads = headline(config, results)
    print_report(config, results, heads)
    times = timing()
    print("\ntiming (best of 3):")
    for name, t in times.items():
        print(f"  {name:<36}{1000 * t:8.1f} ms")
    print(f"\n{seconds:.1f} s, {jobs} process(es)")
    if args.json:
        with open(args.json, "w") as f:
            payload = {
                "config": asdict(config),
                "results": results,
                "headline": heads,
                "timing": times,
                "seconds": seconds,
            }
            json.dump(payload, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
