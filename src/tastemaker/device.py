"""Where tensors run: CUDA when there is a GPU, else the CPU."""

from __future__ import annotations

import torch


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` when given, else CUDA when there is a GPU, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
