"""The ComfyUI node pack, without ComfyUI: imported as ComfyUI imports a custom node folder
(a package loaded by its path), its mappings and input declarations checked, and every
node run on ``[B, H, W, C]`` tensors with a tiny locally built model."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_images, noise_image
from PIL import Image

import tastemaker
from tastemaker.errors import TastemakerError
from tastemaker.features.loaders import load_extractor
from tastemaker.rating.prior import prior_scores
from tastemaker.storage.library import open_library
from tastemaker.workflows.ratings import recompute_elo
from tastemaker.workflows.save_images import save_to_library

PACK = Path(tastemaker.__file__).parent / "comfyui"
NODES = {
    "TastemakerLoadModel",
    "TastemakerScoreImages",
    "TastemakerScoreImageFiles",
    "TastemakerSortByTaste",
    "TastemakerFilterByTaste",
    "TastemakerSaveToLibrary",
}


def load_custom_node(folder: Path) -> types.ModuleType:
    """What ComfyUI's ``nodes.load_custom_node`` does with a folder in ``custom_nodes/``:
    its ``__init__.py`` run as a package named by the folder's path."""
    name = str(folder).replace(".", "_x_")
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def custom_nodes(tmp_path: Path) -> Path:
    """A ComfyUI-like ``custom_nodes/`` holding a link to the pack, as the README says."""
    folder = tmp_path / "ComfyUI" / "custom_nodes"
    folder.mkdir(parents=True)
    (folder / "comfyui-tastemaker").symlink_to(PACK, target_is_directory=True)
    return folder


@pytest.fixture
def pack(custom_nodes: Path) -> types.ModuleType:
    return load_custom_node(custom_nodes / "comfyui-tastemaker")


@pytest.fixture
def node(pack):
    return lambda name: pack.NODE_CLASS_MAPPINGS[name]()


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> torch.Tensor:
    """Six images as ComfyUI holds them: ``[B, H, W, C]`` float32 in 0..1."""
    paths = make_images(tmp_path_factory.mktemp("comfy-images"), 6, size=(40, 32))
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    return torch.tensor(np.stack(arrays), dtype=torch.float32) / 255.0


def test_the_pack_declares_its_nodes_as_comfyui_expects(pack):
    assert set(pack.NODE_CLASS_MAPPINGS) == NODES
    assert set(pack.NODE_DISPLAY_NAME_MAPPINGS) == NODES
    assert (
        pack.NODE_DISPLAY_NAME_MAPPINGS["TastemakerFilterByTaste"] == "Pick Best / Filter by Taste"
    )
    for cls in pack.NODE_CLASS_MAPPINGS.values():
        assert cls.CATEGORY == "tastemaker" and cls.DESCRIPTION
        assert callable(getattr(cls, cls.FUNCTION))
        n = len(cls.RETURN_TYPES)
        assert len(cls.RETURN_NAMES) == n and len(cls.OUTPUT_TOOLTIPS) == n
        assert len(getattr(cls, "OUTPUT_IS_LIST", (False,) * n)) == n
        inputs = cls.INPUT_TYPES()
        assert set(inputs) <= {"required", "optional"}
        for spec in (*inputs["required"].values(), *inputs.get("optional", {}).values()):
            kind, options = spec
            assert isinstance(kind, (str, list)) and options["tooltip"]


def test_input_and_output_types(pack):
    m = pack.NODE_CLASS_MAPPINGS
    assert m["TastemakerLoadModel"].RETURN_TYPES == ("TASTE_MODEL",)
    path = m["TastemakerLoadModel"].INPUT_TYPES()["optional"]["path"]
    assert path[0] == "STRING" and path[1]["default"] == ""
    for name in ("TastemakerScoreImages", "TastemakerSortByTaste", "TastemakerFilterByTaste"):
        required = m[name].INPUT_TYPES()["required"]
        assert required["taste_model"][0] == "TASTE_MODEL" and required["images"][0] == "IMAGE"
    # outputs added later come last, so a saved workflow's links still point at the same
    assert m["TastemakerScoreImages"].RETURN_TYPES == ("FLOAT", "STRING", "IMAGE", "FLOAT")
    assert m["TastemakerScoreImages"].OUTPUT_IS_LIST == (True, False, False, True)
    assert m["TastemakerSortByTaste"].RETURN_TYPES == ("IMAGE", "FLOAT", "STRING")
    assert m["TastemakerFilterByTaste"].RETURN_TYPES == (
        "IMAGE",
        "FLOAT",
        "IMAGE",
        "FLOAT",
        "STRING",
    )
    top, minimum = (
        m["TastemakerFilterByTaste"].INPUT_TYPES()["required"][k] for k in ("top_n", "min_score")
    )
    assert top[0] == "INT" and top[1]["min"] == 0 and minimum[0] == "FLOAT"
    assert m["TastemakerSaveToLibrary"].OUTPUT_NODE is True


def test_scores_are_the_python_apis(node, tiny_model, batch):
    model = node("TastemakerLoadModel").load(model_name="", path=str(tiny_model))[0]
    assert model is tastemaker.load_model(tiny_model)  # the same cached model
    scores, text, images, spread = node("TastemakerScoreImages").score(model, batch)
    assert scores == tastemaker.load_model(tiny_model).score(batch)
    assert len(set(scores)) > 1 and all(isinstance(s, float) for s in scores)
    assert images is batch
    assert text.splitlines() == [f"#{i}: {s:+.3f}" for i, s in enumerate(scores)]
    assert len(spread) == 6 and np.isnan(spread).all()  # an MLP gives no uncertainty


def test_a_kernel_models_uncertainties_come_out_too(node, tiny_kernel_model, batch, tmp_path):
    """The Python API's uncertainties, largest for an image unlike those the model learnt
    from (the batch's are among them); the text shows them."""
    noise = np.asarray(Image.open(noise_image(tmp_path / "noise.png")), np.float32) / 255.0
    images = torch.cat([batch, torch.tensor(noise)[None]])
    model = tastemaker.load_model(tiny_kernel_model)
    scores, text, _, spread = node("TastemakerScoreImages").score(model, images)
    assert (scores, spread) == model.score(images, uncertainty=True)
    assert 0 < max(spread[:-1]) < spread[-1]
    assert text.splitlines() == [
        f"#{i}: {s:+.3f} ± {u:.2f}" for i, (s, u) in enumerate(zip(scores, spread, strict=True))
    ]
    _, _, sorted_text = node("TastemakerSortByTaste").sort(model, images)
    best = int(np.argmax(scores))
    assert sorted_text.splitlines()[0] == f"#{best}: {scores[best]:+.3f} ± {spread[best]:.2f}"


def test_sorting_is_by_score_best_first(node, tiny_model, batch):
    model = tastemaker.load_model(tiny_model)
    expected = model.score(batch)
    images, scores, text = node("TastemakerSortByTaste").sort(model, batch)
    order = np.argsort(-np.array(expected), kind="stable")
    assert scores == sorted(expected, reverse=True)
    assert torch.equal(images, batch[order.tolist()])
    assert model.score(images) == pytest.approx(scores, abs=1e-4)
    assert text.splitlines()[0] == f"#{order[0]}: {expected[order[0]]:+.3f}"


def test_filter_keeps_the_top_n_and_those_above_the_threshold(node, tiny_model, batch):
    model = tastemaker.load_model(tiny_model)
    expected = np.array(model.score(batch))
    best_first = np.argsort(-expected, kind="stable")
    pick = node("TastemakerFilterByTaste").filter

    kept, kept_scores, rest, rest_scores, text = pick(model, batch, top_n=2, min_score=-10.0)
    assert torch.equal(kept, batch[best_first[:2].tolist()])
    assert torch.equal(rest, batch[best_first[2:].tolist()])
    assert kept_scores == expected[best_first[:2]].tolist()
    assert rest_scores == expected[best_first[2:]].tolist()
    assert text.startswith("kept 2 of 6\n")

    threshold = float(np.median(expected))
    above = [i for i in best_first if expected[i] >= threshold]
    kept, kept_scores, rest, _, _ = pick(model, batch, top_n=0, min_score=threshold)
    assert 3 <= len(above) < 6 and torch.equal(kept, batch[above])  # ties may join the median
    assert min(kept_scores) >= threshold and len(rest) == 6 - len(above)

    best = float(expected.max())
    at_best = int((expected >= best).sum())  # a tiny model may give several the same score
    kept, kept_scores, rest, _, _ = pick(model, batch, top_n=2, min_score=best)
    assert kept.shape[0] == min(2, at_best) and set(kept_scores) == {best}
    assert len(rest) == 6 - kept.shape[0]


def test_zero_size_batches_work(node, tiny_model, batch):
    model = tastemaker.load_model(tiny_model)
    empty = batch[:0]
    assert empty.shape == (0, 32, 40, 3)
    scores, text, images, spread = node("TastemakerScoreImages").score(model, empty)
    assert scores == spread == [] and images.shape == (0, 32, 40, 3) and text == "(no images)"
    images, scores, _ = node("TastemakerSortByTaste").sort(model, empty)
    assert images.shape == (0, 32, 40, 3) and scores == []
    kept, kept_scores, rest, rest_scores, _ = node("TastemakerFilterByTaste").filter(model, empty)
    assert kept.shape == rest.shape == (0, 32, 40, 3) and kept_scores == rest_scores == []
    # nothing above the threshold: an empty kept batch of the input's size
    kept, kept_scores, rest, _, text = node("TastemakerFilterByTaste").filter(
        model, batch, top_n=0, min_score=99.0
    )
    assert kept.shape == (0, 32, 40, 3) and kept.dtype == batch.dtype and kept_scores == []
    assert torch.equal(rest, node("TastemakerSortByTaste").sort(model, batch)[0])
    assert text.startswith("kept 0 of 6\n(no images)\nrest:")


def test_inside_comfyui_an_empty_output_blocks_what_follows(node, tiny_model, batch, monkeypatch):
    """ComfyUI's SaveImage indexes the first image, so an empty output is a silent
    ExecutionBlocker there: the nodes fed from it are skipped instead of failing."""

    class ExecutionBlocker:
        def __init__(self, message):
            self.message = message

    fake = types.ModuleType("comfy_execution.graph_utils")
    fake.ExecutionBlocker = ExecutionBlocker
    monkeypatch.setitem(sys.modules, "comfy_execution", types.ModuleType("comfy_execution"))
    monkeypatch.setitem(sys.modules, "comfy_execution.graph_utils", fake)
    model = tastemaker.load_model(tiny_model)
    kept, kept_scores, rest, rest_scores, _ = node("TastemakerFilterByTaste").filter(
        model, batch, top_n=0, min_score=99.0
    )
    for blocked in (kept, kept_scores):
        assert isinstance(blocked, ExecutionBlocker) and blocked.message is None
    assert rest.shape[0] == 6 and len(rest_scores) == 6
    scores, _, images, spread = node("TastemakerScoreImages").score(model, batch[:0])
    for blocked in (scores, images, spread):
        assert isinstance(blocked, ExecutionBlocker)


def test_models_folder_is_registered_with_folder_paths(custom_nodes, tiny_model, monkeypatch):
    """With ComfyUI's folder_paths importable, models/tastemaker is a model folder whose
    files the loader offers (a stand-in with the calls the pack makes)."""
    models = custom_nodes.parent / "models"
    fp = types.ModuleType("folder_paths")
    fp.models_dir = str(models)
    fp.folder_names_and_paths = {}

    def add_model_folder_path(name, path, is_default=False):
        fp.folder_names_and_paths.setdefault(name, ([], set()))[0].append(path)

    def get_filename_list(name):
        paths, extensions = fp.folder_names_and_paths[name]
        return sorted(p.name for d in paths for p in Path(d).iterdir() if p.suffix in extensions)

    def get_full_path(name, filename):
        hits = [Path(d) / filename for d in fp.folder_names_and_paths[name][0]]
        return next((str(p) for p in hits if p.is_file()), None)

    fp.add_model_folder_path = add_model_folder_path
    fp.get_filename_list = get_filename_list
    fp.get_full_path = get_full_path
    fp.get_output_directory = lambda: str(custom_nodes.parent / "output")
    monkeypatch.setitem(sys.modules, "folder_paths", fp)

    pack = load_custom_node(custom_nodes / "comfyui-tastemaker")
    folder = models / "tastemaker"
    assert fp.folder_names_and_paths["tastemaker"] == (
        [str(folder)],
        {".safetensors", ".pth", ".pt"},
    )
    assert folder.is_dir()
    loader = pack.NODE_CLASS_MAPPINGS["TastemakerLoadModel"]
    assert loader.INPUT_TYPES()["required"]["model_name"][0] == [pack.nodes.NO_MODELS]
    with pytest.raises(
        RuntimeError, match=r"put a \.safetensors model in ComfyUI/models/tastemaker"
    ):
        loader().load(pack.nodes.NO_MODELS)
    shutil.copy(tiny_model, folder / "mine.safetensors")
    (folder / "notes.txt").write_text("not a model")
    assert loader.INPUT_TYPES()["required"]["model_name"][0] == ["mine.safetensors"]
    model = loader().load("mine.safetensors")[0]
    assert model.source == (folder / "mine.safetensors").resolve()
    assert loader.IS_CHANGED("mine.safetensors").endswith(
        str((folder / "mine.safetensors").stat().st_mtime_ns)
    )
    with pytest.raises(RuntimeError, match=r"gone\.safetensors: no such model file"):
        loader().load("gone.safetensors")


def test_without_tastemaker_the_pack_loads_and_each_node_says_what_to_install(
    custom_nodes, monkeypatch
):
    for name in [m for m in sys.modules if m == "tastemaker" or m.startswith("tastemaker.")]:
        monkeypatch.setitem(sys.modules, name, None)  # import tastemaker… now fails
    pack = load_custom_node(custom_nodes / "comfyui-tastemaker")
    assert set(pack.NODE_CLASS_MAPPINGS) == NODES
    nodes = pack.NODE_CLASS_MAPPINGS
    install = (
        r"pip install the tastemaker repository into ComfyUI's Python environment .*"
        r"pip install -r custom_nodes/<this folder>/requirements\.txt"
    )
    calls = [
        lambda: nodes["TastemakerLoadModel"]().load("x", path="model.safetensors"),
        lambda: nodes["TastemakerScoreImages"]().score(object(), torch.zeros(1, 8, 8, 3)),
        lambda: nodes["TastemakerSortByTaste"]().sort(object(), torch.zeros(1, 8, 8, 3)),
        lambda: nodes["TastemakerFilterByTaste"]().filter(object(), torch.zeros(1, 8, 8, 3)),
        lambda: nodes["TastemakerSaveToLibrary"]().save(object(), torch.zeros(1, 8, 8, 3), "lib"),
    ]
    for call in calls:
        with pytest.raises(RuntimeError, match=install):
            call()


def test_a_shared_model_folder_loads_as_its_model(node, tiny_model, batch, tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "taste.safetensors").write_bytes(tiny_model.read_bytes())
    model = node("TastemakerLoadModel").load(model_name="", path=str(tmp_path / "shared"))[0]
    assert model.score(batch) == tastemaker.load_model(tiny_model).score(batch)


def test_a_missing_model_file_is_a_clear_error(node, tmp_path):
    with pytest.raises(TastemakerError, match="no such model file"):
        node("TastemakerLoadModel").load("", path=str(tmp_path / "missing.safetensors"))
    with pytest.raises(RuntimeError, match="must come from the Load Taste Model node"):
        node("TastemakerScoreImages").score("not a model", torch.zeros(1, 8, 8, 3))


@pytest.fixture
def output(pack, tmp_path: Path, monkeypatch) -> Path:
    """ComfyUI's output folder, as its ``folder_paths`` gives it."""
    folder = tmp_path / "ComfyUI" / "output"
    fp = types.SimpleNamespace(get_output_directory=lambda: str(folder))
    monkeypatch.setattr(pack.nodes, "folder_paths", fp)
    return folder


def test_save_to_library_gives_the_models_starting_scores(node, tiny_model, batch, output):
    model = tastemaker.load_model(tiny_model)
    folder = output / "library"
    result = node("TastemakerSaveToLibrary").save(model, batch[:3], "library", "tonight", "gen")
    report = result["result"][0]
    assert result["ui"]["text"] == [report]
    assert report.startswith(f"saved 3 image(s) to {folder} (model:tiny.safetensors)")
    paths = [folder / "tonight" / f"gen_{i:05d}.png" for i in (1, 2, 3)]
    assert all(p.is_file() for p in paths)
    expected = model.score(batch[:3])
    assert model.score(paths) == pytest.approx(expected, abs=1e-4)  # saved without loss
    with open_library(folder) as library:
        rows = {r.path: r for r in library.store.ratings()}
    starting = prior_scores(np.array(expected), np.zeros(3, bool), np.zeros(3))
    for path, value in zip(paths, starting, strict=True):
        row = rows[path.relative_to(folder).as_posix()]
        assert row.prior_source == "model:tiny.safetensors" and row.prior_comparisons == 0
        assert row.prior == pytest.approx(value, abs=1e-4)
        assert row.elo == pytest.approx(value, abs=1e-4)  # the Elo starts from the prior
    assert np.std([r.prior for r in rows.values()]) == pytest.approx(0.5, abs=1e-4)


def test_save_to_library_stays_inside_comfyuis_output_folder(node, tiny_model, batch, output):
    """As ComfyUI's SaveImage: a library folder that leads out of the output folder is
    refused before anything is written."""
    model = tastemaker.load_model(tiny_model)
    outside = output.parent / "outside"
    for name in (str(outside), "../outside", "lib/../../outside", "~/outside", "~"):
        with pytest.raises(RuntimeError, match="leads outside ComfyUI's output folder"):
            node("TastemakerSaveToLibrary").save(model, batch[:1], name)
    assert not outside.exists() and not output.exists()
    assert not (Path.home() / "outside").exists()
    node("TastemakerSaveToLibrary").save(model, batch[:1], "lib/../mine", "")
    assert (output / "mine" / "tastemaker_00001.png").is_file()


def test_save_to_library_keeps_what_is_there(tiny_model, batch, tmp_path):
    model = tastemaker.load_model(tiny_model)
    folder = tmp_path / "library"
    first = save_to_library(folder, batch[:2], tiny_model, subfolder="")
    assert [p.name for p in first.paths] == ["tastemaker_00001.png", "tastemaker_00002.png"]
    with open_library(folder) as library:  # a person compares the first two
        store = library.store
        a, b = (store.files()[p.name].image_id for p in first.paths)
        with store.atomic():
            session = store.start_session({})
            store.add_comparison(session, (a, b), a, 0, 500, 0.8, store.elo_of((a, b)))
            recompute_elo(store)
        before = {r.image_id: r for r in store.ratings()}
    # the first image again (same content) and two new ones
    second = save_to_library(folder, torch.cat([batch[:1], batch[2:4]]), model, subfolder="")
    assert [p.name for p in second.paths] == [f"tastemaker_{i:05d}.png" for i in (3, 4, 5)]
    assert second.priors[0] is None and None not in second.priors[1:]
    assert second.scores == pytest.approx(model.score(second.paths), abs=1e-4)
    with open_library(folder) as library:
        after = {r.image_id: r for r in library.store.ratings()}
        assert library.store.files()["tastemaker_00003.png"].image_id == a
    for image_id in (a, b):
        assert after[image_id].elo == before[image_id].elo
        assert after[image_id].prior_source == before[image_id].prior_source
    assert save_to_library(folder, batch[:0], model).paths == []
    with pytest.raises(TastemakerError, match="plain name"):
        save_to_library(folder, batch[:1], model, subfolder=".hidden")
    with pytest.raises(TastemakerError, match="plain name"):
        save_to_library(folder, batch[:1], model, subfolder="../outside")


class FakeLoadedModel:
    """``comfy.model_management.LoadedModel``: ComfyUI's record of a patcher it loaded."""

    def __init__(self, patcher):
        self.model, self.device = patcher, patcher.load_device

    def __eq__(self, other):
        return self.model is other.model

    def model_unload(self, memory_to_free=None, unpatch_weights=True):
        self.model.detach(unpatch_weights)
        return True


class FakeModelManagement(types.ModuleType):
    """``comfy.model_management`` as the pack uses it, with the real one's names and
    signatures: a device choice (``--cpu`` gives the CPU), its offload device (the CPU)
    and a list of loaded models that ``free_memory`` / ``unload_all_models`` move to their
    offload device."""

    def __init__(self, device: torch.device) -> None:
        super().__init__("comfy.model_management")
        self.device = device
        self.current_loaded_models: list[FakeLoadedModel] = []
        self.requested: list[FakeModelPatcher] = []  # every patcher asked to load
        self.emptied = 0

    def get_torch_device(self):
        return self.device

    def unet_offload_device(self):
        return torch.device("cpu")

    def load_models_gpu(
        self,
        models,
        memory_required=0,
        force_patch_weights=False,
        minimum_memory_required=None,
        force_full_load=False,
    ):
        # Short of VRAM, ComfyUI loads a model on a GPU only in part (ModelPatcher.load
        # moves the submodules that own all their parameters) unless told to load it whole;
        # a plain torch module (no comfy.ops casting) then fails with tensors on two devices.
        if self.device != torch.device("cpu"):
            assert force_full_load, "a partly loaded torch module cannot run"
        for patcher in models:
            self.requested.append(patcher)
            loaded = FakeLoadedModel(patcher)
            if loaded not in self.current_loaded_models:
                patcher.patch_model(patcher.load_device)
                self.current_loaded_models.insert(0, loaded)

    def free_memory(self, memory_required, device, keep_loaded=[]):  # noqa: B006 (as ComfyUI)
        unloaded = [
            m
            for m in self.current_loaded_models
            if m.device == device and m not in keep_loaded and m.model_unload()
        ]
        for m in unloaded:
            self.current_loaded_models.remove(m)
        if unloaded:
            self.soft_empty_cache()
        return unloaded

    def unload_all_models(self):
        self.free_memory(1e30, self.get_torch_device())

    def soft_empty_cache(self, force=False):
        self.emptied += 1


class FakeModelPatcher:
    """``comfy.model_patcher.ModelPatcher``: moves the model between its devices and
    writes where it is on the model, as the real one does."""

    def __init__(self, model, load_device, offload_device, size=0, weight_inplace_update=False):
        self.model, self.load_device, self.offload_device = model, load_device, offload_device
        self.moves: list[torch.device] = []
        model.device = offload_device

    def patch_model(self, device_to=None, lowvram_model_memory=0, load_weights=True):
        self._move(device_to)
        return self.model

    def detach(self, unpatch_all=True):
        self._move(self.offload_device)
        return self.model

    def _move(self, device):
        self.model.to(device)
        self.model.device = device
        self.moves.append(device)


@pytest.fixture
def comfy(custom_nodes, monkeypatch):
    """The pack loaded inside a ComfyUI whose device is the one given; the CPU is what
    ComfyUI started with ``--cpu`` says, even on a machine with CUDA."""

    def start(device: str | torch.device) -> tuple[types.ModuleType, FakeModelManagement]:
        mm = FakeModelManagement(torch.device(device))
        patcher = types.ModuleType("comfy.model_patcher")
        patcher.ModelPatcher = FakeModelPatcher
        package = types.ModuleType("comfy")
        package.model_management, package.model_patcher = mm, patcher
        for name, module in (
            ("comfy", package),
            ("comfy.model_management", mm),
            ("comfy.model_patcher", patcher),
        ):
            monkeypatch.setitem(sys.modules, name, module)
        return load_custom_node(custom_nodes / "comfyui-tastemaker"), mm

    return start


def test_models_run_on_comfyuis_device_and_leave_when_it_frees_memory(comfy, tiny_model, batch):
    pack, mm = comfy("cpu")
    expected = tastemaker.load_model(tiny_model).score(batch)  # as the CLI scores them
    model = pack.NODE_CLASS_MAPPINGS["TastemakerLoadModel"]().load("", path=str(tiny_model))[0]
    scores = pack.NODE_CLASS_MAPPINGS["TastemakerScoreImages"]().score(model, batch)[0]
    assert scores == expected
    backbone = load_extractor(model.model.meta.extractor, "cpu").module
    loaded = {id(m.model.model.held): m for m in mm.current_loaded_models}
    assert set(loaded) == {id(model.model.module), id(backbone)}
    assert all(m.device == torch.device("cpu") for m in loaded.values())
    assert model.model.device == torch.device("cpu")

    # on the CPU they stay between runs: a second run registers the same two, not new
    # copies; freeing memory releases them
    pack.NODE_CLASS_MAPPINGS["TastemakerSortByTaste"]().sort(model, batch)
    assert len(mm.current_loaded_models) == 2 and mm.emptied == 0
    mm.unload_all_models()
    assert mm.current_loaded_models == [] and mm.emptied == 1
    assert pack.NODE_CLASS_MAPPINGS["TastemakerScoreImages"]().score(model, batch)[0] == expected


def test_models_leave_comfyuis_gpu_after_each_run_and_come_back_for_the_next(
    comfy, tiny_model, batch
):
    """Where ComfyUI's device is not its offload device (a GPU), tastemaker's models are
    unloaded after each run through ComfyUI's own ``free_memory``, ComfyUI's other models
    stay loaded, and the next run loads them again and scores the same. Without a GPU
    here, ``cpu:0`` stands for one: a device ComfyUI's bookkeeping tells apart from the
    CPU, though its tensors share the CPU's memory."""
    gpu, cpu = torch.device("cpu", 0), torch.device("cpu")
    pack, mm = comfy(gpu)
    diffusion = FakeModelPatcher(torch.nn.Linear(2, 2), gpu, cpu)  # ComfyUI's own model
    mm.load_models_gpu([diffusion], force_full_load=True)
    model = tastemaker.load_model(tiny_model)
    expected = model.score(batch)
    nodes = pack.NODE_CLASS_MAPPINGS
    assert nodes["TastemakerScoreImages"]().score(model, batch)[0] == expected
    ours = [p for p in mm.requested if p is not diffusion]
    assert {id(p.model.held) for p in ours} == {
        id(model.model.module),
        id(load_extractor(model.model.meta.extractor, str(gpu)).module),
    }
    assert [p.moves for p in ours] == [[gpu, cpu], [gpu, cpu]]
    assert [m.model for m in mm.current_loaded_models] == [diffusion]
    assert diffusion.model.device == gpu and mm.emptied == 1

    assert nodes["TastemakerSortByTaste"]().sort(model, batch)[1] == sorted(expected, reverse=True)
    assert [p.moves for p in ours] == [[gpu, cpu, gpu, cpu]] * 2
    assert [m.model for m in mm.current_loaded_models] == [diffusion]

    with pytest.raises(TastemakerError, match="1, 3 or 4 channels"):  # a failed run too
        nodes["TastemakerScoreImages"]().score(model, torch.zeros(1, 8, 8, 5))
    assert [p.moves[-1] for p in ours] == [cpu, cpu]
    assert [m.model for m in mm.current_loaded_models] == [diffusion]


def test_comfyuis_cpu_choice_is_kept_when_cuda_exists(comfy, tiny_model, batch, monkeypatch):
    """Under ``--cpu`` ComfyUI says CPU; tastemaker alone would take CUDA when present."""
    pack, mm = comfy("cpu")
    model = tastemaker.load_model(tiny_model)
    expected = model.score(batch)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    model.model.device = torch.device("cuda")  # where tastemaker alone would put it
    assert pack.NODE_CLASS_MAPPINGS["TastemakerScoreImages"]().score(model, batch)[0] == expected
    assert model.model.device == torch.device("cpu")
    assert {m.device for m in mm.current_loaded_models} == {torch.device("cpu")}


REPOSITORY = PACK.parents[2]  # the checkout: src/tastemaker/comfyui is three levels down


@pytest.mark.skipif(
    not (REPOSITORY / "pyproject.toml").is_file(), reason="tastemaker installed, not checked out"
)
def test_the_repository_cloned_into_custom_nodes_is_the_pack(tmp_path):
    """ComfyUI-Manager and the Comfy Registry put the whole repository in custom_nodes/
    and install its requirements.txt; its pyproject.toml carries the registry's fields."""
    import tomllib

    folder = tmp_path / "ComfyUI" / "custom_nodes"
    folder.mkdir(parents=True)
    (folder / "tastemaker").symlink_to(REPOSITORY, target_is_directory=True)
    pack = load_custom_node(folder / "tastemaker")
    assert set(pack.NODE_CLASS_MAPPINGS) == set(pack.NODE_DISPLAY_NAME_MAPPINGS) == NODES
    requirements = (REPOSITORY / "requirements.txt").read_text().splitlines()
    assert [r for r in requirements if r and not r.startswith("#")] == ["."]
    meta = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())
    assert {"PublisherId", "DisplayName", "Icon"} <= set(meta["tool"]["comfy"])
    assert meta["project"]["name"] == "tastemaker" and meta["project"]["version"].count(".") == 2


def test_files_of_mixed_sizes_score_as_the_cli_scores_them(node, tiny_model, tmp_path):
    """An IMAGE batch rescales images to one size; the file node scores each at its own."""
    from typer.testing import CliRunner

    from tastemaker.cli import app

    folder = tmp_path / "mixed"
    for i, size in enumerate([(64, 48), (80, 40), (50, 70)]):
        noise_image(folder / f"n{i}.png", size)
    runner = CliRunner()
    result = runner.invoke(app, ["score", str(tiny_model), str(folder), "--format", "json"])
    cli = {Path(r["path"]).name: r["score"] for r in json.loads(result.stdout)}
    model = tastemaker.load_model(tiny_model)
    scores, text, paths = node("TastemakerScoreImageFiles").score_files(model, str(folder))
    assert dict(zip([Path(p).name for p in paths], scores, strict=True)) == cli
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 3
    assert text.splitlines()[0] == f"{scores[0]:+.3f} {paths[0]}"
    with pytest.raises(TastemakerError, match="no such file or folder"):
        node("TastemakerScoreImageFiles").score_files(model, str(tmp_path / "gone"))


def test_a_file_that_cannot_be_read_is_skipped_and_said(node, tiny_model, tmp_path, caplog):
    """As the CLI does: the others are scored, and the text and the console name it."""
    folder = tmp_path / "some"
    noise_image(folder / "fine.png", (64, 48))
    (folder / "broken.png").write_bytes(b"not a png")
    model = tastemaker.load_model(tiny_model)
    with caplog.at_level("WARNING"):
        scores, text, paths = node("TastemakerScoreImageFiles").score_files(model, str(folder))
    assert [Path(p).name for p in paths] == ["fine.png"] and len(scores) == 1
    last = text.splitlines()[-1]
    assert last.startswith(f"skipped {folder / 'broken.png'}: cannot be read as an image")
    assert f"skipped {folder / 'broken.png'}" in caplog.text


def test_save_to_library_gives_starting_scores_under_the_profile(node, tiny_model, batch, output):
    model = tastemaker.load_model(tiny_model)
    node("TastemakerSaveToLibrary").save(model, batch[:2], "library", "", "gen", profile="bob")
    with open_library(output / "library", profile="bob") as bob:
        assert {r.prior_source for r in bob.store.ratings()} == {"model:tiny.safetensors"}
    with open_library(output / "library") as default:
        assert {r.prior_source for r in default.store.ratings()} == {None}
    with pytest.raises(TastemakerError, match="profile 'Bob': a profile's name is"):
        node("TastemakerSaveToLibrary").save(model, batch[:1], "library", profile="Bob")
    assert len(list((output / "library").glob("*.png"))) == 2  # refused before writing
