"""How well scores agree with the database and with the person.

- ``pairwise_accuracy`` (the seed's "AB %"): of all pairs of images whose database scores
  differ, the share the model orders the same way (a tie in the model counts half);
  exact up to ``max_exact`` images, estimated from a fixed sample of pairs above;
- ``spearman`` and ``pearson`` correlation with the database scores;
- ``choice_agreement``: of the person's own outcomes between two images of a set, the
  share where the chosen image scores higher (ties half) — what the product calls
  agreement, with a human ceiling near 75%.

All are computed separately on the training and the held-out images by :func:`evaluate`;
the held-out choices are every outcome with a held-out image in it
(:attr:`TrainingData.heldout_outcomes`), the training choices those between two training
images.
Undefined values (too few images or choices) are left out rather than reported as NaN.
"""

from __future__ import annotations

import numpy as np

from tastemaker.rating.agreement import Agreement
from tastemaker.rating.ranks import pearson, spearman
from tastemaker.training.data import TrainingData

_MAX_EXACT = 3000  # up to this many images, every pair: 4.5M pairs
_SAMPLED_PAIRS = 1_000_000  # beyond it, a fixed sample (standard error ~ 0.0005)


def pairwise_accuracy(
    pred: np.ndarray, target: np.ndarray, max_exact: int = _MAX_EXACT, seed: int = 0
) -> float:
    """Share of pairs with different ``target`` that ``pred`` orders the same way."""
    pred = np.asarray(pred, np.float64)
    target = np.asarray(target, np.float64)
    n = len(pred)
    if n < 2:
        return float("nan")
    if n <= max_exact:
        correct = total = 0.0
        for start in range(0, n, 512):  # rows in blocks, to bound memory
            i = np.arange(start, min(start + 512, n))[:, None]
            j = np.arange(n)[None, :]
            upper = j > i
            dt = np.sign(target[i] - target[j])
            dp = np.sign(pred[i] - pred[j])
            valid = upper & (dt != 0)
            total += valid.sum()
            correct += ((dt == dp) & valid).sum() + 0.5 * ((dp == 0) & valid).sum()
    else:
        rng = np.random.default_rng(seed)
        a = rng.integers(0, n, _SAMPLED_PAIRS)
        b = rng.integers(0, n, _SAMPLED_PAIRS)
        dt = np.sign(target[a] - target[b])
        dp = np.sign(pred[a] - pred[b])
        valid = dt != 0
        total = valid.sum()
        correct = ((dt == dp) & valid).sum() + 0.5 * ((dp == 0) & valid).sum()
    return float(correct / total) if total else float("nan")


def choice_agreement(
    pred: np.ndarray, winners: np.ndarray, losers: np.ndarray, mask: np.ndarray | None = None
) -> tuple[float, int]:
    """Share of outcomes (both images in ``mask``) where the winner scores higher, ties
    half (:attr:`Agreement.ties_half`; NaN when there are none); and how many outcomes
    that is."""
    winners = np.asarray(winners, np.int64)
    losers = np.asarray(losers, np.int64)
    if mask is not None:
        keep = mask[winners] & mask[losers]
        winners, losers = winners[keep], losers[keep]
    a = Agreement.from_scores(pred, winners, losers)
    return (float("nan") if a.ties_half is None else a.ties_half), a.choices


def evaluate(pred: np.ndarray, data: TrainingData) -> dict[str, float]:
    """Every metric on the training and the held-out images: ``train_pairwise_accuracy``,
    ``heldout_spearman``, ``heldout_choice_agreement``, ``heldout_choices`` (count),
    ``heldout_images`` … Undefined ones are left out."""
    out: dict[str, float] = {}
    for split, mask, judged in (
        ("train", data.train, data.comparisons_within(data.train)),
        ("heldout", data.heldout, data.heldout_outcomes),
    ):
        p, t = pred[mask], data.scores[mask]
        agreement, count = choice_agreement(pred, data.winners[judged], data.losers[judged])
        values = {
            "images": float(mask.sum()),
            "pairwise_accuracy": pairwise_accuracy(p, t),
            "spearman": spearman(p, t),
            "pearson": pearson(p, t),
            "choice_agreement": agreement,
            "choices": float(count),
        }
        out.update({f"{split}_{k}": v for k, v in values.items() if np.isfinite(v)})
    return out
