"""The Ray Data engine on a Ray this test starts on loopback: the same rows as the local
engine, and a run that resumes another's folder."""

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

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


class LoopbackNode:
    """``ray start`` as a person runs it on one machine of a cluster, here on 127.0.0.1;
    stopped (its process group: the processes it started) when the test ends."""

    def __init__(self, *args: str) -> None:
        ray_cli = Path(sys.executable).with_name("ray")
        self.process = subprocess.Popen(
            [
                str(ray_cli),
                *("start", "--block", "--num-cpus", "1", "--disable-usage-stats"),
                *("--node-ip-address", "127.0.0.1", *args),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        said = []
        for line in self.process.stdout:  # blocks until the node is up, or ray start ends
            said.append(line)
            if "Ray runtime started" in line:
                return
        self.stop()
        raise RuntimeError("ray start failed:\n" + "".join(said))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_score_joins_a_two_node_cluster_on_loopback(tmp_path, tiny_kernel_model):
    """A head of CPUs and a worker that says it has a GPU (Ray's resources are what a
    node declares; this one runs its model on the CPU): the cluster's CPUs decode, the
    GPU's actor scores, and the rows are the local engine's."""
    files = make_images(tmp_path / "images", 200, size=(40, 32))
    broken = tmp_path / "images" / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    address = f"127.0.0.1:{free_port()}"
    temp = tempfile.mkdtemp(prefix="tm-ray-", dir="/tmp")  # Ray's socket paths must be short
    nodes = []
    try:
        nodes.append(LoopbackNode("--head", "--port", address.split(":")[1], "--temp-dir", temp))
        nodes.append(LoopbackNode("--address", address, "--num-gpus", "1"))
        out = tmp_path / "cluster.parquet"
        args = [str(tiny_kernel_model), str(tmp_path / "images"), "-o", str(out)]
        args += ["--engine", "ray", "--address", address]
        done = subprocess.run(
            [sys.executable, "-m", "tastemaker", "score", *args],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout == f"Wrote 200 scores to {out}\n"
        assert f"Skipped {broken}: cannot be read as an image" in done.stderr
        assert pq.read_table(out / "_failed.parquet").column("path").to_pylist() == [str(broken)]
        alive = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import ray; ray.init(address={address!r}); "
                "print(sum(n['Alive'] for n in ray.nodes()), ray.cluster_resources()['GPU'])",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert alive.stdout.split()[-2:] == ["2", "1.0"]
    finally:
        for node in reversed(nodes):
            node.stop()
        shutil.rmtree(temp, ignore_errors=True)
    job = Job.scoring(tiny_kernel_model)
    run_to_parquet(job, files, tmp_path / "local.parquet")
    for name in ("score", "uncertainty"):
        mine, theirs = columns(tmp_path / "local.parquet", name), columns(out, name)
        assert mine.keys() == theirs.keys() and len(mine) == 200
        assert max(abs(mine[p] - theirs[p]) for p in mine) <= 1e-4
