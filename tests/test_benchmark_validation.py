"""benchmarks/ped2_validation.py: its aggregation, and a --quick run end to end (no ../shared)."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    path = REPO / "benchmarks/ped2_validation.py"
    spec = importlib.util.spec_from_file_location("ped2_validation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(variant: str, seed: int, val: list[float], test: list[float]) -> dict:
    epochs = [
        {"epoch": i + 1, "val_auc": v, "test_micro_auc": t, "test_unnormalised_auc": t - 0.1}
        for i, (v, t) in enumerate(zip(val, test, strict=True))
    ]
    return {"variant": variant, "seed": seed, "epochs": epochs}


def test_spearman_and_the_epoch_the_validation_picks(bench):
    recs = [
        record("patch", 0, [0.6, 0.7, 0.8, 0.75], [0.80, 0.85, 0.90, 0.88]),  # same order
        record("patch", 1, [0.6, 0.9, 0.7, 0.8], [0.9, 0.7, 0.8, 0.85]),
    ]
    s = bench.aggregate(recs)
    assert s["runs"]["patch-s0"]["spearman_val_vs_test_micro_auc"] == pytest.approx(1.0)
    assert s["runs"]["patch-s0"]["val_picked_epoch"] == 3
    assert s["runs"]["patch-s1"]["test_at_val_pick"] == 0.7  # epoch 2: val's pick, test's worst
    assert s["runs"]["patch-s1"]["test_best_oracle"] == 0.9
    pooled = s["variants"]["patch"]
    assert pooled["pooled"]["n_epochs"] == 8 and pooled["seeds"] == [0, 1]
    assert pooled["mean_test_at_val_pick"] == pytest.approx((0.90 + 0.7) / 2)
    assert pooled["mean_test_at_last"] == pytest.approx((0.88 + 0.85) / 2)
    assert bench.spearman([1, 2], [1, 2]) is None  # too few epochs: no number, not 1


@pytest.mark.slow
def test_quick_run_writes_every_result(bench, tmp_path):
    common = ["--quick", "--seeds", "0", "--epochs", "2", "--variants", "baseline"]
    common += ["--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "res")]
    assert bench.main([*common, "--worker", "baseline", "0"]) == 0  # in process: no startup
    assert bench.main([*common, "--aggregate-only"]) == 0
    with pytest.raises(SystemExit, match="made with other settings \\(lr\\)"):
        bench.main([*common, "--set", "lr=0.001"])  # a finished run of other settings is kept
    res = tmp_path / "res"
    run = json.loads((res / "baseline-s0.json").read_text())
    assert run["complete"] and [e["epoch"] for e in run["epochs"]] == [1, 2]
    assert run["backend"] in {"tensorflow", "torch"} and "commit" in run
    assert run["config"]["val_fraction"] > 0 and run["config"]["pipeline"] is None
    assert all(0 <= e["val_auc"] <= 1 and 0 <= e["test_micro_auc"] <= 1 for e in run["epochs"])
    rows = list(csv.DictReader((res / "epochs.csv").open()))
    assert len(rows) == 2 and rows[0]["variant"] == "baseline"
    summary = json.loads((res / "summary.json").read_text())
    assert summary["variants"]["baseline"]["pooled"]["n_epochs"] == 2
    assert (res / "figure.png").stat().st_size > 1000
    assert bench.finished(bench.parse_args(common), "baseline", 0)  # a rerun reuses it
