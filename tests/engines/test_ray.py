"""The Ray Data engine on a Ray this test starts on loopback: the same rows as the local
engine, and a run that resumes another's folder."""

import dataclasses

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import make_images

from tastemaker.engines.batch import Job
from tastemaker.errors import TastemakerError
from tastemaker.features.layers import LayerChoice
from tastemaker.workflows.bulk import run_to_parquet

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    """Ray on this machine only (two CPUs, no dashboard), stopped after the tests."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def columns(folder, name):
    table = pq.read_table(folder)
    paths = table.column("path").to_pylist()
    assert len(paths) == len(set(paths)), "a path written twice"
    values = np.array(table.column(name).to_pylist(), np.float64)
    return dict(zip(paths, values, strict=True))


def test_ray_scores_equal_local_scores(tmp_path, tiny_kernel_model, local_ray):
    files = make_images(tmp_path / "images", 300, size=(40, 32))
    job = Job.scoring(tiny_kernel_model)
    local = run_to_parquet(job, files, tmp_path / "local.parquet")
    remote = run_to_parquet(job, files, tmp_path / "ray.parquet", engine="ray", shard_size=128)
    assert (local.written, remote.written) == (300, 300)
    for name in ("score", "uncertainty"):
        mine, theirs = (
            columns(tmp_path / "local.parquet", name),
            columns(tmp_path / "ray.parquet", name),
        )
        assert mine.keys() == theirs.keys() == {str(f) for f in files}
        diff = np.array([mine[p] - theirs[p] for p in mine])
        assert np.abs(diff).max() <= 1e-4


def test_ray_resumes_a_local_run_and_embeds_as_it_does(tmp_path, tiny_clip, local_ray):
    files = make_images(tmp_path / "images", 40)
    job = Job.embedding(str(tiny_clip), LayerChoice())
    run_to_parquet(job, files, tmp_path / "all.parquet")
    out = tmp_path / "resumed.parquet"
    run_to_parquet(job, files[:15], out)
    resumed = run_to_parquet(job, files, out, engine="ray", shard_size=10)
    assert (resumed.before, resumed.written) == (15, 25)
    expected = {
        r["path"]: r["embedding"] for r in pq.read_table(tmp_path / "all.parquet").to_pylist()
    }
    got = {r["path"]: r["embedding"] for r in pq.read_table(out).to_pylist()}
    assert got.keys() == expected.keys() and len(got) == 40
    for path, vector in expected.items():
        np.testing.assert_allclose(got[path], vector, atol=1e-4)


def test_what_a_worker_refuses_is_said_in_one_line(tmp_path, tiny_model, local_ray):
    files = make_images(tmp_path / "images", 3)
    gone = tmp_path / "not-on-this-node.safetensors"  # as on a node without the model
    job = dataclasses.replace(Job.scoring(tiny_model), model=gone)
    with pytest.raises(TastemakerError) as refused:
        run_to_parquet(job, files, tmp_path / "out.parquet", engine="ray")
    assert str(refused.value) == f"Model file {gone} does not exist."
    assert not list((tmp_path / "out.parquet").glob("part-*"))
