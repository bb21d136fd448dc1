import pytest
from conftest import run_quick

pytestmark = pytest.mark.slow  # trains models over a synthetic and a real image set

METHODS = {"seed", "ours"}
FIGURES = {"agreement", "agreement_vs_ceiling", "true_order"}


def test_quick_mode_runs_and_writes_the_documented_json(tmp_path):
    data, stdout = run_quick(tmp_path, "model_quality")
    assert "synthetic" in stdout

    assert set(data) == {"config", "results", "machine", "seconds"}
    budgets = data["config"]["budgets"]
    assert budgets == [1, 3, 6]
    results = data["results"]
    assert set(results) == {"synthetic", "real"}
    measured = [name for name, res in results.items() if "skipped" not in res]
    assert "synthetic" in measured  # the real set may be skipped, with its reason
    for name in measured:
        res = results[name]
        assert {
            "images",
            "heldout_images",
            "eval_pairs",
            "dim",
            "budgets",
            "ceiling",
            "oracle",
            "linear_r2",
            "methods",
            "ours_minus_seed",
        } <= set(res)
        assert res["ceiling"] == 0.75
        assert 0 <= res["oracle"]["mean"] <= 1
        assert set(res["methods"]) == METHODS
        for method in METHODS:
            assert set(res["methods"][method]) == {str(b) for b in budgets}
            for cell in res["methods"][method].values():
                assert set(cell) >= FIGURES
                assert {"train_outcomes", "epochs_run"} <= set(cell)
                for figure in ("agreement", "true_order"):
                    stats = cell[figure]
                    assert set(stats) == {"mean", "sd", "per_seed"}
                    assert len(stats["per_seed"]) == data["config"]["seeds"]
                    assert all(0 <= v <= 1 for v in [stats["mean"], *stats["per_seed"]])
                assert cell["agreement_vs_ceiling"]["mean"] >= 0
        assert set(res["ours_minus_seed"]) == {str(b) for b in budgets}
        for b in map(str, budgets):
            for figure in ("agreement", "true_order"):
                ours, seed = (res["methods"][m][b][figure]["mean"] for m in ("ours", "seed"))
                gap = res["ours_minus_seed"][b][figure]["mean"]
                assert gap == pytest.approx(ours - seed)
    # seeded: on the synthetic set every method learns the true order well above chance,
    # and the true utilities agree with the person's fresh choices more than chance does
    synthetic = results["synthetic"]
    assert synthetic["oracle"]["mean"] > 0.6
    for method in METHODS:
        assert synthetic["methods"][method][str(budgets[-1])]["true_order"]["mean"] > 0.6
    if "real" in measured:
        assert {"generation_seconds", "extraction_seconds"} <= set(results["real"])
