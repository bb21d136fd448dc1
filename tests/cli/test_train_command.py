"""``train`` from the command line: the samplers it offers, the checks it makes before
any long work, what it shows while it works, and Ctrl-C during a search."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from conftest import make_images
from rated import rate
from typer.testing import CliRunner

from tastemaker.cli import app
from tastemaker.model import read_model
from tastemaker.storage.library import open_library
from tastemaker.training.search import SAMPLERS

runner = CliRunner()
OFFLINE = ["--extractor", "efficientnet-lite0"]


def one_line(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def rated_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 images and 120 choices among them."""
    folder = tmp_path_factory.mktemp("train") / "lib"
    make_images(folder, 40)
    with open_library(folder) as library:
        library.scan()
        rate(library, 120, 40).close()
    return folder


def test_every_advertised_sampler_runs_a_search(rated_folder):
    """Each sampler ``--help`` names works as installed: none needs a package that
    tastemaker does not bring."""
    help_text = one_line(runner.invoke(app, ["train", "--help"]))
    assert "tpe, cmaes or random" in help_text
    for done, sampler in enumerate(SAMPLERS, start=1):
        args = ["train", str(rated_folder), *OFFLINE, "--learner", "mlp", "--trials", "2"]
        result = runner.invoke(app, [*args, "--sampler", sampler])
        assert result.exit_code == 0, (sampler, result.output)
        assert f"Search history ({2 * done} trials)" in one_line(result)  # the same study


def _embedded(folder: Path) -> int:
    """How many of the library's images have an efficientnet-lite0 embedding cached."""
    with open_library(folder) as library:
        hashes = [im.hash for im in library.store.images()]
        return len(library.store.embeddings("efficientnet-lite0", "0", hashes))


def _rated(folder: Path, images: int, choices: int) -> Path:
    make_images(folder, images)
    with open_library(folder) as library:
        library.scan()
        rate(library, choices, choices).close()
    return folder


def test_layers_the_extractor_lacks_are_refused_before_the_scan(tmp_path):
    """The registry knows the bundled backbone's layers and their sizes: the command
    stops before scanning the folder, let alone loading the backbone."""
    folder = _rated(tmp_path / "lib", 4, 2)
    make_images(folder, 3, prefix="new")  # the scan would add these
    for layers, message in (
        (["--layers", "0,9"], "efficientnet-lite0 offers --layers 0 to 8, not 9"),
        (
            ["--layers", "0,2", "--layer-mode", "average"],
            "efficientnet-lite0: layers (0, 2) have different sizes (1280, 192); "
            "use --layer-mode join",
        ),
    ):
        result = runner.invoke(app, ["train", str(folder), *OFFLINE, *layers])
        assert result.exit_code == 1 and result.output == f"Error: {message}\n"
    with open_library(folder) as library:
        assert len(library.store.images()) == 4  # not scanned


def test_a_models_folder_that_is_a_file_is_refused_before_the_scan(tmp_path):
    folder = _rated(tmp_path / "lib", 4, 2)
    models = folder / ".tastemaker" / "models"
    models.write_text("not a folder")
    make_images(folder, 3, prefix="new")
    result = runner.invoke(app, ["train", str(folder), *OFFLINE])
    assert result.exit_code == 1
    assert one_line(result) == (
        f"Error: {models}: a file where the library keeps its models; move it away, "
        "or save the model elsewhere"
    )
    with open_library(folder) as library:
        assert len(library.store.images()) == 4
    other = tmp_path / "model.safetensors"
    result = runner.invoke(app, ["train", str(folder), *OFFLINE, "-o", str(other)])
    assert result.exit_code == 0, result.output
    assert other.is_file()


def test_too_few_choices_are_refused_before_anything_is_embedded(tmp_path):
    """Each learner's needs are checked on the present images and their choices before
    the first image is embedded, in one line."""
    few = _rated(tmp_path / "few", 10, 1)  # two images rated: the kernel needs three
    result = runner.invoke(app, ["train", str(few), *OFFLINE])
    assert result.exit_code == 1
    assert one_line(result) == (
        "Error: Only 2 of the training images have been in a choice with another: "
        "rate more before training."
    )
    assert _embedded(few) == 0

    # a search needs held-out images: a share this small holds out none of these
    search = ["--learner", "mlp", "--trials", "2", "--heldout", "0.05"]
    result = runner.invoke(app, ["train", str(few), *OFFLINE, *search])
    assert result.exit_code == 1
    assert one_line(result) == "Error: A search needs held-out images to compare trials on."
    assert _embedded(few) == 0

    # every choice was between images since deleted: nothing left to learn from
    gone = _rated(tmp_path / "gone", 10, 2)
    with open_library(gone) as library:
        for c in library.store.comparisons():
            for image in library.store.images():
                if image.id in c.shown:
                    (gone / image.path).unlink(missing_ok=True)
    result = runner.invoke(app, ["train", str(gone), *OFFLINE])
    assert result.exit_code == 1
    assert "no choices to learn from yet; rate first" in one_line(result)
    assert _embedded(gone) == 0


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def in_terminal(args: list[str], interrupt_at: str | None = None) -> tuple[int, str]:
    """Run ``tastemaker ARGS`` in a pseudo-terminal, as a person does (progress bars are
    drawn only there), and return its exit code and all it showed, without the terminal
    codes. With ``interrupt_at``, send it SIGINT (Ctrl-C) as soon as that text shows."""
    master, child = pty.openpty()
    env = {**os.environ, "COLUMNS": "300", "HF_HUB_OFFLINE": "1", "TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tastemaker", *args],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
    )
    os.close(child)
    shown, sent = b"", False
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the process has closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            if interrupt_at and not sent and interrupt_at in ANSI.sub("", shown.decode()):
                process.send_signal(signal.SIGINT)
                sent = True
        code = process.wait(timeout=300)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    assert sent or not interrupt_at, f"{interrupt_at!r} never showed"
    return code, ANSI.sub("", shown.decode())


def test_train_says_what_it_is_doing_from_the_start(tmp_path):
    """A status line from the first moment (the slow imports, the scan, the backbone's
    loading), then the bars; the summary says how many embeddings came from the cache."""
    folder = _rated(tmp_path / "lib", 40, 100)
    code, shown = in_terminal(["train", str(folder), *OFFLINE])
    assert code == 0, shown
    assert shown.lstrip().startswith("Loading PyTorch")
    steps = [
        "Loading PyTorch",
        f"Scanning {folder.resolve()}",
        "Loading efficientnet-lite0",
        "Embedding with efficientnet-lite0",
        "Preparing the training data",
        "training",
        "Embeddings: 40 images (40 extracted)\n",
    ]
    at = [shown.find(step) for step in steps]
    assert -1 not in at and at == sorted(at), dict(zip(steps, at, strict=True))

    make_images(folder, 5, prefix="new")
    result = runner.invoke(app, ["train", str(folder), *OFFLINE])
    assert "Embeddings: 45 images (5 extracted, 40 from cache)\n" in result.output
    result = runner.invoke(app, ["train", str(folder), *OFFLINE])
    assert "Embeddings: 45 images (45 from cache)\n" in result.output


def test_ctrl_c_during_a_search_saves_the_best_model_so_far(tmp_path):
    folder = _rated(tmp_path / "lib", 40, 100)
    search = ["--learner", "mlp", "--trials", "1000"]
    code, shown = in_terminal(["train", str(folder), *OFFLINE, *search], "(trial 0)")
    assert code == 0, shown
    # the bar and the summary give the held-out figure in one form, a percentage
    assert re.search(r"search: best held-out choice agreement \d+\.\d% \(trial 0\)", shown)
    said = re.search(
        r"Search interrupted: of its (\d+) trials so far, trial (\d+) is the best; the model "
        r"saved has its settings, refitted on every rated image\.\nModel saved: (.+)\n",
        shown,
    )
    assert said, shown
    trials, best, path = int(said[1]), int(said[2]), Path(said[3])
    study = optuna.load_study(
        study_name=None, storage=f"sqlite:///{folder / '.tastemaker' / 'optuna.db'}"
    )
    assert len(study.trials) == trials and study.best_trial.number == best
    model = read_model(path)  # a normal model file, registered in the library
    assert model.meta.loss == "ranking" and model.meta.metrics["refit_images"] == 40
    with open_library(folder) as library:
        assert [m.path for m in library.store.models()] == [str(path)]


def test_ctrl_c_before_any_trial_says_how_the_next_train_goes_on(tmp_path):
    folder = _rated(tmp_path / "lib", 40, 100)
    args = ["train", str(folder), *OFFLINE, "--learner", "mlp", "--trials"]
    code, shown = in_terminal([*args, "1000"], "Loading efficientnet-lite0")
    assert code == 130, shown
    assert shown.rstrip().splitlines()[-1] == (
        "Interrupted. Nothing was saved. The same `tastemaker train` goes on from here: the "
        "images embedded so far stay cached, and the search goes on from the trials kept in "
        f"sqlite:///{folder.resolve() / '.tastemaker' / 'optuna.db'} (those with the same "
        "extractor, layers, loss and ratings)."
    )
    with open_library(folder) as library:
        assert library.store.models() == []
    again = runner.invoke(app, [*args, "2"])
    assert again.exit_code == 0, again.output
    assert "Search history (2 trials)" in one_line(again)
