"""The Ped2 table script: its aggregation and its refusal to reuse a run trained differently."""

from __future__ import annotations

import importlib.util
import statistics
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("ped2_table", REPO / "benchmarks/ped2_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(variant: str, seed: int, micro: float, padded: float | None = None) -> dict:
    return {
        "variant": variant, "seed": seed, "micro_auc": micro, "macro_auc": micro - 0.01,
        "unnormalised_auc": micro - 0.05, "padded_micro_auc": padded, "train_seconds": 100.0,
    }  # fmt: skip


def test_aggregate_mean_and_sample_std(table):
    rows = [row("baseline", s, v, v) for s, v in enumerate([0.70, 0.74, 0.78])]
    rows += [row("skip", 0, 0.80)]
    t = table.aggregate(rows)
    assert t["baseline"]["micro_auc"]["mean"] == pytest.approx(0.74)
    assert t["baseline"]["micro_auc"]["std"] == pytest.approx(statistics.stdev([0.70, 0.74, 0.78]))
    assert t["baseline"]["seeds"] == [0, 1, 2]
    assert t["skip"]["micro_auc"]["std"] is None  # one seed: no spread, not 0
    assert "padded_micro_auc" not in t["skip"]
    md = table.markdown(t)
    assert "| baseline | 0,1,2 | 74.00 ± 4.00 |" in md
    assert "| skip | 0 | 80.00 | - |" in md


def test_existing_run_with_other_settings_is_not_reused(table, tmp_path):
    args = table.parse_args(["--runs", str(tmp_path), "--epochs", "10"])
    expected = table.expected_config(args, "skip", 1)
    run = tmp_path / "skip-s1"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(expected))
    table.check_reusable(run, expected)  # same settings: fine
    (run / "config.yaml").write_text(yaml.safe_dump({**expected, "epochs": 5}))
    with pytest.raises(SystemExit, match="epochs"):
        table.check_reusable(run, expected)


def test_every_variant_resolves_to_a_valid_config(table):
    args = table.parse_args([])
    configs = {v: table.expected_config(args, v, 0) for v in table.VARIANTS}
    assert configs["baseline"]["p"] == 0
    assert [t["name"] for t in configs["mix"]["transforms"]] == ["smoothmix_s", "skip_frame"]
    assert all(c["epochs"] == 10 and c["size"] == [64, 64] for c in configs.values())
