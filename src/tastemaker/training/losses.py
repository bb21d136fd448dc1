"""What training minimises: three losses behind one small interface.

- ``ranking`` (the default, the seed's): ``MarginRankingLoss`` on pairs of training
  images ordered by their database scores, the pairs drawn afresh within each batch;
  only the order of the scores matters, not their spread.
- ``mse``: squared error against the database scores standardised over the training
  images (mean 0, sd 1), so the output is on that scale.
- ``choices``: the Bradley–Terry (logistic) loss on the person's raw comparisons,
  ``-log sigmoid(s_w - s_l)`` per outcome, weighted; it needs no database at all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from tastemaker.errors import TastemakerError
from tastemaker.training.data import TrainingData

Forward = Callable[[torch.Tensor], torch.Tensor]  # embeddings (b, d) -> raw scores (b,)

_HELDOUT_PAIRS = 20_000  # fixed pairs of held-out images that measure the ranking loss


class Loss(ABC):
    """A training objective over a :class:`TrainingData`.

    Lifecycle, as the training loop drives it:

    1. ``loss = SomeLoss(**options)`` — only settings, no data;
    2. ``loss.prepare(data, device)`` once per run — reads the data (training images or
       comparisons, targets) onto the device; nothing later touches ``data`` again;
    3. each epoch, ``loss.batches(gen, batch_size)`` gives the epoch's batches (index
       tensors into the loss's own units: images, or comparisons), shuffled by ``gen``;
       for each, ``loss.batch_loss(forward, x, batch, gen)`` returns a scalar to
       back-propagate (``x`` is every embedding, on the device);
    4. after each epoch, ``loss.eval_loss(s, heldout=True)`` scores fixed outputs ``s``
       (one per image, in eval mode) on the held-out units, deterministically: early
       stopping keeps the weights where this was lowest. ``None`` when there is nothing
       held out to measure.

    Held-out images (and comparisons touching one) never appear in a training batch.
    """

    name: ClassVar[str]

    @abstractmethod
    def prepare(self, data: TrainingData, device: torch.device) -> None: ...

    @abstractmethod
    def batches(self, gen: torch.Generator, batch_size: int) -> list[torch.Tensor]: ...

    @abstractmethod
    def batch_loss(
        self, forward: Forward, x: torch.Tensor, batch: torch.Tensor, gen: torch.Generator
    ) -> torch.Tensor: ...

    @abstractmethod
    def eval_loss(self, s: torch.Tensor, heldout: bool = True) -> float | None: ...


def _chunks(
    units: torch.Tensor, gen: torch.Generator, batch_size: int, min_size: int
) -> list[torch.Tensor]:
    perm = units[torch.randperm(len(units), generator=gen).to(units.device)]
    return [b for b in torch.split(perm, batch_size) if len(b) >= min_size]


class RankingLoss(Loss):
    """The seed's loss: ``MarginRankingLoss`` on pairs of images in a batch, the target the
    sign of their database-score difference (pairs with equal scores are skipped). Each
    image of a batch is paired with ``pairs_per_image`` others drawn at random.
    The margin sets the scale of the raw output (scores are normalised afterwards)."""

    name = "ranking"

    def __init__(self, margin: float = 0.5, pairs_per_image: int = 4) -> None:
        self.margin = margin
        self.pairs_per_image = pairs_per_image

    def prepare(self, data: TrainingData, device: torch.device) -> None:
        self.device = device
        self.target = torch.tensor(data.scores, dtype=torch.float32, device=device)
        self.units = torch.tensor(np.flatnonzero(data.train), device=device)
        rng = np.random.default_rng(0)
        self.fixed: dict[str, tuple[torch.Tensor, torch.Tensor] | None] = {}
        for key, mask in (("train", data.train), ("heldout", data.heldout)):
            idx = np.flatnonzero(mask)
            if len(idx) < 2:
                self.fixed[key] = None
                continue
            a = rng.choice(idx, _HELDOUT_PAIRS)
            b = rng.choice(idx, _HELDOUT_PAIRS)
            keep = data.scores[a] != data.scores[b]
            self.fixed[key] = (
                torch.tensor(a[keep], device=device),
                torch.tensor(b[keep], device=device),
            )

    def batches(self, gen: torch.Generator, batch_size: int) -> list[torch.Tensor]:
        return _chunks(self.units, gen, batch_size, 2)

    def batch_loss(
        self, forward: Forward, x: torch.Tensor, batch: torch.Tensor, gen: torch.Generator
    ) -> torch.Tensor:
        s = forward(x[batch])
        t = self.target[batch]
        n = len(batch)
        first = torch.arange(n, device=s.device).repeat(self.pairs_per_image)
        second = torch.randint(0, n, (n * self.pairs_per_image,), generator=gen).to(s.device)
        y = torch.sign(t[first] - t[second])
        keep = y != 0
        if not keep.any():
            return s.sum() * 0.0
        return F.margin_ranking_loss(s[first[keep]], s[second[keep]], y[keep], margin=self.margin)

    def eval_loss(self, s: torch.Tensor, heldout: bool = True) -> float | None:
        pairs = self.fixed["heldout" if heldout else "train"]
        if pairs is None or len(pairs[0]) == 0:
            return None
        a, b = pairs
        y = torch.sign(self.target[a] - self.target[b])
        return float(F.margin_ranking_loss(s[a], s[b], y, margin=self.margin))


class MSELoss(Loss):
    """Squared error against the database scores, standardised over the training images."""

    name = "mse"

    def prepare(self, data: TrainingData, device: torch.device) -> None:
        train = data.scores[data.train]
        mean = float(train.mean()) if len(train) else 0.0
        sd = float(train.std()) if len(train) > 1 else 0.0
        z = (data.scores - mean) / (sd if sd > 0 else 1.0)
        self.target = torch.tensor(z, dtype=torch.float32, device=device)
        self.units = torch.tensor(np.flatnonzero(data.train), device=device)
        self.masks = {
            True: torch.tensor(data.heldout, device=device),
            False: torch.tensor(data.train, device=device),
        }

    def batches(self, gen: torch.Generator, batch_size: int) -> list[torch.Tensor]:
        return _chunks(self.units, gen, batch_size, 1)

    def batch_loss(
        self, forward: Forward, x: torch.Tensor, batch: torch.Tensor, gen: torch.Generator
    ) -> torch.Tensor:
        return F.mse_loss(forward(x[batch]), self.target[batch])

    def eval_loss(self, s: torch.Tensor, heldout: bool = True) -> float | None:
        mask = self.masks[heldout]
        if not mask.any():
            return None
        return float(F.mse_loss(s[mask], self.target[mask]))


class ChoicesLoss(Loss):
    """Bradley–Terry on the person's own outcomes: ``-log sigmoid(s_w - s_l)``, weighted
    (Bradley & Terry 1952; the pairwise logistic loss of RankNet, Burges et al. 2005).
    Trains on outcomes between two training images; held out: between two held-out ones."""

    name = "choices"

    def prepare(self, data: TrainingData, device: torch.device) -> None:
        def tensors(mask: np.ndarray) -> tuple[torch.Tensor, ...]:
            keep = data.comparisons_within(mask)
            return (
                torch.tensor(data.winners[keep], device=device),
                torch.tensor(data.losers[keep], device=device),
                torch.tensor(data.weights[keep], dtype=torch.float32, device=device),
            )

        self.sets = {False: tensors(data.train), True: tensors(data.heldout)}
        self.units = torch.arange(len(self.sets[False][0]), device=device)
        if len(self.units) == 0:
            raise TastemakerError(
                "There are no choices between two training images to train on: "
                "make some A/B choices first, or use the ranking loss."
            )

    def batches(self, gen: torch.Generator, batch_size: int) -> list[torch.Tensor]:
        return _chunks(self.units, gen, batch_size, 1)

    @staticmethod
    def _loss(sw: torch.Tensor, sl: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # -log sigmoid(d) = softplus(-d), without overflow
        return (w * F.softplus(sl - sw)).sum() / w.sum().clamp_min(1e-12)

    def batch_loss(
        self, forward: Forward, x: torch.Tensor, batch: torch.Tensor, gen: torch.Generator
    ) -> torch.Tensor:
        win, lose, weight = self.sets[False]
        s = forward(torch.cat([x[win[batch]], x[lose[batch]]]))
        sw, sl = s.split(len(batch))
        return self._loss(sw, sl, weight[batch])

    def eval_loss(self, s: torch.Tensor, heldout: bool = True) -> float | None:
        win, lose, weight = self.sets[heldout]
        if len(win) == 0:
            return None
        return float(self._loss(s[win], s[lose], weight))


LOSSES: dict[str, type[Loss]] = {cls.name: cls for cls in (RankingLoss, MSELoss, ChoicesLoss)}


def make_loss(name: str, margin: float = 0.5) -> Loss:
    """The loss called ``name``; ``margin`` is the ranking loss's."""
    if name not in LOSSES:
        raise TastemakerError(
            f"There is no loss called {name!r}: choose one of {', '.join(LOSSES)}."
        )
    if name == RankingLoss.name:
        return RankingLoss(margin=margin)
    return LOSSES[name]()
