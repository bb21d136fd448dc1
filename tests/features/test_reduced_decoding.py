"""Large JPEGs are decoded at a reduced scale for extraction (``Image.draft``), never
below ``DRAFT_MARGIN`` times the model's input side, and that moves an embedding by less
than the stated tolerance (``DRAFT_TOLERANCE``, a cosine) on the most sensitive bundled
backbone, on grainy photos, which reduction changes most."""

import numpy as np
from PIL import Image

from tastemaker.features.extract import DRAFT_MARGIN, DRAFT_TOLERANCE, extract
from tastemaker.features.layers import LayerChoice
from tastemaker.features.loaders import load_extractor
from tastemaker.storage.decode import decode


def photo(path, size, seed):
    """A photo-like JPEG: a smooth colour field with grain."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    field = np.asarray(Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC))
    grain = rng.normal(0, 10, (size[1], size[0], 1))
    Image.fromarray(np.clip(field + grain, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def test_a_jpeg_is_reduced_no_further_than_the_shorter_side_asked(tmp_path):
    big = photo(tmp_path / "big.jpg", (2400, 1800), 0)
    assert decode(big, short_side=896).size == (1200, 900)  # 1/2: 1/4 would give 450
    assert decode(big, short_side=1000).size == (2400, 1800)  # 1/2 would be too small
    assert decode(big).size == (2400, 1800)
    png = tmp_path / "big.png"
    Image.open(big).save(png)
    assert decode(png, short_side=896).size == (2400, 1800)  # only JPEGs decode reduced


def test_reduced_decoding_moves_embeddings_less_than_the_stated_tolerance(tmp_path):
    extractor = load_extractor("efficientnet-lite0", "cpu")
    assert extractor.input_side == 224
    photos = [photo(tmp_path / f"p{i}.jpg", (2400, 1800), i) for i in range(4)]
    assert decode(photos[0], short_side=DRAFT_MARGIN * 224).size == (1200, 900)

    def embed(draft):
        batches = extract(extractor, photos, LayerChoice(), workers=0, draft=draft)
        return np.concatenate([b.vectors for b in batches])

    full, reduced = embed(False), embed(True)
    assert not np.array_equal(full, reduced)  # the reduction happened
    cosine = (
        (full * reduced).sum(1) / np.linalg.norm(full, axis=1) / np.linalg.norm(reduced, axis=1)
    )
    assert cosine.min() >= DRAFT_TOLERANCE


def test_a_transformers_backbone_knows_its_input_side(tiny_clip):
    assert load_extractor(str(tiny_clip), "cpu").input_side == 32  # its processor's crop
