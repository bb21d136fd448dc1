"""Which model: a library's newest, or the file a path, a library folder or an exported
model folder names. Light on purpose (no torch), so a command can ask whether there is a
model before loading one."""

from __future__ import annotations

import os
from pathlib import Path

from tastemaker.errors import TastemakerError
from tastemaker.storage.library import Library, store_dir
from tastemaker.storage.store import DEFAULT_PROFILE


def latest_model(library: Library) -> Path | None:
    """The newest model of the library's profile; None before the first."""
    models = library.store.models()
    return Path(models[-1].path) if models else None


def library_model(library: Library, given: str | os.PathLike[str] | None = None) -> Path | None:
    """The model ``given`` (a file, or a library folder: its newest of the same profile),
    else the library's own newest; None when neither is there. Every command that takes a
    model uses this."""
    if given is None:
        return latest_model(library)
    return resolve_model_path(given, library.profile)


def resolve_model_path(
    path_or_name: str | os.PathLike[str], profile: str = DEFAULT_PROFILE
) -> Path:
    """A model file, the newest model of ``profile`` in a library folder, or the one model
    file in a folder as ``export-model`` writes it (and the Hugging Face hub hands back)."""
    path = Path(path_or_name).expanduser()
    if path.is_file():
        return path.resolve()
    if path.is_dir() and (store_dir(path) / "library.db").is_file():
        with Library(path, create=False, profile=profile) as library:
            newest = latest_model(library)
        if newest is not None:
            return newest
        whose = "" if profile == DEFAULT_PROFILE else f" under the profile {profile!r}"
        raise TastemakerError(f"{path}: this library has no trained model{whose} yet")
    if path.is_dir() and (found := _only_model(path)):
        return found
    raise TastemakerError(f"{path}: no such model file (nor a library folder with a model)")


def _only_model(folder: Path) -> Path | None:
    """The one ``.safetensors`` file directly in ``folder``, None when there is none;
    refused when there are several, rather than guessing which."""
    found = sorted(p for p in folder.glob("*.safetensors") if p.is_file())
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise TastemakerError(f"{folder}: holds {len(found)} model files ({names}); give one")
    return found[0].resolve() if found else None
