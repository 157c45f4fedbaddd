"""benchmarks/ped2_table.py records the test AUC after every epoch, for reporting only.

The table's headline stays the fixed-epoch micro AUC; the "best epoch on test labels (the
paper's selection)" column is the mean over seeds of each run's highest per-epoch test AUC.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("ped2_table", REPO / "benchmarks/ped2_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(variant, seed, micro, best):
    return {
        "variant": variant, "seed": seed, "micro_auc": micro, "macro_auc": micro,
        "unnormalised_auc": micro, "padded_micro_auc": None, "train_seconds": 1.0,
        "best_epoch_micro_auc": best,
    }  # fmt: skip


def test_both_selections_side_by_side_labelled(table):
    rows = [_row("baseline", 0, 0.70, 0.80), _row("baseline", 1, 0.72, 0.76)]
    rows += [_row("skip", 0, 0.75, None)]  # trained before the per-epoch record: no column
    agg = table.aggregate(rows)
    assert agg["baseline"]["best_epoch_micro_auc"]["mean"] == pytest.approx(0.78)
    assert agg["baseline"]["micro_auc"]["mean"] == pytest.approx(0.71)
    assert "best_epoch_micro_auc" not in agg["skip"]
    md = table.markdown(agg)
    assert "| paired vs baseline | best epoch on test labels (the paper's selection) |" in md
    assert "| baseline | 0,1 | 71.00 ± 1.41 | - | 78.00 ± 2.83 |" in md
    assert "| skip | 0 | 75.00 | +5.00 (1/1 > 0) | - |" in md


def test_paper_selection_table_pairs_best_epochs(table):
    """Each seed's best epoch, the best-epoch mean, its paired difference to the baseline's best
    epoch and the gap to the fixed epoch; runs without a per-epoch record are left out."""
    rows = [
        {**_row("baseline", 0, 0.70, 0.80), "best_epoch": 2},
        {**_row("baseline", 1, 0.72, 0.76), "best_epoch": 3},
        {**_row("patch", 0, 0.75, 0.86), "best_epoch": 2},
        {**_row("patch", 1, 0.74, 0.80), "best_epoch": 4},
        _row("skip", 0, 0.75, None),
    ]
    agg = table.aggregate(rows)
    best = agg["patch"]["paired_best_epoch_vs_baseline"]
    assert best["diffs"] == pytest.approx([0.06, 0.04]) and best["positive"] == 2
    assert "paired_best_epoch_vs_baseline" not in agg["skip"]
    md = table.markdown_selection(rows, agg)
    assert "| baseline | 2, 3 | 78.00 ± 2.83 | - | +7.00 ± 4.24 |" in md
    assert "| patch | 2, 4 | 83.00 ± 4.24 | +5.00 ± 1.41 (2/2 > 0, p = 0." in md
    assert "| skip |" not in md
    assert table.markdown_selection([_row("skip", 0, 0.75, None)], table.aggregate([])) == ""
    rows[0]["epoch_micro_auc"], rows[1]["epoch_micro_auc"] = [0.8, 0.7], [0.7, 0.76]
    curve = table.markdown_epochs(rows)
    assert "| variant | seeds | epoch 1 | epoch 2 |" in curve
    assert "| baseline | 2 | 75.00 | 73.00 |" in curve and "| patch |" not in curve


@pytest.mark.slow
def test_quick_run_records_the_test_auc_of_every_epoch(table, tmp_path):
    runs = tmp_path / "runs"
    argv = ["--quick", "--runs", str(runs), "--variants", "baseline", "--seeds", "0"]
    assert table.main(argv) == 0
    doc = json.loads((runs / "results" / "table.json").read_text())
    (run,) = doc["runs"]
    assert run["epochs"] == 2 and len(run["epoch_micro_auc"]) == 2
    assert run["best_epoch_micro_auc"] == max(run["epoch_micro_auc"])
    assert run["best_epoch"] in (1, 2)
    # The last epoch's per-epoch test AUC is the fixed-epoch figure of the final evaluation.
    assert run["epoch_micro_auc"][-1] == pytest.approx(run["micro_auc"], abs=1e-6)
    epochs = json.loads((runs / "results" / "baseline-s0.epochs.json").read_text())
    assert "nothing is chosen" in epochs["note"]
    assert (
        "best epoch on test labels (the paper's selection)"
        in (runs / "results" / "table.md").read_text()
    )

    # Stopped after epoch 2's checkpoint but before its test AUC: the resumed run scores the
    # checkpoint first, so the record has no hole, and the score is the one it would have had.
    run_dir = runs / "baseline-s0"
    record_path = run_dir / table.EPOCHS_FILE
    record = json.loads(record_path.read_text())
    lost = record["epochs"].pop()
    record_path.write_text(json.dumps(record))
    for d in ("evaluation", "evaluation-padded"):
        shutil.rmtree(run_dir / d)
    for f in (runs / "results").glob("baseline-s0.*"):
        f.unlink()
    assert "--resume" in table.train_command(table.parse_args(argv), "baseline", 0, run_dir)
    assert table.main(argv) == 0
    again = json.loads(record_path.read_text())["epochs"]
    assert [e["epoch"] for e in again] == [1, 2]
    assert again[1]["test_micro_auc"] == pytest.approx(lost["test_micro_auc"], abs=1e-9)
    assert again[1]["loss"] == pytest.approx(lost["loss"])


def test_a_per_epoch_record_with_a_hole_gives_no_per_epoch_figures(table, tmp_path):
    base = tmp_path / "patch-s0"
    Path(f"{base}.summary.json").write_text(
        json.dumps({"micro_auc": 0.8, "macro_auc": 0.8, "unnormalised_auc": 0.7})
    )
    Path(f"{base}.history.json").write_text(
        json.dumps({"loss": [0.3, 0.2, 0.1], "epoch_seconds": [1.0, 1.0, 1.0]})
    )
    rows = [{"epoch": n, "test_micro_auc": 0.7 + n / 100} for n in (1, 3)]
    Path(f"{base}.epochs.json").write_text(json.dumps({"epochs": rows}))
    row = table.kept_row(tmp_path, "patch-s0")
    assert row["epoch_micro_auc"] is None and row["best_epoch_micro_auc"] is None
    rows.insert(1, {"epoch": 2, "test_micro_auc": 0.9})
    Path(f"{base}.epochs.json").write_text(json.dumps({"epochs": rows}))
    row = table.kept_row(tmp_path, "patch-s0")
    assert row["best_epoch"] == 2 and row["epoch_micro_auc"] == pytest.approx([0.71, 0.9, 0.73])


def test_first_failure_stops_the_queue(table, monkeypatch):
    """A run that fails (a missing dependency, a bad path) stops the queue instead of starting
    every remaining run only to fail it the same way."""
    import argparse
    import threading

    started = []
    lock = threading.Lock()

    def run_one(args, variant, seed, slot):
        with lock:
            started.append((variant, seed))
        raise SystemExit(f"{variant}-s{seed} failed (rc 1)")

    monkeypatch.setattr(table, "run_one", run_one)
    work = [("baseline", s) for s in range(20)]
    with pytest.raises(SystemExit, match="failed"):
        table.run_all(argparse.Namespace(jobs=2), work)
    assert len(started) <= 2, started
