"""Which layers of a backbone make an image's embedding (0: the final embedding, n: an
earlier block's, counted back from the last; each family's exact rule is in
:mod:`tastemaker.features.loaders`) and how several are combined. Apart from the
loaders, so that the CLI reads this setting without torch."""

from __future__ import annotations

from dataclasses import dataclass

from tastemaker.errors import SettingError

LAYER_MODES = ("join", "average")

LAYER_CONVENTION = "seed"
"""How layers n > 0 are numbered: the classic scorer's, where CLIP's layer n is its projected
``hidden_states[-1-n]`` (see :mod:`tastemaker.features.loaders`). Earlier versions took
CLIP's raw ``hidden_states[-n]`` and did not say so; cache keys and model files now do."""


@dataclass(frozen=True)
class LayerChoice:
    layers: tuple[int, ...] = (0,)
    mode: str = "join"

    def __post_init__(self) -> None:
        if not self.layers or any(n < 0 for n in self.layers):
            raise SettingError("layers", f"{{setting}} takes numbers from 0 up, not {self.layers}")
        if self.mode not in LAYER_MODES:
            raise SettingError("layer_mode", f"{{setting}} is join or average, not {self.mode!r}")

    @classmethod
    def parse(cls, text: str, mode: str = "join") -> LayerChoice:
        try:
            layers = tuple(int(part) for part in text.split(","))
        except ValueError:
            raise SettingError(
                "layers", f"{{setting}} takes numbers like 0 or 0,2, not {text!r}"
            ) from None
        return cls(layers, mode)

    @property
    def key(self) -> str:
        """How the cache and the models table name this choice: ``0``, ``0,2:join@seed``.
        A choice with a layer n > 0 carries the convention, so embeddings cached under the
        earlier numbering are never served for it; layer 0 never changed meaning."""
        joined = ",".join(map(str, self.layers))
        key = joined if len(self.layers) == 1 else f"{joined}:{self.mode}"
        return f"{key}@{LAYER_CONVENTION}" if any(self.layers) else key
