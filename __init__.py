"""ComfyUI's entry when this repository is cloned into ``ComfyUI/custom_nodes/`` (by hand,
by ComfyUI-Manager or from the Comfy Registry): the node pack in ``src/tastemaker/comfyui``,
loaded by its path as ComfyUI loads a node folder, so that it loads (and its nodes say what
to install) even before tastemaker is installed into ComfyUI's Python."""

import importlib.util
import os
import sys

_PACK = os.path.join(os.path.dirname(__file__), "src", "tastemaker", "comfyui")
_spec = importlib.util.spec_from_file_location(
    f"{__name__}.pack", os.path.join(_PACK, "__init__.py"), submodule_search_locations=[_PACK]
)
_pack = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _pack
_spec.loader.exec_module(_pack)

NODE_CLASS_MAPPINGS = _pack.NODE_CLASS_MAPPINGS
NODE_DISPLAY_NAME_MAPPINGS = _pack.NODE_DISPLAY_NAME_MAPPINGS
