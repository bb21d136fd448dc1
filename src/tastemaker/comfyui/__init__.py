"""tastemaker's ComfyUI node pack: Load Taste Model, Score Images, Sort by Taste,
Pick Best / Filter by Taste, Save to Taste Library.

This folder is the node pack itself; the repository's own ``__init__.py`` loads it when the
whole repository is cloned into ``ComfyUI/custom_nodes/`` (by hand, by ComfyUI-Manager or
from the Comfy Registry), and its ``requirements.txt`` installs tastemaker from there. Or
``pip install /path/to/tastemaker`` into ComfyUI's Python and link this folder:
``ln -s …/src/tastemaker/comfyui ComfyUI/custom_nodes/comfyui-tastemaker``.

Either way tastemaker must be importable by ComfyUI's Python when a node runs; the pack
itself loads without it and each node then says how to install it.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
