"""ComfyUI decides where a taste model runs and when it leaves the GPU, as it does for its
own CLIP vision models (``comfy/clip_vision.py``): the taste head and its backbone are
handed to ``comfy.model_management`` as ``ModelPatcher`` s, loaded on ComfyUI's device
(``--cpu`` honoured) just before a run, and unloaded to its offload device after each run
and whenever ComfyUI frees memory (a bigger model needs the VRAM, "Unload models",
``/free``), so a scoring node never keeps VRAM that the next diffusion model needs.

The dtype stays tastemaker's (half precision on CUDA, float32 on the CPU), not ComfyUI's
``text_encoder_dtype`` (half precision even on the CPU): scores equal ``tastemaker score``'s
on the same device.

Outside ComfyUI (``comfy`` not importable) nothing changes: tastemaker picks the device.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

try:  # ComfyUI's own modules; absent when the pack is imported outside ComfyUI
    import comfy.model_management as model_management
    import comfy.model_patcher as model_patcher
except ImportError:
    model_management = model_patcher = None


class _Held(torch.nn.Module):
    """A module as ComfyUI holds it: ``ModelPatcher`` writes its own attributes onto the
    model (``device``, which is a read-only property of transformers models)."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.held = module


@functools.lru_cache(maxsize=16)  # as many as the taste models and backbones kept loaded
def _patcher(module: torch.nn.Module, load: torch.device, offload: torch.device) -> Any:
    """One patcher per module and device, so ComfyUI recognises it as already loaded."""
    return model_patcher.ModelPatcher(_Held(module), load_device=load, offload_device=offload)


@contextmanager
def on_comfy_device(scorer: Any) -> Iterator[None]:
    """Inside: ``scorer`` (a :class:`tastemaker.api.TasteScorer`) and its backbone on
    ComfyUI's device, registered with ComfyUI's model management; after: on its offload
    device."""
    if model_management is None:
        yield
        return
    from tastemaker.features.loaders import load_extractor

    load = model_management.get_torch_device()
    offload = model_management.unet_offload_device()
    scorer.model.to(load)
    extractor = load_extractor(scorer.model.meta.extractor, str(load))
    patchers = [_patcher(m, load, offload) for m in (scorer.model.module, extractor.module)]
    # whole: short of VRAM, ComfyUI loads only the submodules that own all their parameters
    # (ModelPatcher.load), and a plain torch module cannot run half on the GPU
    model_management.load_models_gpu(patchers, force_full_load=True)
    try:
        yield
    finally:
        if offload != load:
            _unload(patchers, load)


def _unload(patchers: list[Any], device: torch.device) -> None:
    """Unload ``patchers`` as ComfyUI unloads models when it needs memory (to their
    offload device, its cache emptied), keeping every other model it holds loaded."""
    others = [m for m in model_management.current_loaded_models if m.model not in patchers]
    model_management.free_memory(1e30, device, keep_loaded=others)
