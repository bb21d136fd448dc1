import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from conftest import make_images, noise_image
from rated import rate
from typer.testing import CliRunner

from tastemaker.cli import app
from tastemaker.storage.library import open_library
from tastemaker.workflows.rate import RateSession, RateSettings

runner = CliRunner()
COMMANDS = sorted(typer.main.get_command(app).commands)  # as the app registers them


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = runner.invoke(app, [command, "--help"], prog_name="tastemaker")
    assert result.exit_code == 0
    assert "Usage: tastemaker " + command in " ".join(result.output.split())


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_reads_like_a_cli(command):
    """No Python type beside a flag or an argument, arguments named in capitals."""
    result = runner.invoke(app, [*command, "--help"], prog_name="tastemaker")
    assert result.exit_code == 0
    for typed in ("<bool>", "<list[", "{", "}"):
        assert typed not in result.output
    usage = next(line for line in result.output.splitlines() if "Usage:" in line).split()
    arguments = usage[usage.index("[OPTIONS]") + 1 :]
    assert all(a.strip("[].").isupper() for a in arguments)


def test_help_wording_of_the_usage_line():
    usage = runner.invoke(app, ["score", "--help"], prog_name="tastemaker").output
    assert "Usage: tastemaker score [OPTIONS] MODEL PATHS..." in usage
    usage = runner.invoke(app, ["demo", "--help"], prog_name="tastemaker").output
    assert "Usage: tastemaker demo [OPTIONS] [FOLDER]" in usage
    usage = runner.invoke(app, ["score"], prog_name="tastemaker").output
    assert "Missing argument 'MODEL'." in usage


def test_a_command_docstring_is_reflowed_in_its_help():
    text = " ".join(runner.invoke(app, ["rate", "--help"], prog_name="tastemaker").output.split())
    assert "Every choice is saved before the next set appears." in text.replace("│", "")


def test_output_to_a_pipe_is_not_wrapped(tmp_path):
    folder = tmp_path / ("a-long-folder-name-" * 4) / "photos"
    folder.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-m", "tastemaker", "models", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    expected = f"no tastemaker library here yet; start one with: tastemaker scan {folder}\n"
    assert done.stderr == f"Error: {folder}: {expected}"
    done = subprocess.run(
        [sys.executable, "-m", "tastemaker", "extractors"], capture_output=True, text=True
    )
    clip = next(line for line in done.stdout.splitlines() if "clip-vit-large" in line)
    assert "CLIP ViT-L/14 (OpenAI): the classic scorer's and the LAION predictor's" in clip


@pytest.mark.parametrize("pairing", ["classic", "seed"])
def test_rate_takes_the_classic_pairing_also_by_its_old_name(tmp_path, pairing):
    # settings are checked in order: an accepted --pairing lets --choices be the complaint
    result = runner.invoke(app, ["rate", str(tmp_path), "--pairing", pairing, "--choices", "9"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: --choices must be 2, 3 or 4, not 9"
    help_text = runner.invoke(app, ["rate", "--help"]).output
    assert "classic:" in help_text and "seed:" not in help_text


def test_every_command_is_in_the_readme():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "rate" in COMMANDS  # the list is read from the app
    for command in COMMANDS:
        assert f"tastemaker {command}" in readme


def test_stats_json_has_the_documented_keys(tmp_path):
    make_images(tmp_path / "lib", 5)
    runner.invoke(app, ["scan", str(tmp_path / "lib")])
    result = runner.invoke(app, ["stats", str(tmp_path / "lib"), "--json"])
    assert result.exit_code == 0
    stats = json.loads(result.stdout)
    assert stats["images"] == 5 and stats["never_shown"] == 5 and stats["choices"] == 0
    assert stats["appearances"] == stats["pairwise_outcomes"] == 0
    for key in (
        "choices_per_image",
        "appearances_per_image",
        "matched",
        "contradicted",
        "unpredicted",
        "agreement",
    ):
        assert key in stats


def test_stats_text_names_unreadable_files(tmp_path):
    make_images(tmp_path / "lib", 3)
    (tmp_path / "lib" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    with open_library(tmp_path / "lib"):
        pass  # a library, not scanned yet: stats finds the broken file
    result = runner.invoke(app, ["stats", str(tmp_path / "lib")])
    assert result.exit_code == 0
    assert "Skipped broken.jpg: cannot be read as an image" in " ".join(result.output.split())
    assert "Images: 3 (3 never shown, 1 unreadable)" in result.output


def test_stats_names_each_count_as_the_export_counts_it(tmp_path):
    """Sets of three: 6 choices show 18 images and imply 12 (winner, loser) pairs, the
    rows `export --comparisons` writes."""
    make_images(tmp_path / "lib", 6)
    with open_library(tmp_path / "lib") as library:
        library.scan()
        session = RateSession(library, RateSettings(choices=3, repeats=0), seed=0)
        for _ in range(6):
            shown = session.next_set()
            session.choose(shown.token, shown.images[0].id, 500)
    result = runner.invoke(app, ["stats", str(tmp_path / "lib")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:4] == [
        "Images: 6 (0 never shown)",
        "Choices: 6 (1.00 per image)",
        "Appearances (images shown): 18 (3.00 per image)",
        "Pairwise outcomes (winner, loser): 12",
    ]
    out = tmp_path / "choices.csv"
    command = ["export", str(tmp_path / "lib"), "--comparisons", "-o", str(out)]
    exported = runner.invoke(app, command)
    assert exported.exit_code == 0
    assert f"Wrote 12 pairwise outcomes to {out}" in " ".join(exported.output.split())
    assert len(out.read_text().splitlines()) == 1 + 12  # the header, one row each


def test_a_bad_folder_is_one_line_and_exit_code_1(tmp_path):
    result = runner.invoke(app, ["stats", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {tmp_path / 'nope'}: not a folder (give the folder that holds your images)"
    )
    assert "Traceback" not in result.output


def test_a_bad_import_file_is_one_line_and_changes_nothing(tmp_path):
    make_images(tmp_path / "lib", 3)
    bad = tmp_path / "score.json"
    bad.write_text("{not json")
    result = runner.invoke(app, ["import", str(tmp_path / "lib"), str(bad)])
    assert result.exit_code == 1
    assert result.output.strip().startswith(f"Error: {bad}: not valid JSON")
    from tastemaker.storage.library import open_library

    with open_library(tmp_path / "lib") as lib:
        assert {r.prior_source for r in lib.store.ratings()} == {None}


def test_export_and_import_round_trip_through_the_cli(tmp_path):
    make_images(tmp_path / "lib", 4)
    runner.invoke(app, ["scan", str(tmp_path / "lib")])
    out = tmp_path / "scores.csv"
    assert runner.invoke(app, ["export", str(tmp_path / "lib"), "-o", str(out)]).exit_code == 0
    assert out.read_text().splitlines()[0].startswith("relative_path,score,comparisons")
    result = runner.invoke(app, ["import", str(tmp_path / "lib"), str(out)])
    assert result.exit_code == 0 and "Imported 4 scores" in result.output


def test_demo_generates_a_library(tmp_path):
    result = runner.invoke(
        app, ["demo", str(tmp_path / "demo"), "--count", "12", "--generate-only"]
    )
    assert result.exit_code == 0
    assert len(list((tmp_path / "demo").rglob("demo_*.*"))) == 12


def test_a_taken_port_given_explicitly_is_a_clear_error(tmp_path):
    import socket

    make_images(tmp_path / "lib", 3)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(
            app, ["rate", str(tmp_path / "lib"), "--no-browser", "--port", str(port)]
        )
    assert result.exit_code == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in result.output
    assert "choose another --port" in " ".join(result.output.split())


def one_line(result) -> str:
    return " ".join(result.output.split())


def test_training_errors_are_one_clear_line(tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(
        app, ["train", str(tmp_path / "empty"), "--extractor", "efficientnet-lite0"]
    )
    assert result.exit_code == 1
    assert "no readable images in the library" in one_line(result)
    make_images(tmp_path / "lib", 4)
    result = runner.invoke(
        app, ["train", str(tmp_path / "lib"), "--extractor", "efficientnet-lite0"]
    )
    assert result.exit_code == 1
    assert "no choices to learn from yet; rate first" in one_line(result)
    result = runner.invoke(app, ["train", str(tmp_path / "lib"), "--extractor", "no such"])
    assert result.exit_code == 1 and "Unknown extractor 'no such'" in one_line(result)
    result = runner.invoke(
        app, ["train", str(tmp_path / "lib"), "--learner", "mlp", "--loss", "hinge"]
    )
    assert result.exit_code == 1 and "--loss is one of ranking, mse, choices" in one_line(result)
    result = runner.invoke(app, ["prior", str(tmp_path / "lib")])
    assert result.exit_code == 1 and "no trained model yet" in one_line(result)
    assert "Traceback" not in result.output


def test_scoring_errors_are_one_clear_line(tmp_path, tiny_model):
    make_images(tmp_path / "imgs", 2)
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(b"not a model")
    result = runner.invoke(app, ["score", str(fake), str(tmp_path / "imgs")])
    assert result.exit_code == 1 and str(fake) in one_line(result)
    result = runner.invoke(app, ["score", str(tiny_model), str(tmp_path / "nothing")])
    assert result.exit_code == 1 and "no such file or folder" in one_line(result)
    (tmp_path / "imgs" / "bad.png").write_bytes(b"broken")
    result = runner.invoke(app, ["score", str(tiny_model), str(tmp_path / "imgs"), "--json"])
    assert result.exit_code == 0
    assert "Skipped" in result.output and "bad.png" in result.output


def test_score_keeps_the_best_and_copies_without_touching_originals(tmp_path, tiny_model):
    originals = make_images(tmp_path / "imgs", 6)
    before = {p: p.read_bytes() for p in originals}
    out = tmp_path / "scores.csv"
    result = runner.invoke(
        app,
        [
            "score",
            str(tiny_model),
            str(tmp_path / "imgs"),
            "--top",
            "3",
            "-o",
            str(out),
            "--copy-to",
            str(tmp_path / "best"),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "path,score,uncertainty" and len(lines) == 4
    scores = [float(line.split(",")[1]) for line in lines[1:]]
    assert scores == sorted(scores, reverse=True)
    assert all(line.endswith(",") for line in lines[1:])  # an MLP gives no uncertainty
    copied = sorted((tmp_path / "best").iterdir())
    assert [p.name[:5] for p in copied] == ["0001_", "0002_", "0003_"]
    assert {p: p.read_bytes() for p in originals} == before
    again = runner.invoke(
        app,
        [
            "score",
            str(tiny_model),
            str(tmp_path / "imgs"),
            "--top",
            "3",
            "--copy-to",
            str(tmp_path / "best"),
        ],
    )
    assert again.exit_code == 1 and "already exists" in one_line(again)


def test_prob_vs_gives_calibrated_preferences(tmp_path, tiny_model):
    import dataclasses

    from tastemaker.model import load_model_file

    model = load_model_file(tiny_model)
    model.meta = dataclasses.replace(model.meta, calibration=2.0)
    calibrated = model.save(tmp_path / "calibrated.safetensors")
    images = make_images(tmp_path / "imgs", 4)
    result = runner.invoke(
        app,
        ["score", str(calibrated), str(tmp_path / "imgs"), "--json", "--prob-vs", str(images[0])],
    )
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    reference = next(r for r in records if r["path"].endswith("img000.png"))
    assert reference["prob_prefer"] == pytest.approx(0.5, abs=1e-4)
    for r in records:
        expected = 1 / (1 + np.exp(-2.0 * (r["score"] - reference["score"])))
        assert r["prob_prefer"] == pytest.approx(expected, abs=1e-4)
    plain = runner.invoke(
        app, ["score", str(tiny_model), str(images[1]), "--prob-vs", str(images[0])]
    )
    assert plain.exit_code == 1 and "needs a calibrated model" in one_line(plain)


def test_a_kernel_models_scores_come_with_their_uncertainty(
    tmp_path, tiny_kernel_model, tiny_taste
):
    """Sure of an image it learnt from, unsure of one unlike any; the uncertainty comes
    after the older keys and columns, so their readers keep working."""
    seen = tmp_path / "imgs" / "seen.png"
    seen.parent.mkdir()
    shutil.copy(tiny_taste.paths[0], seen)
    noise_image(tmp_path / "imgs" / "noise.png")
    args = ["score", str(tiny_kernel_model), str(tmp_path / "imgs")]
    result = runner.invoke(app, [*args, "--json", "--prob-vs", str(seen)])
    assert result.exit_code == 0, result.output
    records = {Path(r["path"]).name: r for r in json.loads(result.stdout)}
    assert [list(r) for r in records.values()] == [
        ["path", "score", "prob_prefer", "uncertainty"]
    ] * 2
    assert 0 < records["seen.png"]["uncertainty"] < records["noise.png"]["uncertainty"]

    out = tmp_path / "scores.csv"
    assert runner.invoke(app, [*args, "-o", str(out)]).exit_code == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "score", "uncertainty"]
    for row in rows:
        expected = records[Path(row["path"]).name]["uncertainty"]
        assert float(row["uncertainty"]) == pytest.approx(expected, rel=1e-6)

    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    header, *lines = [line.split() for line in table.output.splitlines() if line.strip()]
    assert header == ["score", "±", "path"]
    assert sorted(line[1] for line in lines) == sorted(
        f"{r['uncertainty']:.2f}" for r in records.values()
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rate", "--k", "inf"], "--k must be a finite number above 0"),
        (["rate", "--k", "nan"], "--k must be a finite number above 0"),
        (["rate", "--k", "-1"], "--k must be a finite number above 0"),
        (["rate", "--typical-seconds", "nan"], "--typical-seconds must be a finite number"),
        (["rate", "--typical-seconds", "-1"], "--typical-seconds must be a finite number above 0"),
        (["rate", "--lcw", "nan"], "--lcw must be a finite number at least 0 and below 1"),
        (["rate", "--controversy", "inf"], "--controversy must be a finite number at least 0"),
        (["rate", "--repeats", "nan"], "--repeats must be a finite number at least 0"),
        (["rate", "--batch", "0"], "--batch must be at least 1"),
        (["rate", "--seed", "-1"], "--seed must be 0 or more"),
        (["recompute", "--typical-seconds", "nan"], "--typical-seconds must be a finite number"),
        (["train", "--seed", "-1"], "--seed must be from 0 to"),
        (["train", "--heldout", "nan"], "--heldout is a share from 0.05 to 0.5"),
        (["train", "--sampler", "foo"], "--sampler is one of tpe, cmaes, random, not 'foo'"),
    ],
)
def test_a_number_out_of_range_is_one_line_naming_the_option(tmp_path, args, message):
    # one image: were the option let through, the command would fail later on for that
    make_images(tmp_path / "lib", 1)
    command, *options = args
    extra = ["--no-browser"] if command == "rate" else []
    result = runner.invoke(app, [command, str(tmp_path / "lib"), *extra, *options])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    *_, last = result.output.splitlines()
    assert last.startswith("Error: ") and message in last
    assert "Traceback" not in result.output


def test_values_out_of_range_are_one_line_errors(tmp_path, tiny_model, monkeypatch):
    make_images(tmp_path / "lib", 3)
    monkeypatch.chdir(tmp_path)  # an empty folder name must not mean this one
    cases = {
        ("scan", ""): "No folder given",
        ("rate", "lib", "--no-browser", "--port", "70000"): "--port 70000",
        ("demo", "new", "--count", "-5", "--generate-only"): "--count -5",
        ("score", str(tiny_model), "lib", "--top", "-1"): "--top -1",
        ("score", str(tiny_model), "lib", "--min", "nan"): "--min must be a finite number",
    }
    for args, message in cases.items():
        result = runner.invoke(app, list(args))
        assert result.exit_code == 1, (args, result.output)
        assert one_line(result).startswith(f"Error: {message}"), (args, result.output)
    assert not (tmp_path / ".tastemaker").exists() and not (tmp_path / "new").exists()


def test_score_with_no_readable_image_fails(tmp_path, tiny_model):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "bad.png").write_bytes(b"broken")
    result = runner.invoke(app, ["score", str(tiny_model), str(tmp_path / "imgs")])
    assert result.exit_code == 1
    assert "Skipped" in result.output and "bad.png" in result.output
    assert "None of the 1 images could be read" in one_line(result)


def test_an_extractor_that_cannot_be_downloaded_fails_at_once(tmp_path):
    """Offline, or a name the hub does not know: one line naming the three ways on, not a
    minute of retries. The hub's address is a closed local port, so nothing leaves."""
    make_images(tmp_path / "lib", 4)
    with open_library(tmp_path / "lib") as library:
        library.scan()
        rate(library, 4, 2).close()
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": "http://127.0.0.1:9"}
    unknown = ["--extractor", "someone/no-such-model"]
    for offline in ("1", ""):
        env["HF_HUB_OFFLINE"] = offline
        done = subprocess.run(
            [sys.executable, "-m", "tastemaker", "train", str(tmp_path / "lib"), *unknown],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Retry" not in done.stderr, done.stderr
        assert "--extractor efficientnet-lite0" in lines[0]
        assert "hf download someone/no-such-model" in lines[0]
        assert "--extractor /path/to/folder" in lines[0]


def test_a_bad_pixel_limit_setting_is_one_line(tmp_path, tiny_model, monkeypatch):
    make_images(tmp_path / "imgs", 2)
    monkeypatch.setenv("TASTEMAKER_MAX_PIXELS", "lots")
    for args in (
        ["scan", str(tmp_path / "imgs")],
        ["score", str(tiny_model), str(tmp_path / "imgs")],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert one_line(result) == (
            "Error: TASTEMAKER_MAX_PIXELS='lots': give a whole number of pixels, e.g. 400000000"
        )


def test_a_setting_is_named_by_its_flag(tmp_path):
    """The library names the setting to change; the CLI says it as the flag that sets it."""
    make_images(tmp_path / "lib", 2)
    (tmp_path / "lib" / ".tastemaker").write_text("a file where the store would go")
    result = runner.invoke(app, ["scan", str(tmp_path / "lib")])
    assert result.exit_code == 1
    assert "keep the store elsewhere with --store DIR" in one_line(result)
    result = runner.invoke(app, ["train", str(tmp_path / "lib"), "--layer-mode", "sum"])
    assert result.exit_code == 1
    assert one_line(result) == "Error: --layer-mode is join or average, not 'sum'"


def test_a_layer_the_extractor_lacks_is_one_line_naming_the_range(tmp_path):
    make_images(tmp_path / "lib", 4)
    with open_library(tmp_path / "lib") as library:
        library.scan()
        rate(library, 4, 2).close()
    result = runner.invoke(
        app,
        ["train", str(tmp_path / "lib"), "--extractor", "efficientnet-lite0", "--layers", "0,9"],
    )
    assert result.exit_code == 1
    assert result.output == "Error: efficientnet-lite0 offers --layers 0 to 8, not 9\n"


def test_train_settings_are_refused_before_anything_is_embedded(tmp_path, monkeypatch):
    """A bad sampler, learner or loss, or nothing rated yet: refused before the extractor
    is loaded, let alone the library embedded."""
    from tastemaker.workflows import embeddings

    def loaded(*args, **kwargs):
        raise AssertionError("the extractor was loaded")

    monkeypatch.setattr(embeddings, "load_extractor", loaded)
    make_images(tmp_path / "lib", 4)
    extractor = ["--extractor", "efficientnet-lite0"]
    unrated = runner.invoke(app, ["train", str(tmp_path / "lib"), *extractor])
    with open_library(tmp_path / "lib") as library:
        rate(library, 4, 2).close()
    for args, message in (
        (["--sampler", "bogus"], "--sampler is one of tpe, cmaes, random, not 'bogus'"),
        (["--learner", "tree"], "--learner is one of kernel, mlp, not 'tree'"),
        (
            ["--loss", "choices"],
            "--loss is the MLP's (the kernel model chooses its own "
            "settings by leave-one-out): add --learner mlp",
        ),
        (
            ["--trials", "5"],
            "--trials is the MLP's (the kernel model chooses its own "
            "settings by leave-one-out): add --learner mlp",
        ),
        (["--learner", "mlp", "--trials", "-1"], "--trials must be 0 or more, not -1"),
    ):
        result = runner.invoke(app, ["train", str(tmp_path / "lib"), *extractor, *args])
        assert result.exit_code == 1 and one_line(result) == f"Error: {message}"
    assert unrated.exit_code == 1
    assert "no choices to learn from yet; rate first" in one_line(unrated)
    with open_library(tmp_path / "lib") as library:
        hashes = [im.hash for im in library.store.images()]
        assert library.store.embeddings("efficientnet-lite0", "0", hashes) == {}


def test_rate_and_train_options_default_to_their_settings():
    """The defaults are declared once, in the settings dataclasses; each setting's flag
    is the one errors name."""
    import dataclasses

    import typer

    from tastemaker.cli.main import flag
    from tastemaker.features.layers import LayerChoice
    from tastemaker.workflows.rate import RateSettings
    from tastemaker.workflows.train import TrainSettings

    commands = typer.main.get_command(app).commands
    for name, settings, hidden in (
        ("rate", RateSettings(), {"repeat_after"}),
        ("train", TrainSettings(), set()),
    ):
        options = {p.name: p for p in commands[name].params}
        for field in dataclasses.fields(settings):
            if field.name not in hidden:
                assert options[field.name].default == getattr(settings, field.name), field
                assert flag(field.name) in options[field.name].opts
    train = {p.name: p.default for p in commands["train"].params}
    assert train["layer_mode"] == LayerChoice.mode


def test_the_cli_starts_without_torch():
    """Reading the settings' defaults must not import the training stack."""
    code = "import sys, tastemaker.cli; print(sorted({'torch', 'optuna'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr
