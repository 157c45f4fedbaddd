"""benchmarks/demo_kinds.py: its table, its resume, and a --quick run end to end."""

from __future__ import annotations

import csv
import importlib.util
import json
import statistics
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("demo_kinds", REPO / "benchmarks/demo_kinds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(kind: str, seed: int, micro: float, fast: float | None) -> dict:
    per_kind = {"large": micro + 0.1, "textured": micro - 0.1, "fast": fast}
    return {"kind": kind, "seed": seed, "micro_auc": micro, "auc_per_kind": per_kind}


def test_table_is_mean_and_sample_std_per_kind(bench):
    runs = [run("baseline", s, v, 0.5) for s, v in enumerate([0.70, 0.74, 0.78])]
    runs += [run("reverse", 0, 0.80, None)]
    rows = {r["pseudo_anomaly"]: r for r in bench.table_rows(runs)}
    assert list(rows) == ["baseline", "reverse"]  # KINDS order, only kinds with runs
    base = rows["baseline"]
    assert base["seeds"] == 3 and base["micro_auc_mean"] == pytest.approx(0.74)
    assert base["micro_auc_std"] == pytest.approx(statistics.stdev([0.70, 0.74, 0.78]))
    assert base["auc_large_mean"] == pytest.approx(0.84)
    assert rows["reverse"]["micro_auc_std"] is None  # one seed: no spread, not 0
    assert rows["reverse"]["auc_fast_mean"] is None  # no AUC for that kind
    md = bench.markdown(runs)
    assert "| baseline | 3 | 74.0 ± 4.0 | 84.0 ± 4.0 | 64.0 ± 4.0 | 50.0 ± 0.0 |" in md
    assert "| reverse | 1 | 80.0 | 90.0 | 70.0 | - |" in md
    (paired,) = bench.paired_rows(runs)  # reverse against baseline seed 0 only
    assert paired["micro_auc_diff"] == pytest.approx(0.10) and paired["micro_auc_higher"] == "1/1"
    assert paired["auc_fast_diff"] is None
    assert "| reverse | 1 | +10.0 (1/1) | +10.0 (1/1) | +10.0 (1/1) | - |" in md


def test_every_kind_is_one_transform_at_the_demo_p(bench, tmp_path):
    for kind, spec in bench.KINDS.items():
        config = bench.run_config(kind, 1, tmp_path / "data", tmp_path / "runs", False, "c")
        params = config.pipeline["params"]
        assert params["p"] == (0.0 if kind == "baseline" else 0.5)
        assert config.seed == 1 and config.out == str(tmp_path / "runs" / f"{kind}-s1")
        if spec["transform"]:
            assert params["transforms"] == [spec["transform"]]
        objective = "push_away" if kind.endswith("push_away") else "reconstruct_normal"
        assert config.pseudo_objective == objective


@pytest.mark.slow
def test_quick_run_writes_results_and_resumes(bench, tmp_path, monkeypatch):
    kinds, res = ["baseline", "skip_frame+push_away"], tmp_path / "res"
    args = ["--quick", "--seeds", "0", "--kinds", *kinds, "--results", str(res)]
    args += ["--runs", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")]
    assert bench.main(args) == 0
    runs = json.loads((res / "runs.json").read_text())["runs"]
    assert [(r["kind"], r["seed"]) for r in runs] == [(k, 0) for k in kinds]
    assert all(0 <= r["micro_auc"] <= 1 and set(r["auc_per_kind"]) == set(bench.ANOMALY_KINDS)
               for r in runs)  # fmt: skip
    assert runs[1]["settings"]["pseudo_objective"] == "push_away"
    assert "| skip_frame+push_away | 1 |" in (res / "table.md").read_text()
    rows = list(csv.DictReader((res / "table.csv").open()))
    assert [r["pseudo_anomaly"] for r in rows] == kinds and rows[0]["seeds"] == "1"

    def no_training(*a, **k):
        raise AssertionError("a finished run with the same settings was trained again")

    monkeypatch.setattr(bench, "train_one", no_training)
    assert bench.main(args) == 0  # resumes: nothing left to train
    with pytest.raises(AssertionError, match="trained again"):
        bench.main([*args, "--seeds", "1"])  # another seed is new
