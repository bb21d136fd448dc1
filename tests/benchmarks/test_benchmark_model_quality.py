import pytest
from conftest import run_quick

pytestmark = pytest.mark.slow  # trains models over a synthetic and a real image set

METHODS = {"seed", "old", "new", "new_weighted"}
STATS = {"mean", "sd", "per_seed"}


def test_quick_mode_runs_and_writes_the_documented_json(tmp_path):
    data, stdout = run_quick(tmp_path, "model_quality")
    assert "ceiling" in stdout and "closed loop" in stdout
    assert "classic recipe (classic pairs, Elo, MLP)" in stdout and "vs classic pp" in stdout

    assert set(data) == {"config", "results", "headline", "machine", "seconds"}
    config = data["config"]
    budgets = [str(b) for b in config["budgets"]]
    assert budgets == ["1", "3", "6"]
    seeds = config["seeds"]
    results = data["results"]
    assert set(results) == {"synthetic", "real"}
    measured = [name for name, res in results.items() if "skipped" not in res]
    assert "synthetic" in measured  # the real set may be skipped, with its reason
    assert set(data["headline"]) == {"gap_to_ceiling_pp", "gain_over_seed_pp"}
    for name in measured:
        res = results[name]
        assert {
            "images",
            "new_images",
            "eval_pairs",
            "dim",
            "oracle",
            "ceiling",
            "methods",
            "new_minus_seed",
            "weighted_minus_new",
            "closed_loop",
        } <= set(res)
        ceiling = res["ceiling"]
        assert set(ceiling) == {"agreement", "true_order", "r2"}
        assert all(set(s) == STATS and len(s["per_seed"]) == seeds for s in ceiling.values())
        assert set(res["methods"]) == METHODS
        for method in METHODS:
            assert set(res["methods"][method]) == set(budgets)
            for cell in res["methods"][method].values():
                for figure in ("agreement", "true_order"):
                    assert set(cell[figure]) == STATS
                    assert len(cell[figure]["per_seed"]) == seeds
                assert 0 <= cell["agreement"]["mean"] <= 1
                gap = cell["gap_to_ceiling_pp"]["mean"]
                assert gap == pytest.approx(
                    100 * (ceiling["agreement"]["mean"] - cell["agreement"]["mean"])
                )
        for b in budgets:
            new, seed = (res["methods"][m][b]["agreement"]["mean"] for m in ("new", "seed"))
            assert res["new_minus_seed"][b]["mean"] == pytest.approx(100 * (new - seed))
            assert data["headline"]["gain_over_seed_pp"][name][b] == pytest.approx(
                100 * (new - seed)
            )
            assert data["headline"]["gap_to_ceiling_pp"][name][b] == pytest.approx(
                res["methods"]["new"][b]["gap_to_ceiling_pp"]["mean"]
            )
        loop = res["closed_loop"]
        assert loop["checkpoints"] == config["loop_checkpoints"]
        assert len(loop["agreement"]["mean"]) == len(loop["checkpoints"])
        reach = loop["choices_to_within"]
        assert reach is None or loop["checkpoints"][0] <= reach <= loop["checkpoints"][-1]
    # seeded: on the synthetic set the true utilities agree with the fresh choices about
    # as often as the person is consistent, the ceiling is the best row (give or take
    # the noise of 100 new images) and every recipe learns the true order
    synthetic = results["synthetic"]
    assert 0.7 <= synthetic["oracle"]["mean"] <= 0.8
    top = synthetic["ceiling"]["agreement"]["mean"]
    for method in METHODS:
        cells = synthetic["methods"][method]
        # judged on pairs of new images: better than a coin, short of the person (the
        # quick real set, 20 new images at 190 pairs, checks the pipeline, not the figures)
        assert all(0.4 <= c["agreement"]["mean"] <= 0.8 for c in cells.values())
        assert all(c["agreement"]["mean"] <= top + 0.02 for c in cells.values())
        assert cells[budgets[-1]]["true_order"]["mean"] > 0.6
    if "real" in measured:
        real = results["real"]
        assert {"generation_seconds", "extraction_seconds", "layers"} <= set(real)
        assert real["layers"] == config["real_layers"]
