"""tastemaker's ComfyUI node pack: Load Taste Model, Score Images, Sort by Taste,
Pick Best / Filter by Taste, Save to Taste Library.

This folder is the node pack itself. ComfyUI imports each folder in ``custom_nodes/`` as a
package by its path, so either

- link (or copy) this folder there: ``ln -s …/src/tastemaker/comfyui
  ComfyUI/custom_nodes/comfyui-tastemaker``, or
- ``pip install tastemaker`` into ComfyUI's Python and add a one-line shim,
  ``ComfyUI/custom_nodes/tastemaker_nodes.py``::

      from tastemaker.comfyui import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

Either way tastemaker must be importable by ComfyUI's Python when a node runs; the pack
itself loads without it and each node then says how to install it.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
