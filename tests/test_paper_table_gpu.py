"""benchmarks/paper_table_gpu.py end to end on the CPU, at the --tiny size.

The Table 1 script's whole orchestration for a dataset: train the three models side by side in
trainer subprocesses (torch backend), evaluate after every chunk, continue an interrupted run
when the same command runs again, stop a trainer at the optional budget, write the report.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

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
def tiny_data(gpu_table, tmp_path_factory) -> Path:
    """A tiny synthetic dataset in the frames layout."""
    from trainer.synthetic import make_synthetic_dataset

    return make_synthetic_dataset(
        tmp_path_factory.mktemp("data") / "tiny", **gpu_table.TINY_SYNTHETIC
    )


@pytest.mark.parametrize("dataset", ["ped2", "avenue", "shanghaitech"])
def test_dry_run_prints_the_three_trainer_commands(gpu_table, tiny_data, tmp_path, capsys, dataset):
    runs = tmp_path / "runs"
    argv = ["--dataset", dataset, "--tiny", "--data", str(tiny_data), "--runs", str(runs)]
    assert gpu_table.main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    for row in ("baseline", "patch", "skip"):
        assert f"python -m trainer train --config configs/paper_{dataset}_{row}.yaml" in out
    assert out.count("--epochs 1\n") == 3  # --tiny: 2 epochs, evaluated every epoch
    assert "--set mixed_precision=false" in out and "intruders=" in out
    assert "time_limit_s" not in out and "no time limit" in out  # --budget-s is optional
    assert not (runs / "baseline").exists()  # nothing trained


def test_defaults_are_the_full_table(gpu_table, tiny_data, tmp_path, capsys):
    argv = ["--dataset", "avenue", "--data", str(tiny_data), "--runs", str(tmp_path / "r")]
    assert gpu_table.main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("--epochs 5\n") == 3  # the first chunk of 5 of the configs' 60 epochs
    plan = gpu_table.build_parser().parse_args(["--dataset", "avenue"])
    assert plan.budget_s is None and plan.epochs is None
    assert gpu_table.model_configs("shanghaitech")["skip"] == "configs/paper_shanghaitech_skip.yaml"


def test_missing_data_is_named(gpu_table, tmp_path):
    with pytest.raises(SystemExit, match="--data: the avenue folder"):
        gpu_table.main(["--dataset", "avenue", "--runs", str(tmp_path / "r"), "--dry-run"])


@pytest.mark.slow
def test_tiny_run_trains_evaluates_continues_and_reports(gpu_table, tiny_data, tmp_path, capsys):
    runs = tmp_path / "runs"
    base = ["--tiny", "--data", str(tiny_data), "--runs", str(runs), "--eval-every", "1"]
    # First run: the three models side by side, one epoch each.
    assert gpu_table.main([*base, "--epochs", "1"]) == 0
    doc = json.loads((runs / "paper_table.json").read_text())
    assert {r["model"] for r in doc["rows"]} == {"baseline", "patch", "skip"}
    for row in doc["rows"]:
        assert row["epoch"] == 1 and row["status"] == "ok"
        assert 0.0 <= row["micro_auc"] <= 1.0 and row["steps_per_epoch"] == 2
        assert row["epoch_s"] > 0 and row["overhead_s"] > 0
    assert doc["plan"]["models"]["baseline"]["size"] == [32, 32]
    assert doc["plan"]["dataset"] == "ped2"
    assert set(doc["estimate"]["models"]) == {"baseline", "patch", "skip"}
    for name in ("baseline", "patch", "skip"):
        log = (runs / f"{name}.log").read_text()
        assert "2 steps/epoch" in log and "frame-level AUC" in log
        assert "\r" not in log  # one line per progress bar

    # The same command again, to 2 epochs, for one model: it continues from its checkpoint and
    # the report keeps the first run's rows.
    assert gpu_table.main([*base, "--epochs", "2", "--models", "skip"]) == 0
    rows = list(csv.DictReader((runs / "paper_table.csv").open()))
    assert [(r["model"], r["epoch"]) for r in rows][-1] == ("skip", "2")
    assert len(rows) == 4 and len({r["call"] for r in rows}) == 2
    assert "resuming after epoch 1 of 2" in (runs / "skip.log").read_text()
    table = json.loads((runs / "paper_table.json").read_text())["table"]
    assert table["skip"]["epoch"] == 2 and table["skip"]["evaluated_epochs"] == [1, 2]
    aucs = [float(r["micro_auc"]) for r in rows if r["model"] == "skip"]
    assert table["skip"]["best_epoch_micro_auc"] == max(aucs)
    assert table["skip"]["micro_auc"] == aucs[-1]
    state = json.loads((runs / "skip" / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]["epoch_seconds"]) == 2
    out = capsys.readouterr().out
    assert "s/epoch" in out and "ms/step" in out and "budget" not in out.split("finished")[-1]


def test_budget_too_small_starts_nothing(gpu_table, tiny_data, tmp_path):
    runs = tmp_path / "runs"
    argv = ["--tiny", "--data", str(tiny_data), "--runs", str(runs)]
    assert gpu_table.main([*argv, "--budget-s", "20", "--overhead-s", "30"]) == 0
    doc = json.loads((runs / "paper_table.json").read_text())
    assert doc["rows"] == []
    assert all(m["status"].startswith("stopped") for m in doc["models"].values())


@pytest.mark.slow
def test_the_budget_stops_a_running_trainer(gpu_table, tiny_data, tmp_path):
    runs = tmp_path / "runs"
    argv = ["--tiny", "--data", str(tiny_data), "--runs", str(runs)]
    argv += ["--models", "skip", "--budget-s", "4", "--margin-s", "0", "--overhead-s", "1"]
    assert gpu_table.main([*argv, "--min-first-s", "1"]) == 0
    (row,) = json.loads((runs / "paper_table.json").read_text())["rows"]
    assert row["status"] == "killed" and row["micro_auc"] is None
    assert "budget over: stopping the trainer" in (runs / "skip.log").read_text()


def test_gpu_page_is_about_the_users_gpu():
    text = (REPO / "docs" / "gpu.md").read_text().lower()
    for phrase in ("device call", "upload", "file-count", "not been run on a gpu", "carry",
                   "per session", "time allowance", "$out"):  # fmt: skip
        assert phrase not in text, phrase
    assert 'pip install ".[gpu]"' in text and "--dataset avenue" in text
