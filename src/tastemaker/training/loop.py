"""Train one model: a plain PyTorch loop on arrays.

AdamW, the learning rate rising linearly from 0 over the first ``warmup_fraction`` of the
steps and falling linearly back to 0 by the last; after every epoch the loss on the
held-out images (see :mod:`tastemaker.training.losses`) is measured, training stops when
it has not improved for ``patience`` epochs, and the weights of the best epoch are kept.
Deterministic for a given seed on a given device (the global torch RNG is left as it was).
Finally the raw outputs' mean and sd over the training images become the model's score
normalisation, and the metrics of :func:`tastemaker.training.metrics.evaluate` its meta.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from tastemaker.device import pick_device
from tastemaker.errors import TastemakerError
from tastemaker.model import MLP, TasteMLP, TasteModel, l2_normalize, new_meta
from tastemaker.progress import Progress, no_progress
from tastemaker.training.data import TrainingData
from tastemaker.training.losses import Loss, make_loss
from tastemaker.training.metrics import evaluate

_EVAL_BATCH = 8192

# what the caller says about the embeddings; train_model fills in the rest of ModelMeta
_META_REQUIRED = {"extractor", "layers", "layer_mode", "ratings"}
_META_OPTIONAL = {"l2_normalize_input", "calibration"}


class TrainingDiverged(TastemakerError):
    """The scores became infinite or NaN (a learning rate too high, usually)."""


@dataclass(frozen=True)
class TrainParams:
    """The metaparameters of one training run."""

    hidden: tuple[int, int] = (128, 32)
    dropouts: tuple[float, float, float] = (0.1, 0.1, 0.1)  # input, between, before final
    lr: float = 2e-3
    epochs: int = 30  # at most: early stopping may end sooner
    batch_size: int = 256  # images (ranking, mse) or outcomes (choices)
    warmup_fraction: float = 0.1
    weight_decay: float = 1e-2
    loss: str = "ranking"  # ranking | mse | choices
    margin: float = 0.5  # the ranking loss's
    patience: int = 5  # epochs without a better held-out loss before stopping

    def __post_init__(self) -> None:
        problems = [
            (len(self.hidden) != 2 or min(self.hidden) < 1, "two hidden sizes of at least 1"),
            (
                len(self.dropouts) != 3 or not all(0 <= p < 1 for p in self.dropouts),
                "three dropouts from 0 up to (not including) 1",
            ),
            (not self.lr > 0, "a positive learning rate"),
            (self.epochs < 1, "at least one epoch"),
            (self.batch_size < 1, "a batch size of at least 1"),
            (not 0 <= self.warmup_fraction <= 1, "a warmup fraction from 0 to 1"),
            (self.weight_decay < 0, "a weight decay of at least 0"),
            (self.patience < 1, "a patience of at least one epoch"),
        ]
        for bad, needed in problems:
            if bad:
                raise TastemakerError(f"Training needs {needed}.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainParams:
        values = dict(values)
        for key in ("hidden", "dropouts"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class TrainResult:
    """The trained model, its metrics (also in ``model.meta.metrics``) and, per epoch,
    ``epoch``, ``train_loss``, ``heldout_loss`` (when measured) and ``lr``."""

    model: TasteModel
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)


def _outputs(module: torch.nn.Module, x: torch.Tensor, idx: torch.Tensor | None = None):
    """Raw outputs in eval mode for ``x[idx]`` (all rows if ``idx`` is None)."""
    rows = x if idx is None else x[idx]
    with torch.no_grad():
        return torch.cat(
            [module(rows[i : i + _EVAL_BATCH]) for i in range(0, len(rows), _EVAL_BATCH)]
        )


def default_cpu_threads() -> int:
    """Half the CPU cores, at most 4 (at least 1).

    Why not all: PyTorch's OpenMP threads spin while they wait for each other, so when
    other processes hold some of the cores every step waits for a descheduled thread. On a
    busy 2-core machine one epoch on 10,000 x 768 embeddings took 0.2 s with 1 thread and
    2 to 10 s with 2; and this model's small matrix products gain little beyond 4 threads.
    """
    return max(1, min(4, (os.cpu_count() or 2) // 2))


@contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` PyTorch CPU threads (as it is if ``None``), restored afterwards."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_meta_base(meta_base: dict[str, Any]) -> None:
    missing = _META_REQUIRED - meta_base.keys()
    unknown = meta_base.keys() - _META_REQUIRED - _META_OPTIONAL
    if missing or unknown:
        raise ValueError(
            f"meta_base needs {sorted(_META_REQUIRED)} (and may have {sorted(_META_OPTIONAL)}); "
            f"missing {sorted(missing)}, unknown {sorted(unknown)}"
        )


def _cuda_devices(device: torch.device) -> list[int]:
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


@dataclass
class _Fit:
    history: list[dict[str, float]]
    best_epoch: int | None  # None when nothing was held out
    best_loss: float


def _fit(
    module: torch.nn.Module,
    loss: Loss,
    x: torch.Tensor,
    heldout_idx: torch.Tensor,
    params: TrainParams,
    gen: torch.Generator,
    progress: Progress,
    on_epoch: Callable[[dict[str, float]], None] | None,
) -> _Fit:
    """The epochs: AdamW with warmup, early stopping; leaves the best weights in ``module``."""
    opt = torch.optim.AdamW(module.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    batches = loss.batches(gen, params.batch_size)
    total = max(1, params.epochs * len(batches))
    warmup = int(params.warmup_fraction * total)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    all_s = torch.zeros(len(x), device=x.device)
    history: list[dict[str, float]] = []
    best_loss, best_epoch, best_state = math.inf, 0, None
    for epoch in range(1, params.epochs + 1):
        if epoch > 1:
            batches = loss.batches(gen, params.batch_size)
        module.train()
        running = torch.zeros((), device=x.device)
        for batch in batches:
            opt.zero_grad(set_to_none=True)
            value = loss.batch_loss(module, x, batch, gen)
            value.backward()
            opt.step()
            sched.step()
            running += value.detach()
        record = {
            "epoch": float(epoch),
            "train_loss": float(running) / max(1, len(batches)),
            "lr": float(sched.get_last_lr()[0]),
        }
        module.eval()
        heldout_loss = None
        if len(heldout_idx):
            all_s[heldout_idx] = _outputs(module, x, heldout_idx)
            heldout_loss = loss.eval_loss(all_s, heldout=True)
        if heldout_loss is not None:
            record["heldout_loss"] = heldout_loss
            if heldout_loss < best_loss:
                best_loss, best_epoch = heldout_loss, epoch
                best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        history.append(record)
        progress("training", epoch, params.epochs)
        if on_epoch is not None:
            on_epoch(record)
        if not math.isfinite(record["train_loss"]):
            break
        if heldout_loss is not None and epoch - best_epoch >= params.patience:
            break
    if len(history) < params.epochs:  # stopped early: finish the caller's bar
        progress("training", params.epochs, params.epochs)
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return _Fit(history, best_epoch if best_state is not None else None, best_loss)


def train_model(
    data: TrainingData,
    params: TrainParams | None = None,
    meta_base: dict[str, Any] | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: Progress = no_progress,
    threads: int | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train one :class:`TasteModel` on ``data`` with ``params``.

    ``meta_base`` says what the embeddings are: ``extractor``, ``layers``, ``layer_mode``,
    ``ratings`` ("elo" | "bt"), optionally ``l2_normalize_input`` (False by default; when
    True the embeddings are L2-normalised for training and scoring alike) and
    ``calibration``. ``progress`` hears ("training", epoch, epochs) after each epoch.
    On the CPU it uses ``threads`` PyTorch threads (:func:`default_cpu_threads` if
    ``None``; the global setting is restored afterwards). ``on_epoch`` is called with each
    epoch's history record (an exception it raises stops training and propagates: the
    search uses it to prune). Raises :class:`TrainingDiverged` if the scores become
    infinite or NaN.
    """
    params = params or TrainParams()
    meta_base = dict(meta_base or {})
    _check_meta_base(meta_base)
    if data.train.sum() < 2:
        raise TastemakerError("Training needs at least two images outside the held-out split.")
    device = pick_device(device)
    loss = make_loss(params.loss, params.margin)
    l2 = bool(meta_base.get("l2_normalize_input", False))
    if device.type == "cpu" and threads is None:
        threads = default_cpu_threads()

    with (
        torch.random.fork_rng(devices=_cuda_devices(device)),
        cpu_threads(threads if device.type == "cpu" else None),
    ):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)  # batches and pairs; dropout uses the global
        module = TasteMLP(data.dim, params.hidden, params.dropouts).to(device)
        x = torch.tensor(data.x, device=device)
        if l2:
            x = l2_normalize(x)
        loss.prepare(data, device)
        heldout_idx = torch.tensor(np.flatnonzero(data.heldout), device=device)
        fit = _fit(module, loss, x, heldout_idx, params, gen, progress, on_epoch)
        raw_t = _outputs(module, x)
        train_loss = loss.eval_loss(raw_t, heldout=False)
        raw = raw_t.double().cpu().numpy()

    if not np.all(np.isfinite(raw)):
        raise TrainingDiverged(
            "Training diverged (the scores became infinite or NaN): lower the learning rate."
        )
    # the seed's convention: mean 0, sd 1 over the training images
    score_mean = float(raw[data.train].mean())
    score_sd = float(raw[data.train].std())
    if not score_sd > 0:
        score_sd = 1.0  # a constant model: nothing to rescale (its metrics will show it)
    metrics = evaluate((raw - score_mean) / score_sd, data)
    metrics["epochs_run"] = float(len(fit.history))
    if fit.best_epoch is not None:
        metrics["best_epoch"] = float(fit.best_epoch)
        metrics["heldout_loss"] = float(fit.best_loss)
    if train_loss is not None:
        metrics["train_loss"] = float(train_loss)

    meta = new_meta(
        meta_base,
        input_dim=data.dim,
        hidden=tuple(params.hidden),
        dropouts=tuple(params.dropouts),
        score_mean=score_mean,
        score_sd=score_sd,
        l2_normalize_input=l2,
        loss=params.loss,
        metrics=metrics,
        params={**params.to_dict(), "seed": seed},
        architecture=MLP,
    )
    return TrainResult(TasteModel(meta, module, device), metrics, fit.history)
