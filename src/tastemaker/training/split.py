"""Which images are held out: a stable split by content hash, not a shuffle."""

from __future__ import annotations

import hashlib

import numpy as np


def heldout_mask(keys: list[str], share: float = 0.25, salt: str = "tastemaker") -> np.ndarray:
    """True for the images held out of training: those whose ``sha256(salt:key)``, read as a
    number in [0, 1), is below ``share``. ``keys`` are the images' content hashes, so an
    image stays on its side when images are added, removed or moved, and a new image goes
    to a side without moving any other. Another ``salt`` gives another split."""
    if not 0.0 <= share <= 1.0:
        raise ValueError("share must be between 0 and 1")
    out = np.empty(len(keys), dtype=bool)
    for i, key in enumerate(keys):
        digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
        out[i] = int.from_bytes(digest[:8], "big") / 2.0**64 < share
    return out
