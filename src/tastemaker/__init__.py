"""tastemaker: train a model of your own taste in images.

The Python API::

    import tastemaker
    model = tastemaker.load_model("model.safetensors")   # or a library folder
    model.score(["a.png", "b.jpg"])                       # -> [0.83, -1.2]
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["TasteScorer", "__version__", "load_model", "open_library", "save_to_library"]

_LAZY = {  # imported on first use, so that `tastemaker stats` does not wait for torch
    "TasteScorer": "tastemaker.api",
    "load_model": "tastemaker.api",
    "open_library": "tastemaker.storage.library",
    "save_to_library": "tastemaker.workflows.save_images",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tastemaker' has no attribute {name!r}")
