"""benchmarks/paper_table_gpu.py end to end on the CPU, at the --tiny size.

The GPU script's whole orchestration: pack a dataset into the compact carried form, train the
three Table 1 models side by side in trainer subprocesses (torch backend), evaluate after every
epoch, resume a later call from the checkpoints, stop a trainer at the budget, write the report.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="the GPU script trains under torch"
)


@pytest.fixture(scope="module")
def gpu_table():
    spec = importlib.util.spec_from_file_location(
        "paper_table_gpu", REPO / "benchmarks/paper_table_gpu.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def packed(gpu_table, tmp_path_factory) -> Path:
    """A tiny synthetic dataset packed as for the GPU machine (32x32 JPEG frames)."""
    from trainer.synthetic import make_synthetic_dataset

    tmp = tmp_path_factory.mktemp("pack")
    src = make_synthetic_dataset(tmp / "src", **gpu_table.TINY_SYNTHETIC)
    intruders = tmp / "intruders"
    intruders.mkdir()
    import cv2

    for i in range(3):
        cv2.imwrite(str(intruders / f"i{i}.png"), np.full((8, 8, 3), 60 * i, np.uint8))
    dst = tmp / "ped2_small"
    argv = ["pack", "--src", str(src), "--dst", str(dst), "--size", "32,32"]
    assert gpu_table.main([*argv, "--intruders", str(intruders)]) == 0
    return dst


def test_pack_writes_a_frames_folder_dataset_the_trainer_reads(packed):
    from trainer.data import load_split

    info = json.loads((packed / "pack.json").read_text())
    assert info["size"] == [32, 32] and info["splits"]["training"]["frames"] == 80
    assert info["splits"]["testing"]["psnr_db_vs_decoded_source"] > 30
    assert sorted(p.name for p in (packed / "intruders").iterdir()) == [
        "i0.png",
        "i1.png",
        "i2.png",
    ]
    test = load_split(packed, "testing", size=(32, 32))
    assert [len(v) for v in test] == [40, 40]
    assert all(v.labels is not None and v.labels.any() and not v.labels.all() for v in test)
    assert all(v.masks is not None for v in test)


def test_dry_run_prints_the_three_trainer_commands(gpu_table, packed, tmp_path, capsys):
    runs = tmp_path / "runs"
    argv = ["run", "--tiny", "--data", str(packed), "--runs", str(runs), "--dry-run"]
    assert gpu_table.main(argv) == 0
    out = capsys.readouterr().out
    for config in gpu_table.MODELS.values():
        assert f"python -m trainer train --config {config}" in out
    assert out.count("--epochs 1 ") == 3  # --tiny: 2 epochs, evaluated every epoch
    assert "--set mixed_precision=false" in out and "intruders=" in out
    assert not (runs / "baseline").exists()  # nothing trained


@pytest.mark.slow
def test_tiny_run_trains_evaluates_resumes_and_reports(gpu_table, packed, tmp_path, capsys):
    runs, report = tmp_path / "runs", tmp_path / "report"
    base = ["run", "--tiny", "--data", str(packed), "--runs", str(runs), "--eval-every", "1"]
    # Call 1: the three models side by side, one epoch each.
    assert gpu_table.main([*base, "--epochs", "1", "--report", str(report)]) == 0
    doc = json.loads((report / "paper_table.json").read_text())
    assert {r["model"] for r in doc["rows"]} == {"baseline", "patch", "skip"}
    for row in doc["rows"]:
        assert row["epoch"] == 1 and row["status"] == "ok"
        assert 0.0 <= row["micro_auc"] <= 1.0 and row["steps_per_epoch"] == 2
        assert row["epoch_s"] > 0 and row["overhead_s"] > 0
    assert doc["plan"]["models"]["patch"]["intruders"].endswith("intruders")
    assert doc["plan"]["models"]["baseline"]["size"] == [32, 32]
    assert set(doc["estimate"]["models"]) == {"baseline", "patch", "skip"}
    for name in ("baseline", "patch", "skip"):
        log = (report / f"{name}.log").read_text()
        assert "2 steps/epoch" in log and "frame-level AUC" in log
        assert "\r" not in log  # one line per progress bar

    # Call 2, into a fresh report folder (a device call's empty $OUT): one model resumes from
    # its checkpoint to epoch 2; the report still holds call 1's rows (kept in --runs).
    report2 = tmp_path / "report2"
    assert (
        gpu_table.main([*base, "--epochs", "2", "--models", "skip", "--report", str(report2)]) == 0
    )
    rows = list(csv.DictReader((report2 / "paper_table.csv").open()))
    assert [(r["model"], r["epoch"]) for r in rows][-1] == ("skip", "2")
    assert len(rows) == 4 and len({r["call"] for r in rows}) == 2
    assert "resuming after epoch 1 of 2" in (report2 / "skip.log").read_text()
    state = json.loads((runs / "skip" / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]["epoch_seconds"]) == 2
    out = capsys.readouterr().out
    assert "s/epoch" in out and "ms/step" in out and "epochs per 540-s budget" in out


def test_budget_too_small_starts_nothing(gpu_table, packed, tmp_path):
    runs, report = tmp_path / "runs", tmp_path / "report"
    argv = ["run", "--tiny", "--data", str(packed), "--runs", str(runs), "--report", str(report)]
    assert gpu_table.main([*argv, "--budget-s", "20", "--overhead-s", "30"]) == 0
    doc = json.loads((report / "paper_table.json").read_text())
    assert doc["rows"] == []
    assert all(m["status"].startswith("stopped") for m in doc["models"].values())


@pytest.mark.slow
def test_the_budget_stops_a_running_trainer(gpu_table, packed, tmp_path):
    runs, report = tmp_path / "runs", tmp_path / "report"
    argv = ["run", "--tiny", "--data", str(packed), "--runs", str(runs), "--report", str(report)]
    argv += ["--models", "skip", "--budget-s", "4", "--margin-s", "0", "--overhead-s", "1"]
    assert gpu_table.main([*argv, "--min-first-s", "1"]) == 0
    (row,) = json.loads((report / "paper_table.json").read_text())["rows"]
    assert row["status"] == "killed" and row["micro_auc"] is None
    assert "budget over: stopping the trainer" in (report / "skip.log").read_text()
