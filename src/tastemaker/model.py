"""The score heads on frozen image embeddings (the classic MLP, the kernel model,
LAION's predictor) and their one-file format.

A model file is one ``.safetensors`` file: the weights, and in its header everything
needed to use them — which extractor and layers made the embeddings (and by which
numbering of layers), the layer sizes, the score normalisation, the metrics, the
tastemaker version. safetensors metadata is ``dict[str, str]``: string fields are stored
as they are, every other field JSON-encoded, beside ``format: tastemaker-mlp`` and
``format_version``. A kernel model's file is ``format_version`` 2 (older tastemakers then
ask to be upgraded instead of failing on the unknown head); an MLP's stays 1, so older
versions still read it.

Scores are normalised: ``(raw - score_mean) / score_sd``, where mean and sd are those of
the raw outputs over the training images (the classic convention), so a score of 1 is one
standard deviation above the average training image.

LAION's improved aesthetic predictor (christophschuhmann/improved-aesthetic-predictor,
``sac+logos+ava1-l14-linearMSE.pth``) is read by :func:`load_laion_checkpoint` and
represented by the same :class:`TasteModel`, so it can be saved once as a model file.
A ``.safetensors`` file without the tastemaker header is read when it is the classic
project's (:mod:`tastemaker.classic_model`) or LAION's weights under LAION's names.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from tastemaker import __version__
from tastemaker.device import pick_device
from tastemaker.errors import TastemakerError
from tastemaker.features.layers import LAYER_CONVENTION

FORMAT = "tastemaker-mlp"
FORMAT_VERSION = 2  # the newest this version reads and writes

# what `architecture` may say, and so which module the weights belong to
MLP = "mlp"  # the classic scorer's: TasteMLP
LAION = "laion"  # LAION's predictor: five Linear layers, no activations
LAION_RELU = "laion-relu"  # the same with a ReLU after each hidden layer (its *-reluMSE.pth)
KERNEL = "kernel"  # KernelHead: kernel ridge regression with an uncertainty
ARCHITECTURES = (MLP, LAION, LAION_RELU, KERNEL)
_FORMAT_OF = {KERNEL: 2}  # heads that need a newer reader than 1

LAION_EXTRACTORS = {768: "openai/clip-vit-large-patch14", 512: "openai/clip-vit-base-patch32"}

_SCORE_BATCH = 8192


class TasteMLP(nn.Module):
    """The classic MLP: input dropout, ``Linear(d, h1)`` + ReLU, dropout,
    ``Linear(h1, h2)`` + ReLU, dropout, ``Linear(h2, 1)``; one raw score per row."""

    def __init__(
        self,
        input_dim: int,
        hidden: tuple[int, int] = (256, 64),
        dropouts: tuple[float, float, float] = (0.1, 0.1, 0.1),
    ) -> None:
        super().__init__()
        h1, h2 = hidden
        p_in, p_mid, p_final = dropouts
        self.net = nn.Sequential(
            nn.Dropout(p_in),
            nn.Linear(input_dim, h1),
            nn.ReLU(),
            nn.Dropout(p_mid),
            nn.Linear(h1, h2),
            nn.ReLU(),
            nn.Dropout(p_final),
            nn.Linear(h2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class LaionMLP(nn.Module):
    """LAION's improved aesthetic predictor: ``Linear(d, 1024)``, dropout 0.2,
    ``Linear(1024, 128)``, dropout 0.2, ``Linear(128, 64)``, dropout 0.1,
    ``Linear(64, 16)``, ``Linear(16, 1)`` — no activations in the published
    ``*-linearMSE.pth``; its ``*-reluMSE.pth`` has a ReLU after each of the first four
    Linear layers. Parameter names are the checkpoint's own: ``layers.{0,2,4,6,7}.*``
    without ReLUs, ``layers.{0,3,6,9,11}.*`` with them."""

    def __init__(self, input_dim: int, hidden: tuple[int, ...], relu: bool = False) -> None:
        super().__init__()
        h1, h2, h3, h4 = hidden

        def act() -> list[nn.Module]:
            return [nn.ReLU()] if relu else []

        self.layers = nn.Sequential(
            nn.Linear(input_dim, h1),
            *act(),
            nn.Dropout(0.2),
            nn.Linear(h1, h2),
            *act(),
            nn.Dropout(0.2),
            nn.Linear(h2, h3),
            *act(),
            nn.Dropout(0.1),
            nn.Linear(h3, h4),
            *act(),
            nn.Linear(h4, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).squeeze(-1)


KERNEL_KINDS = ("rbf", "linear")
KERNEL_BIAS = 1.0  # the constant added to every kernel; k(x, x) = 1 + BIAS for unit rows


def kernel_from_dots(kind: str, dots: torch.Tensor, width: float) -> torch.Tensor:
    """The kernel from inner products of unit rows (``|a-b|² = 2 - 2 a·b``): RBF
    ``exp(-|a-b|²/(2 width²))`` or linear ``a·b``, plus the constant ``KERNEL_BIAS``,
    a penalised offset that lets the linear kernel correct a mean fixed at the ratings'
    average (without it a wide RBF beat it on a linear taste)."""
    if kind == "linear":
        return dots + KERNEL_BIAS
    return torch.exp((2.0 - 2.0 * dots).clamp(min=0.0) / (-2.0 * width * width)) + KERNEL_BIAS


class KernelHead(nn.Module):
    """Kernel ridge regression on L2-normalised embeddings, read as a Gaussian process
    (see :mod:`tastemaker.training.kernel`, which fits it): the score ``mean + k_xᵀ c``
    and its standard deviation ``sqrt(noise/penalty · (k(x,x) - k_xᵀ M k_x))``.

    ``anchors`` are the training images (or Nyström landmarks), ``weights`` the dual
    weights ``c``, ``variance`` the matrix ``M``; all float64, since the variance is a
    difference of nearly equal terms near the anchors."""

    anchors: torch.Tensor
    weights: torch.Tensor
    variance: torch.Tensor

    def __init__(
        self,
        kind: str,
        width: float,
        penalty: float,
        mean: float,
        noise: float,
        anchors: torch.Tensor,
        weights: torch.Tensor,
        variance: torch.Tensor,
    ) -> None:
        super().__init__()
        m = len(anchors)
        if kind not in KERNEL_KINDS:
            raise ValueError(f"unknown kernel kind {kind!r}")
        if not all(map(_number, (width, penalty, mean, noise))) or penalty <= 0 or noise < 0:
            raise ValueError("the kernel's width, penalty, mean and noise must be finite")
        if weights.shape != (m,) or variance.shape != (m, m) or anchors.ndim != 2:
            raise ValueError("the kernel's anchors, weights and variance do not match")
        self.kind, self.width, self.penalty, self.mean, self.noise = (
            kind,
            float(width),
            float(penalty),
            float(mean),
            float(noise),
        )
        self.register_buffer("anchors", anchors.to(torch.float64))
        self.register_buffer("weights", weights.to(torch.float64))
        self.register_buffer("variance", variance.to(torch.float64))

    @classmethod
    def empty(cls, params: dict[str, Any], anchors: int, dim: int) -> KernelHead:
        """A head of the shape and settings a model file's header describes, its arrays
        zero until the file's are loaded."""
        width, penalty, mean, noise = (
            params.get(k, math.nan) for k in ("width", "penalty", "mean", "noise")
        )
        return cls(
            params.get("kind", ""),
            width,
            penalty,
            mean,
            noise,
            torch.zeros(anchors, dim),
            torch.zeros(anchors),
            torch.zeros(anchors, anchors),
        )

    def settings(self) -> dict[str, Any]:
        """What a model file's header keeps of the head besides its arrays."""
        return {
            "kind": self.kind,
            "width": self.width,
            "penalty": self.penalty,
            "mean": self.mean,
            "noise": self.noise,
        }

    def _kernel(self, x: torch.Tensor) -> torch.Tensor:
        x = l2_normalize(x.to(self.anchors.dtype))
        return kernel_from_dots(self.kind, x @ self.anchors.T, self.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean + self._kernel(x) @ self.weights

    def with_spread(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's raw score and its posterior standard deviation, from one kernel
        matrix."""
        k = self._kernel(x)
        explained = ((k @ self.variance) * k).sum(-1)
        left = (1.0 + KERNEL_BIAS - explained).clamp(min=0.0)
        return self.mean + k @ self.weights, (self.noise / self.penalty * left).sqrt()

    def predict(
        self, x: ArrayLike, batch: int = 4096
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Raw scores and their standard deviations of embeddings ``x``, ``batch`` rows at
        a time, as numpy arrays."""
        rows = torch.as_tensor(np.asarray(x), dtype=torch.float64, device=self.anchors.device)
        scores, spread = [np.zeros(0)], [np.zeros(0)]
        with torch.inference_mode():
            for start in range(0, len(rows), batch):
                raw, sd = self.with_spread(rows[start : start + batch])
                scores.append(raw.cpu().numpy())
                spread.append(sd.cpu().numpy())
        return np.concatenate(scores), np.concatenate(spread)


@dataclass(frozen=True)
class ModelMeta:
    """Everything a model file says about itself besides its weights."""

    extractor: str  # the feature extractor's name, as the features registry spells it
    layers: tuple[int, ...]  # which of its layers made the embedding
    layer_mode: str  # "join" (concatenated) or "average", when several layers
    input_dim: int
    hidden: tuple[int, ...]  # (h1, h2) for the classic MLP; LAION's four; (anchors,) for a kernel
    dropouts: tuple[float, ...]  # (input, between, before final); none for a kernel
    score_mean: float  # raw output's mean over the training images
    score_sd: float  # raw output's sd over the training images
    l2_normalize_input: bool  # divide each embedding by its L2 norm first (LAION does)
    loss: str  # the training loss: ranking | mse | choices
    ratings: str  # which database scores it learnt: elo | bt
    metrics: dict[str, float] = field(default_factory=dict)  # train_* and heldout_*
    calibration: float | None = None  # c with sigmoid(c * (sA - sB)) = P(prefer A)
    version: str = __version__  # tastemaker's, when the model was made
    created: str = ""  # ISO 8601 time
    params: dict[str, Any] = field(default_factory=dict)  # the metaparameters used
    architecture: str = MLP  # mlp | laion | laion-relu | kernel: which module holds the weights
    layer_convention: str = LAYER_CONVENTION  # how ``layers`` are numbered (features.layers)


# fields stored in the header as they are; all others JSON-encoded
_STRING_FIELDS = {
    "extractor",
    "layer_mode",
    "loss",
    "ratings",
    "version",
    "created",
    "architecture",
    "layer_convention",
}
_TUPLE_FIELDS = {"layers", "hidden", "dropouts"}


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _whole(v: object, high: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= high


def _list_of(check: Callable[[Any], bool], least: int = 1) -> Callable[[object], bool]:
    return lambda v: isinstance(v, list) and least <= len(v) <= 64 and all(map(check, v))


# what each field must hold: a check, and what it should be (for the message)
_FIELD_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "extractor": (lambda v: 0 < len(v) <= 1000 and v.isprintable(), "an extractor's name"),
    "layers": (_list_of(lambda v: _whole(v, 10_000)), "a list of layer numbers"),
    "layer_mode": (lambda v: v in ("join", "average"), '"join" or "average"'),
    "input_dim": (lambda v: _whole(v, 1 << 20) and v > 0, "a whole number from 1 to 1048576"),
    "hidden": (_list_of(lambda v: _whole(v, 1 << 20) and v > 0), "a list of layer sizes"),
    "dropouts": (
        _list_of(lambda v: _number(v) and 0 <= v < 1, least=0),
        "a list of rates from 0 to 1",
    ),
    "score_mean": (_number, "a finite number"),
    "score_sd": (lambda v: _number(v) and v > 0, "a finite number above 0"),
    "l2_normalize_input": (lambda v: isinstance(v, bool), "true or false"),
    "metrics": (
        lambda v: (
            isinstance(v, dict)
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v.values())
        ),
        "an object of numbers",
    ),
    "calibration": (lambda v: v is None or _number(v), "a finite number or null"),
    "params": (lambda v: isinstance(v, dict), "an object"),
    "architecture": (lambda v: v in ARCHITECTURES, f"one of {', '.join(ARCHITECTURES)}"),
    "layer_convention": (lambda v: v == LAYER_CONVENTION, f'"{LAYER_CONVENTION}"'),
}

# fields that files from earlier versions lack, and what their absence means ("": the
# layer numbering before the classic scorer's, see _with_current_layers)
_ABSENT = {"architecture": MLP, "layer_convention": ""}


class BadField(ValueError):
    """A header field that is not what a model file holds there."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name!r} {problem}")


def now_iso() -> str:
    """The current time, ISO 8601 in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def new_meta(meta_base: dict[str, Any], **fields: Any) -> ModelMeta:
    """The meta of a model trained now: what the caller says of the embeddings
    (``meta_base``: extractor, layers, layer_mode, ratings, maybe l2_normalize_input and
    calibration) and what the learner made (``fields``); params as JSON gives them back,
    so a saved model's meta equals this one."""
    values: dict[str, Any] = {
        "metrics": {},
        "calibration": None,
        "l2_normalize_input": False,
        "version": __version__,
        "created": now_iso(),
        **meta_base,
        "layers": tuple(meta_base["layers"]),
        **fields,
    }
    values["params"] = json.loads(json.dumps(values.get("params", {})))
    return ModelMeta(**values)


def build_module(meta: ModelMeta) -> nn.Module:
    """An untrained module of the shape ``meta`` describes."""
    if meta.architecture == MLP:
        if len(meta.hidden) != 2 or len(meta.dropouts) != 3:
            raise ValueError("the MLP needs two hidden sizes and three dropouts")
        h1, h2 = meta.hidden
        p0, p1, p2 = meta.dropouts
        return TasteMLP(meta.input_dim, (h1, h2), (p0, p1, p2))
    if meta.architecture in (LAION, LAION_RELU):
        return LaionMLP(meta.input_dim, meta.hidden, relu=meta.architecture == LAION_RELU)
    if meta.architecture == KERNEL:
        kernel = meta.params.get("kernel")
        if len(meta.hidden) != 1 or not isinstance(kernel, dict):
            raise ValueError("a kernel model needs its number of anchors and its settings")
        return KernelHead.empty(kernel, meta.hidden[0], meta.input_dim)
    raise ValueError(f"unknown architecture {meta.architecture!r}")


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """Each row divided by its L2 norm (rows of zeros left as they are), as LAION does."""
    norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    return x / torch.where(norm == 0, torch.ones_like(norm), norm)


class TasteModel:
    """A module and its meta: scores embeddings, saves itself as one file."""

    def __init__(
        self, meta: ModelMeta, module: nn.Module, device: str | torch.device | None = None
    ) -> None:
        self.meta = meta
        self.device = pick_device(device)
        self.module = module.to(self.device).eval()

    def to(self, device: str | torch.device | None) -> TasteModel:
        """Move to ``device`` (CUDA when there is one if ``None``); returns self."""
        self.device = pick_device(device)
        self.module.to(self.device)
        return self

    def raw_scores_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """The module's raw output for a batch already on the device (input
        normalisation applied, score normalisation not); gradients as the caller has them."""
        return self.module(self._input(x))

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return l2_normalize(x) if self.meta.l2_normalize_input else x

    def _checked(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.meta.input_dim:
            shape = "x".join(str(s) for s in x.shape)
            raise TastemakerError(
                f"This model scores {self.meta.input_dim}-dimensional embeddings from "
                f"{self.meta.extractor}, but was given an array of shape {shape}."
            )
        return x

    def score_embeddings(self, x: np.ndarray, batch_size: int = _SCORE_BATCH) -> np.ndarray:
        """Normalised scores (float32, one per row) of embeddings ``x`` of shape (n, d)."""
        return self._scored(x, batch_size, uncertainty=False)[0]

    def scores_and_uncertainties(
        self, x: np.ndarray, batch_size: int = _SCORE_BATCH
    ) -> tuple[np.ndarray, np.ndarray]:
        """The normalised scores of embeddings ``x`` and how unsure the model is of each:
        the posterior standard deviation in score units (sd of the training images'
        scores = 1), large far from anything rated; NaN for heads without one (the MLP,
        LAION's). One pass: a kernel model computes its kernel matrix once for both."""
        return self._scored(x, batch_size, uncertainty=True)

    @property
    def has_uncertainty(self) -> bool:
        """Whether the head gives each score an uncertainty (a kernel model does)."""
        return isinstance(self.module, KernelHead)

    def _scored(
        self, x: np.ndarray, batch_size: int, uncertainty: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        x = self._checked(x)
        scores = np.empty(len(x), dtype=np.float32)
        spread = np.full(len(x) if uncertainty else 0, np.nan, dtype=np.float32)
        kernel = self.module if uncertainty and isinstance(self.module, KernelHead) else None
        was_training = self.module.training
        self.module.eval()
        with torch.inference_mode():
            for start in range(0, len(x), batch_size):
                batch = torch.tensor(x[start : start + batch_size], device=self.device)
                if kernel is None:
                    raw = self.raw_scores_tensor(batch)
                else:
                    raw, sd = kernel.with_spread(self._input(batch))
                    spread[start : start + batch_size] = (
                        (sd / self.meta.score_sd).float().cpu().numpy()
                    )
                scores[start : start + batch_size] = (
                    ((raw.float() - self.meta.score_mean) / self.meta.score_sd).cpu().numpy()
                )
        self.module.train(was_training)
        return scores, spread

    def prob_prefer(self, score_a: ArrayLike, score_b: ArrayLike) -> NDArray[np.float64]:
        """P(the person prefers A over B) from the two images' scores: sigmoid(c * (sA -
        sB)), with the scale ``c`` that training fitted on held-out choices and kept in
        the file. A model without it gives scores only."""
        c = self.meta.calibration
        if c is None:
            raise TastemakerError(
                "This model is not calibrated (retrain it with this tastemaker), "
                "so it gives scores, not probabilities."
            )
        return 1.0 / (1.0 + np.exp(-c * (np.asarray(score_a) - np.asarray(score_b))))

    def save(self, path: str | Path) -> Path:
        """Write the weights and the meta to one ``.safetensors`` file; returns its path."""
        from safetensors.torch import save_file

        path = Path(path)
        tensors = {  # float32, but a kernel's float64 arrays stay float64
            name: t.detach()
            .to("cpu", torch.float64 if t.dtype == torch.float64 else torch.float32)
            .contiguous()
            .clone()
            for name, t in self.module.state_dict().items()
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        # write beside it, then rename: a crash never leaves half a model under its name
        partial = path.with_name(path.name + ".partial")
        save_file(tensors, str(partial), metadata=encode_meta(self.meta))
        os.replace(partial, path)
        return path


def encode_meta(meta: ModelMeta) -> dict[str, str]:
    """The safetensors header metadata for ``meta``."""
    header = {"format": FORMAT, "format_version": str(_FORMAT_OF.get(meta.architecture, 1))}
    for key, value in asdict(meta).items():
        header[key] = value if key in _STRING_FIELDS else json.dumps(value)
    return header


def decode_meta(header: dict[str, str]) -> ModelMeta:
    """The :class:`ModelMeta` in a header: ``KeyError`` naming a missing field,
    :class:`BadField` naming one that is damaged, mistyped or not finite."""
    values: dict[str, Any] = {}
    for f in fields(ModelMeta):
        if f.name not in header:
            if f.name not in _ABSENT:
                raise KeyError(f.name)
            values[f.name] = _ABSENT[f.name]
            continue
        value = header[f.name] if f.name in _STRING_FIELDS else _json_field(f.name, header[f.name])
        check, should = _FIELD_CHECKS.get(f.name, (lambda v: isinstance(v, str), "text"))
        if not check(value):
            raise BadField(f.name, f"should be {should}, not {_short(value)}")
        values[f.name] = tuple(value) if f.name in _TUPLE_FIELDS else value
    return ModelMeta(**values)


def _short(value: object) -> str:
    try:
        text = json.dumps(value)
    except (ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 40 else text[:39] + "…"


def _json_field(name: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise BadField(name, "is nested too deeply") from None
    except ValueError:
        raise BadField(name, "is not valid JSON") from None


def load_model_file(path: str | Path, device: str | torch.device | None = None) -> TasteModel:
    """Read a model file written by :meth:`TasteModel.save`, by the classic project, or
    LAION's predictor saved as ``.safetensors``."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise TastemakerError(f"Model file {path} does not exist.")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            header = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
    except Exception as e:
        hint = ""
        if path.suffix in (".pth", ".pt"):
            hint = " (a LAION .pth checkpoint is read with load_laion_checkpoint)"
        raise TastemakerError(f"{path} is not a .safetensors model file{hint}.") from e
    if header.get("format") != FORMAT:
        return _foreign_model(path, header, tensors, device)
    try:
        version = int(header.get("format_version", ""))
    except ValueError:
        raise TastemakerError(
            f"{path} is a tastemaker model but its format_version is missing or damaged."
        ) from None
    if version > FORMAT_VERSION:
        raise TastemakerError(
            f"{path} was written by a newer tastemaker (model format {version}; this "
            f"version {__version__} reads up to {FORMAT_VERSION}): upgrade tastemaker to use it."
        )
    try:
        meta = decode_meta(header)
    except KeyError as e:
        raise TastemakerError(
            f"{path} is a tastemaker model but its metadata lacks {e.args[0]!r}."
        ) from None
    except BadField as e:
        raise TastemakerError(f"{path} is a tastemaker model but its metadata field {e}.") from None
    _check_extractor_source(meta.extractor, path)
    meta = _with_current_layers(meta, path)
    return _checked_model(path, meta, tensors, device, "a tastemaker model")


def _checked_model(
    path: Path,
    meta: ModelMeta,
    tensors: dict[str, torch.Tensor],
    device: str | torch.device | None,
    what: str,
) -> TasteModel:
    """The model ``meta`` describes holding ``tensors``, refused (saying the file is
    ``what``) when their shapes are not the ones it describes."""
    try:
        with torch.device("meta"):  # the shapes alone: a header cannot make us allocate
            shapes = {k: tuple(v.shape) for k, v in build_module(meta).state_dict().items()}
    except ValueError as e:
        raise TastemakerError(f"{path} is {what} but its metadata is damaged ({e}).") from None
    if shapes != {k: tuple(v.shape) for k, v in tensors.items()}:
        raise TastemakerError(f"{path} is {what} but its weights do not match its metadata.")
    return TasteModel(meta, _with_weights(path, build_module(meta), tensors), device)


def _foreign_model(
    path: Path,
    header: dict[str, str],
    tensors: dict[str, torch.Tensor],
    device: str | torch.device | None,
) -> TasteModel:
    """A ``.safetensors`` model another tool wrote: the classic project's, or LAION's
    predictor under its own weight names (as the classic project ships it)."""
    from tastemaker.classic_model import classic_model, is_classic

    if is_classic(header):
        meta, weights = classic_model(path, header, tensors)
        _check_extractor_source(meta.extractor, path)
        return _checked_model(path, meta, weights, device, "a model of the classic project")
    if _laion_layout(tensors) is not None:
        return _laion_model(path, tensors, device)
    raise TastemakerError(
        f"{path} is a .safetensors file but not a tastemaker model "
        f"(its header lacks format: {FORMAT})."
    )


def _with_weights(path: Path, module: nn.Module, tensors: dict[str, torch.Tensor]) -> nn.Module:
    """``module`` holding ``tensors``, refused by name if one is not finite."""
    for name, tensor in tensors.items():
        if not torch.isfinite(tensor).all():
            raise TastemakerError(
                f"{path}: its weight {name} holds NaN or infinite values, so every score "
                "would be meaningless; retrain the model (or copy the file again)."
            )
    module.load_state_dict(tensors, strict=True)  # copied into the module's own dtypes
    return module


def _with_current_layers(meta: ModelMeta, path: Path) -> ModelMeta:
    """``meta`` under today's layer numbering. A file from before it says no convention:
    its layers mean what they did unless it was trained on CLIP layers n > 0, whose
    numbering changed (or on a hub model not downloaded, which may be a CLIP); scoring
    those with the new features would give wrong scores without a word, so they are
    refused: retraining costs one embedding pass, keeping the old numbering alive would
    cost a second CLIP path and cache key for good."""
    from tastemaker.features.registry import known_family

    if meta.layer_convention == LAYER_CONVENTION:
        return meta
    if any(meta.layers) and known_family(meta.extractor) in ("clip", None):
        layers = ",".join(map(str, meta.layers))
        raise TastemakerError(
            f"{path} was trained before tastemaker numbered CLIP layers as the classic scorer "
            f"does; its layers {layers} of {meta.extractor} now give other features: retrain it "
            "to use it."
        )
    return replace(meta, layer_convention=LAYER_CONVENTION)


def _check_extractor_source(name: str, model: Path) -> None:
    """Refuse a model file whose extractor would be downloaded without the person having
    chosen it: allowed are the named extractors, local folders, open_clip names, hub
    models already downloaded, and those listed in ``TASTEMAKER_ALLOW_EXTRACTORS``."""
    from tastemaker.features.registry import ALLOW_ENV, needs_consent

    try:
        refused = needs_consent(name)
    except TastemakerError as e:
        raise TastemakerError(f"{model}: its extractor cannot be used: {e}") from None
    except OSError as e:  # a name no file system can hold
        raise TastemakerError(
            f"{model}: its extractor {_short(name)} cannot be used ({e.strerror or e})"
        ) from None
    if refused:
        raise TastemakerError(
            f"{model} names the extractor {name!r}, which is not a known extractor nor "
            f"downloaded here: scoring would download it from the Hugging Face hub. If you "
            f"trust it, download it (hf download {name}) or allow it: {ALLOW_ENV}={name}"
        )


_LAION_LINEAR = (0, 2, 4, 6, 7)  # indices of its Linear layers in the Sequential
_LAION_RELU = (0, 3, 6, 9, 11)  # the same with a ReLU after each hidden Linear


def _laion_keys(indices: tuple[int, ...]) -> list[str]:
    return sorted(f"layers.{i}.{p}" for i in indices for p in ("weight", "bias"))


def load_laion_checkpoint(path: str | Path, device: str | torch.device | None = None) -> TasteModel:
    """LAION's improved aesthetic predictor (``sac+logos+ava1-l14-linearMSE.pth``, a torch
    state dict) as a :class:`TasteModel` on CLIP ViT-L/14 image embeddings (layer 0, the
    projected image embedding), L2-normalised as LAION does. The ``*-reluMSE.pth``
    variant and the ViT-B/32 ones (512-dimensional input) are recognised by their weights.

    Its score normalisation is neutral (mean 0, sd 1): its scores stay on LAION's own raw
    scale, the 1 to 10 aesthetic rating of AVA, not mean 0 / sd 1 over any images.
    Save it once with :meth:`TasteModel.save` to get a model file.
    """
    path = Path(path)
    if not path.is_file():
        raise TastemakerError(f"Checkpoint {path} does not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise TastemakerError(f"{path} is not a PyTorch checkpoint that can be read safely.") from e
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    weights = isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())
    if not weights or _laion_layout(state) is None:
        raise TastemakerError(
            f"{path} is not a LAION aesthetic-predictor checkpoint "
            "(expected the weights of its five Linear layers, layers.0.weight to layers.7.bias)."
        )
    return _laion_model(path, state, device)


def _laion_layout(state: dict[str, torch.Tensor]) -> tuple[tuple[int, ...], str] | None:
    """The indices of its Linear layers and the architecture, if ``state`` has the weight
    names of LAION's predictor (either variant); else None."""
    keys = sorted(state)
    for indices, architecture in ((_LAION_LINEAR, LAION), (_LAION_RELU, LAION_RELU)):
        if keys == _laion_keys(indices):
            return indices, architecture
    return None


def _laion_model(
    path: Path, state: dict[str, torch.Tensor], device: str | torch.device | None
) -> TasteModel:
    """LAION's predictor from its weights, under LAION's names (see load_laion_checkpoint)."""
    layout = _laion_layout(state)
    assert layout is not None, "callers check the layout first"
    indices, architecture = layout
    input_dim = int(state["layers.0.weight"].shape[1])
    hidden = tuple(int(state[f"layers.{i}.weight"].shape[0]) for i in indices[:4])
    if input_dim not in LAION_EXTRACTORS:
        raise TastemakerError(
            f"{path} takes {input_dim}-dimensional embeddings; tastemaker knows LAION "
            "predictors for CLIP ViT-L/14 (768) and ViT-B/32 (512) only."
        )
    meta = ModelMeta(
        extractor=LAION_EXTRACTORS[input_dim],
        layers=(0,),
        layer_mode="join",
        input_dim=input_dim,
        hidden=hidden,
        dropouts=(0.2, 0.2, 0.1),
        score_mean=0.0,
        score_sd=1.0,
        l2_normalize_input=True,
        loss="mse",
        ratings="laion",
        metrics={},
        calibration=None,
        version=__version__,
        created=now_iso(),
        params={"source": path.name},
        architecture=architecture,
    )
    try:
        module = _with_weights(path, build_module(meta), state)
    except RuntimeError as e:
        raise TastemakerError(f"{path} has LAION's layer names but not its layer shapes.") from e
    return TasteModel(meta, module, device)


def read_model(path: str | Path, device: str | torch.device | None = None) -> TasteModel:
    """The model in a file (``.safetensors``) or a LAION checkpoint (``.pth``/``.pt``), by
    its suffix. Read afresh each time; the Python API's ``load_model`` adds the cache and
    library folders."""
    if Path(path).suffix.lower() in (".pth", ".pt"):
        return load_laion_checkpoint(path, device)
    return load_model_file(path, device)
