import importlib.util
import sys
from pathlib import Path

import pytest
from conftest import run_quick

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "rating_efficiency.py"
METHODS = ["seed", "bt", "bt-active", "bt-active-prior"]


def load_script():
    spec = importlib.util.spec_from_file_location("rating_efficiency", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # the benchmark in a process of its own
def test_quick_mode_runs_and_writes_the_documented_json(tmp_path):
    data, stdout = run_quick(tmp_path, "rating_efficiency")
    for label in ("classic", "bt", "bt-active", "bt-active-prior"):  # the classic's key: seed
        assert f"\n{label} " in stdout
    assert "vs classic" in stdout and "headline: to the classic method's rho" in stdout

    assert set(data) == {"config", "results", "headline", "timing", "seconds"}
    assert data["config"]["images"] == [100]
    res = data["results"]["100"]
    assert res["choices_per_image"] == [0, 1, 2, 4, 8]
    assert set(res) == {
        "choices_per_image",
        "rho",
        "choices_to_reach",
        "seed_rho_at_max",
        "choices_to_seed_rho_at_max",
        "ratio_vs_seed",
    }
    for method in METHODS:
        assert set(res["rho"][method]) == {"mean", "sd", "per_seed"}
        assert len(res["rho"][method]["mean"]) == 5
        assert len(res["rho"][method]["per_seed"]) == 2
        assert all(-1 <= r <= 1 for r in res["rho"][method]["mean"])
    assert set(res["choices_to_reach"]) == {"0.7", "0.8"}
    assert res["ratio_vs_seed"]["seed"] == pytest.approx(1.0)
    # seeded, so deterministic: the fit beats Elo on the same choices, and a prior helps
    rho = {m: res["rho"][m]["mean"] for m in METHODS}
    assert rho["bt"][-1] > rho["seed"][-1]
    assert rho["bt-active-prior"][0] > 0.5
    assert all(t > 0 for t in data["timing"].values())
    head = data["headline"]["100"]
    assert {"ratio_bt_active", "rho_0.8_without_prior_within_8"} <= set(head)


def test_choices_to_reach_interpolates_or_says_not_reached():
    bench = load_script()
    xs, ys = [0, 1, 2, 4], [0.0, 0.5, 0.7, 0.9]
    assert bench.choices_to_reach(xs, ys, 0.6) == pytest.approx(1.5)
    assert bench.choices_to_reach(xs, ys, 0.8) == pytest.approx(3.0)
    assert bench.choices_to_reach(xs, ys, 0.0) == 0.0
    assert bench.choices_to_reach(xs, ys, 0.95) is None
