"""The local engine's Parquet output: the same scores as ``score`` prints, read back with
pyarrow; a rerun resumes, another job's folder is refused; ``embed``."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import make_images
from PIL import Image
from typer.testing import CliRunner

from tastemaker.cli import app
from tastemaker.features.extract import extract
from tastemaker.features.layers import LayerChoice
from tastemaker.features.loaders import load_extractor

runner = CliRunner()


def one_line(result) -> str:
    return " ".join(result.output.split())


def read_rows(folder: Path) -> dict[str, dict]:
    """Every row of a Parquet output folder by path; fails on a path written twice."""
    rows = pq.read_table(folder).to_pylist()  # the shards together, as a reader sees them
    paths = [r["path"] for r in rows]
    assert len(paths) == len(set(paths)), "a path written twice"
    return {r.pop("path"): r for r in rows}


def printed_scores(model: Path, folder: Path) -> dict[str, tuple[float, float | None]]:
    """What ``score MODEL FOLDER --format json`` gives, by absolute path."""
    done = runner.invoke(app, ["score", str(model), str(folder), "--format", "json"])
    assert done.exit_code == 0, done.output
    records = json.loads(done.stdout[done.stdout.index("[") :])
    return {str(Path(r["path"]).absolute()): (r["score"], r["uncertainty"]) for r in records}


def score(*args: object):
    return runner.invoke(app, ["score", *map(str, args)])


def test_parquet_output_holds_the_scores_score_prints(tmp_path, tiny_kernel_model):
    make_images(tmp_path / "images", 12)
    out = tmp_path / "scores.parquet"
    done = score(tiny_kernel_model, tmp_path / "images", "-o", out)
    assert done.exit_code == 0, done.output
    assert f"Wrote 12 scores to {out}" in one_line(done)
    (shard,) = out.glob("part-*.parquet")
    assert pq.read_schema(shard).names == ["path", "score", "uncertainty"]
    rows = read_rows(out)
    expected = printed_scores(tiny_kernel_model, tmp_path / "images")
    assert rows.keys() == expected.keys()
    for path, (value, spread) in expected.items():
        assert rows[path]["score"] == pytest.approx(value, abs=1e-6)
        assert rows[path]["uncertainty"] == pytest.approx(spread, abs=1e-6)
    manifest = json.loads((out / "_tastemaker.json").read_text())
    assert manifest["kind"] == "scores" and manifest["model"] == tiny_kernel_model.name


def test_a_model_without_uncertainty_writes_no_such_column(tmp_path, tiny_model):
    make_images(tmp_path / "images", 3)
    out = tmp_path / "out"
    done = score(tiny_model, tmp_path / "images", "-o", out, "--format", "parquet")
    assert done.exit_code == 0, done.output
    assert pq.read_table(out).column_names == ["path", "score"]


def test_a_rerun_skips_what_is_there_and_writes_each_image_once(tmp_path, tiny_model):
    paths = make_images(tmp_path / "images", 10)
    out = tmp_path / "scores.parquet"
    first = score(tiny_model, *paths[:4], "-o", out, "--shard-size", 2)
    assert first.exit_code == 0, first.output
    assert len(list(out.glob("part-*.parquet"))) == 2
    (out / ".part-left-by-a-stopped-run.parquet.tmp").write_bytes(b"PAR1 half a shard")
    again = score(tiny_model, tmp_path / "images", "-o", out, "--shard-size", 2)
    assert f"Wrote 6 scores to {out} (4 there already)" in one_line(again)
    assert sorted(read_rows(out)) == sorted(str(p.absolute()) for p in paths)
    assert not list(out.glob(".*.tmp"))
    nothing = score(tiny_model, tmp_path / "images", "-o", out)
    assert f"Wrote 0 scores to {out} (10 there already)" in one_line(nothing)


def test_a_folder_of_another_models_scores_is_refused(tmp_path, tiny_model, tiny_kernel_model):
    paths = make_images(tmp_path / "images", 2)
    out = tmp_path / "scores.parquet"
    assert score(tiny_model, *paths, "-o", out).exit_code == 0
    before = read_rows(out)
    refused = score(tiny_kernel_model, *paths, "-o", out)
    assert refused.exit_code == 1
    digest = json.loads((out / "_tastemaker.json").read_text())["model_sha256"]
    assert one_line(refused).startswith(
        f"Error: {out}: holds scores of model tiny.safetensors (sha256 {digest[:12]}…), "
        "not scores of model tiny-kernel.safetensors"
    )
    assert "Traceback" not in refused.output
    assert read_rows(out) == before  # nothing mixed in


def test_a_folder_of_other_files_is_refused(tmp_path, tiny_model):
    paths = make_images(tmp_path / "images", 1)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    refused = score(tiny_model, *paths, "-o", tmp_path / "mine", "--format", "parquet")
    assert refused.exit_code == 1
    assert one_line(refused) == (
        f"Error: {tmp_path / 'mine'}: holds files that are not tastemaker's Parquet output; "
        "give a new or empty folder"
    )
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]


def test_an_unreadable_image_is_named_listed_apart_and_tried_again(tmp_path, tiny_model):
    paths = make_images(tmp_path / "images", 3)
    broken = tmp_path / "images" / "broken.png"
    broken.write_bytes(b"not a png")
    out = tmp_path / "s.parquet"
    done = score(tiny_model, tmp_path / "images", "-o", out)
    assert done.exit_code == 0, done.output
    assert "Skipped" in done.output and "broken.png" in done.output
    assert f"1 unreadable, listed in {out / '_failed.parquet'}" in one_line(done)
    assert sorted(read_rows(out)) == sorted(str(p) for p in paths)  # no row without a score
    failed = pq.read_table(out / "_failed.parquet").to_pylist()
    assert [r["path"] for r in failed] == [str(broken)]
    assert "cannot be read as an image" in failed[0]["problem"]
    # scoring a single other file leaves the list as it is: broken.png was not tried
    other = make_images(tmp_path / "more", 1)
    assert score(tiny_model, *other, "-o", out).exit_code == 0
    assert [r["path"] for r in pq.read_table(out / "_failed.parquet").to_pylist()] == [str(broken)]
    # mended, it is scored by the same command, and nothing is listed any more
    Image.new("RGB", (20, 16), (9, 99, 199)).save(broken)
    again = score(tiny_model, tmp_path / "images", "-o", out)
    assert again.exit_code == 0, again.output
    assert "Wrote 1 scores" in one_line(again) and "Skipped" not in again.output
    assert str(broken) in read_rows(out) and not (out / "_failed.parquet").exists()


def test_ranking_options_are_refused_with_parquet(tmp_path, tiny_model):
    paths = make_images(tmp_path / "images", 1)
    refused = score(tiny_model, *paths, "-o", tmp_path / "s.parquet", "--top", 3)
    assert one_line(refused) == (
        "Error: --top works on ranked scores; Parquet output keeps every score, unranked"
    )
    ray_to_csv = score(tiny_model, *paths, "-o", tmp_path / "s.csv", "--engine", "ray")
    assert one_line(ray_to_csv) == (
        "Error: --engine ray writes a Parquet folder: give -o OUT.parquet (or --format parquet)"
    )


def test_embed_writes_each_images_embedding_as_extraction_gives_it(tmp_path, tiny_clip):
    paths = make_images(tmp_path / "images", 5)
    out = tmp_path / "features.parquet"
    args = ["embed", str(tmp_path / "images"), "--extractor", str(tiny_clip), "-o", str(out)]
    done = runner.invoke(app, [*args, "--layers", "0,1"])
    assert done.exit_code == 0, done.output
    assert f"Wrote 5 embeddings to {out}" in one_line(done)
    table = pq.read_table(out)
    kind = table.schema.field("embedding").type
    assert pa.types.is_fixed_size_list(kind) and kind.list_size == 32  # 16 per layer, joined
    assert kind.value_type == pa.float32()
    rows = {r["path"]: r["embedding"] for r in table.to_pylist()}
    choice = LayerChoice((0, 1), "join")
    batches = extract(load_extractor(str(tiny_clip)), paths, choice, workers=0)
    expected = np.concatenate([b.vectors for b in batches])
    got = np.array([rows[str(p)] for p in paths], np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    other = runner.invoke(app, [*args, "--layers", "0"])
    assert other.exit_code == 1
    assert (
        f"{out}: holds embeddings by {tiny_clip} (layers 0,1, join), not embeddings by "
        f"{tiny_clip} (layers 0, join)"
    ) in one_line(other)


def test_a_killed_run_resumes_and_leaves_each_image_once(tmp_path, tiny_model):
    paths = make_images(tmp_path / "images", 300)
    out = tmp_path / "scores.parquet"
    args = [str(tiny_model), str(tmp_path / "images"), "-o", str(out), "--shard-size", "8"]
    run = subprocess.Popen([sys.executable, "-m", "tastemaker", "score", *args])
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("part-*.parquet")) and run.poll() is None:
            assert time.monotonic() < deadline, "no shard written in two minutes"
            time.sleep(0.01)
        run.kill()  # SIGKILL: no handler runs, as when a machine is lost
    finally:
        run.wait()
    assert run.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    kept = len(read_rows(out))
    assert 0 < kept < 300 and kept % 8 == 0  # whole shards only
    again = score(*args)
    assert f"Wrote {300 - kept} scores to {out} ({kept} there already)" in one_line(again)
    assert sorted(read_rows(out)) == sorted(str(p) for p in paths)
