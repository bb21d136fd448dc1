"""The ComfyUI nodes: load a taste model, score, sort, filter and save ComfyUI's IMAGE
batches (``[B, H, W, C]`` float tensors). Each node calls tastemaker's Python API
(:mod:`tastemaker.api`, :mod:`tastemaker.workflows.score`, :mod:`tastemaker.workflows.save_images`).

Device and memory are ComfyUI's (:mod:`.memory`). Otherwise this module knows two parts of
ComfyUI, both imported when present:
``folder_paths`` (the ``models/tastemaker`` folder) and ``ExecutionBlocker`` (an empty
result stops what is downstream of it, so SaveImage never sees a zero-size batch). tastemaker
itself is imported when a node runs, so the pack loads even where it is missing and each
node then says how to install it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from pathlib import Path
from typing import Any

from .memory import on_comfy_device

try:  # ComfyUI's own module; absent when this is imported outside ComfyUI
    import folder_paths
except ImportError:
    folder_paths = None

logger = logging.getLogger(__name__)  # ComfyUI's console shows its warnings
CATEGORY = "tastemaker"
TASTE_MODEL = "TASTE_MODEL"  # the type that carries a loaded model between nodes
MODEL_FOLDER = "tastemaker"  # models/tastemaker
MODEL_EXTENSIONS = {".safetensors", ".pth", ".pt"}
NO_MODELS = "(no model in models/tastemaker: give a path)"
DEFAULT_PROFILE = "default"  # tastemaker's, spelt here: the pack loads without tastemaker
INSTALL = (
    "pip install the tastemaker repository into ComfyUI's Python environment (the Python that "
    "runs main.py): pip install -r custom_nodes/<this folder>/requirements.txt, or pip install "
    "/path/to/tastemaker"
)

MODEL_TIP = "A taste model from the Load Taste Model node."
IMAGES_TIP = "The images to judge: a batch, as any image node gives it."
SCORES_TIP = (
    "One score per image, on the model's normalised scale (0 = its average training image, "
    "1 = one standard deviation better), as a list: a node fed from it runs once per score."
)
UNCERTAINTIES_TIP = (
    "One uncertainty per image, as a list in the order of the scores: the standard deviation "
    "of its score, in the same units, large for an image unlike any the model learnt from. "
    "NaN for a model that gives none (an MLP, LAION's); a kernel model (the default) does."
)
TEXT_TIP = (
    "One line per image: its position in the input batch and its score (± its uncertainty, "
    "for a model that gives one)."
)
MODEL_AND_IMAGES = {  # the inputs every scoring node starts with
    "taste_model": (TASTE_MODEL, {"tooltip": MODEL_TIP}),
    "images": ("IMAGE", {"tooltip": IMAGES_TIP}),
}


def _register_model_folder() -> None:
    """``models/tastemaker`` as a ComfyUI model folder (and the paths that an
    ``extra_model_paths.yaml`` gives under ``tastemaker:``), listing model files only."""
    if folder_paths is None:
        return
    default = os.path.join(folder_paths.models_dir, MODEL_FOLDER)
    folder_paths.add_model_folder_path(MODEL_FOLDER, default)
    paths, _ = folder_paths.folder_names_and_paths[MODEL_FOLDER]
    folder_paths.folder_names_and_paths[MODEL_FOLDER] = (paths, set(MODEL_EXTENSIONS))
    with contextlib.suppress(OSError):
        os.makedirs(default, exist_ok=True)  # so a person sees where models go


_register_model_folder()


def _api() -> Any:
    """tastemaker's Python API, or a message saying how to install it."""
    try:
        from tastemaker import api
    except ImportError as e:
        raise RuntimeError(f"tastemaker cannot be imported ({e}): {INSTALL}.") from e
    return api


def _model_files() -> list[str]:
    files = folder_paths.get_filename_list(MODEL_FOLDER) if folder_paths is not None else []
    return files or [NO_MODELS]


def _model_source(model_name: str, path: str) -> str:
    """The path typed, else the file chosen in ``models/tastemaker``."""
    if path.strip():
        return path.strip()
    if model_name == NO_MODELS or not model_name:
        raise RuntimeError(
            "No taste model chosen: put a .safetensors model in ComfyUI/models/tastemaker "
            "(then refresh), or type its path (or a tastemaker library folder) in 'path'."
        )
    found = folder_paths.get_full_path(MODEL_FOLDER, model_name) if folder_paths else None
    if found is None:
        raise RuntimeError(f"{model_name}: no such model file in models/{MODEL_FOLDER}.")
    return found


def _blocked_if_empty(value: Any, empty: bool) -> Any:
    """An empty batch or score list as it is outside ComfyUI; inside, a silent
    ExecutionBlocker, so nodes fed from it (SaveImage, PreviewImage, which index the first
    image) are skipped instead of failing."""
    if not empty:
        return value
    try:
        from comfy_execution.graph_utils import ExecutionBlocker
    except ImportError:
        return value
    return ExecutionBlocker(None)


Row = tuple[int, float, float]  # input position, score, uncertainty (NaN if none)


def _lines(rows: list[Row]) -> str:
    """``#i: +0.123`` per row, ``#i: +0.123 ± 0.40`` where it has an uncertainty."""
    if not rows:
        return "(no images)"
    return "\n".join(
        f"#{i}: {s:+.3f}" + (f" ± {u:.2f}" if math.isfinite(u) else "") for i, s, u in rows
    )


def _score(taste_model: Any, images: Any) -> list[Row]:
    """(input position, score, uncertainty) per image, in input order."""
    _api()
    if not hasattr(taste_model, "score"):
        raise RuntimeError("taste_model must come from the Load Taste Model node.")
    with on_comfy_device(taste_model):
        scores, spread = taste_model.score(images, uncertainty=True)
    return [(i, s, u) for i, (s, u) in enumerate(zip(scores, spread, strict=True))]


def _ranked(rows: list[Row], top: int | None = None, minimum: float | None = None) -> list[Row]:
    """The rows best first, as ``tastemaker score`` ranks files."""
    from tastemaker.workflows.score import Scored, ranked

    scored = Scored([s for _, s, _ in rows], [u for _, _, u in rows], [])
    return ranked([i for i, _, _ in rows], scored, top, minimum)


def _pick(images: Any, rows: list[Row]) -> tuple[Any, list[float]]:
    """The images at the rows' positions, in the rows' order, and their scores."""
    index = [i for i, _, _ in rows]
    return images[index] if index else images[:0], [s for _, s, _ in rows]


class LoadTasteModel:
    DESCRIPTION = (
        "Load a tastemaker taste model: a .safetensors file trained with tastemaker (or LAION's "
        "aesthetic predictor .pth). Runs on ComfyUI's device (the CPU under --cpu) and leaves "
        "the GPU after each run and when ComfyUI frees memory."
    )
    CATEGORY = CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (TASTE_MODEL,)
    RETURN_NAMES = ("taste_model",)
    OUTPUT_TOOLTIPS = ("The model, for the Score, Sort, Filter and Save to Library nodes.",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model_name": (
                    _model_files(),
                    {"tooltip": "A model file in ComfyUI/models/tastemaker."},
                ),
            },
            "optional": {
                "path": (
                    "STRING",
                    {
                        "default": "",
                        "tooltip": "A model file's path, or a tastemaker library folder (its "
                        "latest model); used instead of model_name when given.",
                    },
                ),
            },
        }

    @classmethod
    def IS_CHANGED(cls, model_name: str, path: str = "") -> str:
        """Load again when the file changes (or a library gets a newer model)."""
        try:
            found = _api().resolve_model_path(_model_source(model_name, path))
            return f"{found}:{found.stat().st_mtime_ns}"
        except Exception:
            return ""  # the error is raised by load, where ComfyUI shows it

    def load(self, model_name: str, path: str = "") -> tuple[Any]:
        return (_api().load_model(_model_source(model_name, path)),)


class ScoreImages:
    DESCRIPTION = (
        "Score each image with a taste model: one score per image on the model's normalised "
        "scale, so a threshold means the same for every model trained with tastemaker."
    )
    CATEGORY = CATEGORY
    FUNCTION = "score"
    # uncertainties last, so that workflows saved before it keep their links
    RETURN_TYPES = ("FLOAT", "STRING", "IMAGE", "FLOAT")
    RETURN_NAMES = ("scores", "scores_text", "images", "uncertainties")
    OUTPUT_IS_LIST = (True, False, False, True)
    OUTPUT_TOOLTIPS = (SCORES_TIP, TEXT_TIP, "The images, unchanged.", UNCERTAINTIES_TIP)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                **MODEL_AND_IMAGES,
            }
        }

    def score(self, taste_model: Any, images: Any) -> tuple[Any, str, Any, Any]:
        rows = _score(taste_model, images)
        empty = not rows
        return (
            _blocked_if_empty([s for _, s, _ in rows], empty),
            _lines(rows),
            _blocked_if_empty(images, empty),
            _blocked_if_empty([u for _, _, u in rows], empty),
        )


class ScoreImageFiles:
    DESCRIPTION = (
        "Score image files as `tastemaker score` does, each at its own size: an IMAGE batch "
        "holds one size, so the Image Batch node rescales images of other sizes (and they "
        "score as resized). Files and folders (searched recursively), one per line. A file "
        "that cannot be read is skipped, named at the end of the text and in the console."
    )
    CATEGORY = CATEGORY
    FUNCTION = "score_files"
    RETURN_TYPES = ("FLOAT", "STRING", "STRING")
    RETURN_NAMES = ("scores", "scores_text", "paths")
    OUTPUT_IS_LIST = (True, False, True)
    OUTPUT_TOOLTIPS = (
        SCORES_TIP + " Best first.",
        "One line per file, best first: its score and its path; then one line per file "
        "skipped, saying why.",
        "The files, best first, in the order of the scores.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "taste_model": (TASTE_MODEL, {"tooltip": MODEL_TIP}),
                "paths": (
                    "STRING",
                    {
                        "default": "",
                        "multiline": True,
                        "tooltip": "Image files and folders, one per line; a relative one is "
                        "inside ComfyUI's input folder.",
                    },
                ),
            }
        }

    def score_files(self, taste_model: Any, paths: str) -> tuple[Any, str, Any]:
        _api()
        from tastemaker.storage.library import image_files
        from tastemaker.workflows.score import ranked, score_files

        if not hasattr(taste_model, "score"):
            raise RuntimeError("taste_model must come from the Load Taste Model node.")
        base = Path(folder_paths.get_input_directory() if folder_paths else os.getcwd())
        given = [base / line.strip() for line in paths.splitlines() if line.strip()]
        if not given:
            raise RuntimeError("Give paths: image files or folders, one per line.")
        skipped: list[tuple[str, str]] = []
        files = image_files(given, skipped)
        with on_comfy_device(taste_model):
            scored = score_files(taste_model.model, files).scored
        skipped += [(str(files[i]), problem) for i, problem in scored.failures]
        rows = ranked(files, scored)
        lines = [f"{s:+.3f} {p}" for p, s, _ in rows] or ["(no images)"]
        for path, problem in skipped:  # as the CLI says them
            lines.append(f"skipped {path}: {problem}")
            logger.warning("tastemaker: skipped %s: %s", path, problem)
        return [s for _, s, _ in rows], "\n".join(lines), [str(p) for p, _, _ in rows]


class SortByTaste:
    DESCRIPTION = "Sort a batch of images by taste score, best first."
    CATEGORY = CATEGORY
    FUNCTION = "sort"
    RETURN_TYPES = ("IMAGE", "FLOAT", "STRING")
    RETURN_NAMES = ("images", "scores", "scores_text")
    OUTPUT_IS_LIST = (False, True, False)
    OUTPUT_TOOLTIPS = (
        "The images, best first.",
        SCORES_TIP + " Best first.",
        TEXT_TIP + " Best first.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                **MODEL_AND_IMAGES,
            }
        }

    def sort(self, taste_model: Any, images: Any) -> tuple[Any, Any, str]:
        rows = _ranked(_score(taste_model, images))
        sorted_images, scores = _pick(images, rows)
        return (
            _blocked_if_empty(sorted_images, not rows),
            _blocked_if_empty(scores, not rows),
            _lines(rows),
        )


class FilterByTaste:
    DESCRIPTION = (
        "Keep the best images: the top N and/or those scoring at least min_score; the rest "
        "come out of the second output. Both best first. An empty output skips what is "
        "downstream of it (a Save Image fed nothing is not run)."
    )
    CATEGORY = CATEGORY
    FUNCTION = "filter"
    RETURN_TYPES = ("IMAGE", "FLOAT", "IMAGE", "FLOAT", "STRING")
    RETURN_NAMES = ("kept", "kept_scores", "rest", "rest_scores", "scores_text")
    OUTPUT_IS_LIST = (False, True, False, True, False)
    OUTPUT_TOOLTIPS = (
        "The images kept, best first.",
        SCORES_TIP + " Of the images kept.",
        "The other images, best first.",
        SCORES_TIP + " Of the other images.",
        TEXT_TIP + " Kept first, then the rest.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                **MODEL_AND_IMAGES,
                "top_n": (
                    "INT",
                    {
                        "default": 1,
                        "min": 0,
                        "max": 10000,
                        "tooltip": "Keep at most this many of the best (0: no limit).",
                    },
                ),
                "min_score": (
                    "FLOAT",
                    {
                        "default": -10.0,
                        "min": -100.0,
                        "max": 100.0,
                        "step": 0.05,
                        "tooltip": "Keep only images scoring at least this, on the model's "
                        "normalised scale (0 = its average training image, 1 = one standard "
                        "deviation better); -10 keeps every image.",
                    },
                ),
            }
        }

    def filter(
        self, taste_model: Any, images: Any, top_n: int = 1, min_score: float = -10.0
    ) -> tuple[Any, Any, Any, Any, str]:
        rows = _score(taste_model, images)
        kept = _ranked(rows, top_n if top_n > 0 else None, float(min_score))
        chosen = {i for i, _, _ in kept}
        rest = [row for row in _ranked(rows) if row[0] not in chosen]
        kept_images, kept_scores = _pick(images, kept)
        rest_images, rest_scores = _pick(images, rest)
        text = f"kept {len(kept)} of {len(rows)}\n{_lines(kept)}"
        if rest:
            text += f"\nrest:\n{_lines(rest)}"
        return (
            _blocked_if_empty(kept_images, not kept),
            _blocked_if_empty(kept_scores, not kept),
            _blocked_if_empty(rest_images, not rest),
            _blocked_if_empty(rest_scores, not rest),
            text,
        )


class SaveToLibrary:
    DESCRIPTION = (
        "Save images into a tastemaker library folder with the model's score as their starting "
        "score, so the next `tastemaker rate` session starts from the model's guess."
    )
    CATEGORY = CATEGORY
    FUNCTION = "save"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("report",)
    OUTPUT_TOOLTIPS = ("What was saved where, with each image's score and starting score.",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "taste_model": (TASTE_MODEL, {"tooltip": MODEL_TIP}),
                "images": ("IMAGE", {"tooltip": "The images to save."}),
                "library_folder": (
                    "STRING",
                    {
                        "default": "tastemaker_library",
                        "tooltip": "The tastemaker library folder (created if needed), inside "
                        "ComfyUI's output folder as Save Image's files are.",
                    },
                ),
                "subfolder": (
                    "STRING",
                    {
                        "default": "comfyui",
                        "tooltip": "The folder inside the library the images go to "
                        "(empty: the library's own folder).",
                    },
                ),
                "filename_prefix": (
                    "STRING",
                    {
                        "default": "tastemaker",
                        "tooltip": "Files are named <prefix>_00001.png, … (none is overwritten).",
                    },
                ),
            },
            "optional": {
                "profile": (
                    "STRING",
                    {
                        "default": DEFAULT_PROFILE,
                        "tooltip": "Whose taste: the library profile (tastemaker rate "
                        "--profile) whose starting scores the images get.",
                    },
                ),
            },
        }

    def save(
        self,
        taste_model: Any,
        images: Any,
        library_folder: str,
        subfolder: str = "comfyui",
        filename_prefix: str = "tastemaker",
        profile: str = DEFAULT_PROFILE,
    ) -> dict[str, Any]:
        _api()
        from tastemaker.workflows.save_images import save_to_library

        if not library_folder.strip():
            raise RuntimeError("Give library_folder: the folder you rate with `tastemaker rate`.")
        folder = _inside_output(library_folder.strip())
        with on_comfy_device(taste_model):
            saved = save_to_library(
                folder, images, taste_model, subfolder.strip(), filename_prefix, profile=profile
            )
        report = f"saved {len(saved.paths)} image(s) to {saved.library} ({saved.source})"
        for path, score, prior in zip(saved.paths, saved.scores, saved.priors, strict=True):
            start = "already compared" if prior is None else f"starts at {prior:+.3f}"
            report += f"\n{path.relative_to(saved.library)}: {score:+.3f}, {start}"
        return {"ui": {"text": [report]}, "result": (report,)}


def _inside_output(name: str) -> Path:
    """``name`` as a folder inside ComfyUI's output folder (outside ComfyUI: the current
    folder), refused if it leads elsewhere, as ComfyUI's SaveImage refuses a path that
    leaves it (``folder_paths.get_save_image_path``)."""
    output = Path(folder_paths.get_output_directory() if folder_paths else os.getcwd())
    output = output.absolute()
    folder = Path(os.path.normpath(output / name))
    if name.startswith("~") or Path(name).is_absolute() or not folder.is_relative_to(output):
        raise RuntimeError(
            f"library_folder {name!r} leads outside ComfyUI's output folder {output}: give a "
            "folder name inside it, such as tastemaker_library (no '/' or '~' at the start, "
            "no '..'), as Save Image requires"
        )
    return folder


NODE_CLASS_MAPPINGS = {
    "TastemakerLoadModel": LoadTasteModel,
    "TastemakerScoreImages": ScoreImages,
    "TastemakerScoreImageFiles": ScoreImageFiles,
    "TastemakerSortByTaste": SortByTaste,
    "TastemakerFilterByTaste": FilterByTaste,
    "TastemakerSaveToLibrary": SaveToLibrary,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "TastemakerLoadModel": "Load Taste Model",
    "TastemakerScoreImages": "Score Images (taste)",
    "TastemakerScoreImageFiles": "Score Image Files (taste)",
    "TastemakerSortByTaste": "Sort by Taste",
    "TastemakerFilterByTaste": "Pick Best / Filter by Taste",
    "TastemakerSaveToLibrary": "Save to Taste Library",
}
