"""A model as a folder to share: the model file, a ``README.md`` model card (YAML front
matter as the Hugging Face hub reads it: license, library_name, tags, base_model) and a
``config.json`` of its meta, so ``huggingface-cli upload`` of the folder publishes a taste
and the folder itself loads back wherever a model is taken."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from tastemaker.errors import TastemakerError
from tastemaker.model import ModelMeta, read_model
from tastemaker.storage.library import check_output

CARD = "README.md"
CONFIG = "config.json"
_WRITTEN = (CARD, CONFIG)  # with the model file: what --force replaces
_HUB_FAMILIES = ("clip", "siglip", "dinov2")  # extractors whose name is a hub model id


def export_model(model: Path, dest: Path, force: bool = False, license: str = "other") -> Path:
    """Write ``model`` (a ``.safetensors`` or LAION file) into the folder ``dest`` with its
    card; returns the model file written. An existing ``dest`` with anything in it is
    refused unless ``force``, which replaces an earlier export and nothing else."""
    check_output(dest, folder=True)
    taste = read_model(model)  # before anything is replaced: it may be the old export
    if dest.is_dir() and any(dest.iterdir()):
        if not force:
            raise TastemakerError(f"{dest}: already exists; give --force to replace the export")
        _remove_export(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = taste.save(dest / f"{dest.resolve().name}.safetensors")
    (dest / CONFIG).write_text(json.dumps(asdict(taste.meta), indent=1) + "\n")
    (dest / CARD).write_text(model_card(taste.meta, written.name, license))
    return written


def _remove_export(dest: Path) -> None:
    """Remove what an export wrote in ``dest``, refusing a folder that holds anything
    else (hidden files, such as a hub download's, aside): those are someone's files."""
    ours = [
        p
        for p in dest.iterdir()
        if p.is_file() and (p.name in _WRITTEN or p.suffix == ".safetensors")
    ]
    others = [p.name for p in dest.iterdir() if p not in ours and not p.name.startswith(".")]
    if others:
        raise TastemakerError(
            f"{dest}: holds files an export does not write ({', '.join(sorted(others)[:3])}); "
            "choose another folder"
        )
    for path in ours:
        path.unlink()


def base_model(extractor: str) -> str | None:
    """The hub id of the extractor, when it is one (not a local folder or open_clip)."""
    from tastemaker.features.registry import known_family

    if Path(extractor).expanduser().exists() or extractor.count("/") != 1:
        return None
    return extractor if known_family(extractor) in _HUB_FAMILIES else None


def model_card(meta: ModelMeta, file_name: str, license: str = "other") -> str:
    """The ``README.md`` for a model: front matter, what it learnt from, its held-out
    figures with their counts, how to use it, and what it cannot do."""
    front: dict[str, object] = {
        "license": license,
        "library_name": "tastemaker",
        "tags": ["tastemaker", "image-scoring", "aesthetics", "personal-taste"],
    }
    if base := base_model(meta.extractor):
        front["base_model"] = base
    m = meta.metrics
    images, choices = int(m.get("refit_images", 0)), int(m.get("refit_choices", 0))
    layers = ", ".join(map(str, meta.layers))
    lines = [
        "---",
        *(f"{key}: {json.dumps(value)}" for key, value in front.items()),  # JSON is YAML
        "---",
        "",
        f"# A taste model: {Path(file_name).stem}",
        "",
        "Scores images by one person's taste, learnt with "
        "tastemaker from their own choices between "
        "images. Scores are on the model's scale: mean 0, standard deviation 1 over the "
        "images it was trained on.",
        "",
        "## What it learnt from",
        "",
        f"- Images: {images}",
        f"- Choices: {choices}",
        f"- Extractor: `{meta.extractor}`, layers {layers}"
        + (f" ({meta.layer_mode})" if len(meta.layers) > 1 else ""),
        f"- Learner: {meta.architecture} head, {meta.loss} loss on the {meta.ratings} ratings",
        f"- Made by tastemaker {meta.version} on {meta.created or 'an unknown date'}",
        "",
        "## How well it agrees",
        "",
        *_metric_lines(m),
        "",
        "## Use",
        "",
        "```bash",
        "pip install /path/to/tastemaker   # a checkout of tastemaker (not on PyPI yet)",
        "huggingface-cli download USER/REPO --local-dir my-taste",
        "tastemaker score my-taste photos/ --top 20",
        "```",
        "",
        "```python",
        "import tastemaker",
        "",
        'model = tastemaker.load_model("my-taste")',
        'print(model.score(["photo.jpg"]))',
        "```",
        "",
        f"In ComfyUI, put `{file_name}` in `ComfyUI/models/tastemaker` (or give the folder's "
        "path) and load it with the *Load Taste Model* node.",
        "",
        "## Limitations",
        "",
        "This is one person's taste, measured on the images they happened to rate: it "
        "says what they would likely prefer, not what is good, and it knows nothing of "
        "kinds of image it never saw (a kernel model's uncertainty grows there). The "
        "held-out figures above rest on the counts beside them; with few choices they are "
        "rough. Scores are relative to the training images, so a threshold carries over "
        "only between models trained by tastemaker. It needs the extractor named above, "
        "which carries its own licence and biases.",
        "",
    ]
    return "\n".join(lines)


def _metric_lines(m: dict[str, float]) -> list[str]:
    """The held-out and training figures, each with the count it rests on."""
    rows = []
    for split, label in (("heldout", "Held-out"), ("train", "Training fit (optimistic)")):
        choices, images = int(m.get(f"{split}_choices", 0)), int(m.get(f"{split}_images", 0))
        if f"{split}_choice_agreement" in m:
            rows.append(
                f"- {label}: agreement with the person's choices "
                f"{m[f'{split}_choice_agreement']:.3f} over {choices} choices"
            )
        if f"{split}_spearman" in m:
            rows.append(
                f"- {label}: pairwise accuracy {m.get(f'{split}_pairwise_accuracy', 0):.3f}, "
                f"Spearman {m[f'{split}_spearman']:.3f} over {images} images"
            )
    return rows or ["- No figures: too few choices when it was trained."]
