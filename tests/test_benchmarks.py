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
    assert "| baseline | 0,1,2 | 74.00 ± 4.00 | - |" in md
    assert "| skip | 0 | 80.00 | +10.00 (1/1 > 0) | - |" in md


def test_paired_test_against_the_baseline_on_common_seeds(table):
    base = [0.70, 0.74, 0.78, 0.72]
    gain = [0.02, 0.03, -0.01]
    rows = [row("baseline", s, v) for s, v in enumerate(base)]
    rows += [row("patch", s, base[s] + g) for s, g in enumerate(gain)]
    rows += [
        row("patch@torch", 0, 0.9),
        row("baseline@torch", 0, 0.8),
        row("baseline@torch", 1, 0.8),
    ]
    t = table.aggregate(rows)
    pv = t["patch"]["paired_vs_baseline"]
    assert pv["seeds"] == [0, 1, 2] and pv["positive"] == 2
    assert pv["mean"] == pytest.approx(statistics.fmean(gain))
    assert pv["std"] == pytest.approx(statistics.stdev(gain))
    from scipy import stats

    want = stats.ttest_rel([base[s] + g for s, g in enumerate(gain)], base[:3])
    assert pv["t"] == pytest.approx(want.statistic) and pv["p"] == pytest.approx(want.pvalue)
    assert "paired_vs_baseline" not in t["baseline"]
    tagged = t["patch@torch"]["paired_vs_baseline"]  # compared with the same backend's baseline
    assert tagged["seeds"] == [0] and tagged["mean"] == pytest.approx(0.1) and tagged["p"] is None


def test_comparisons_window_vs_object_and_backend_vs_default(table):
    rows = [row("patch", s, v) for s, v in enumerate([0.80, 0.82, 0.78])]
    rows += [row("patch_object", s, v) for s, v in enumerate([0.79, 0.84, 0.77])]
    rows += [row("patch@torch", s, v) for s, v in enumerate([0.81, 0.80])]
    rows += [row("baseline", 0, 0.75)]  # no baseline@torch: no comparison for it
    items = {(c["first"], c["second"]): c for c in table.comparisons(rows)}
    assert set(items) == {("patch", "patch_object"), ("patch@torch", "patch")}
    wo = items[("patch", "patch_object")]
    assert wo["diffs"] == pytest.approx([0.01, -0.02, 0.01]) and wo["positive"] == 2
    assert items[("patch@torch", "patch")]["seeds"] == [0, 1]
    md = table.markdown_comparisons(list(items.values()))
    assert "| patch - patch_object | 0,1,2 | +1.00, -2.00, +1.00 | +0.00 ± 1.73 | 2/3 |" in md


def test_existing_run_with_other_settings_is_not_reused(table, tmp_path):
    args = table.parse_args(["--runs", str(tmp_path)])
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
    assert configs["baseline"]["pipeline"] is None
    first = {
        v: c["pipeline"]["params"]["transforms"][0] for v, c in configs.items() if c["pipeline"]
    }
    names = [t["name"] for t in configs["mix"]["pipeline"]["params"]["transforms"]]
    assert names == ["smoothmix_s", "skip_frame"]
    assert all(c["epochs"] == 10 and c["size"] == [64, 64] for c in configs.values())
    # The patch rows: the paper's content by default, ours only where named.
    content = {v: t["params"].get("content") for v, t in first.items()}
    assert content["patch_object"] == "object"
    assert all(content[v] == "window" for v in configs if "patch" in v and v != "patch_object")
    assert first["cutmix"]["name"] == "cutmix"
    intruders = {v: t["params"].get("intruders", "") for v, t in first.items()}
    assert intruders["patch_ped2"].endswith("ped2/training/frames")
    cifar = [v for v, i in intruders.items() if i.endswith("intruders/cifar100")]
    assert {"patch", "patch_object", "smoothmix_c", "cutmix", "mixup_patch"} <= set(cifar)


def test_a_finished_run_kept_in_results_is_reused_not_retrained(table, tmp_path):
    """The small files in --results are enough: the next session continues the table."""
    res = tmp_path / "results"
    res.mkdir()
    args = table.parse_args(["--runs", str(tmp_path / "runs"), "--results", str(res)])
    args.aggregate_only = False
    expected = table.expected_config(args, "skip", 3)
    (res / "skip-s3.config.yaml").write_text(yaml.safe_dump(expected))
    (res / "skip-s3.summary.json").write_text(
        '{"micro_auc": 0.8, "macro_auc": 0.7, "unnormalised_auc": 0.6, "commit": "abc"}'
    )
    (res / "skip-s3.history.json").write_text('{"loss": [1, 2], "epoch_seconds": [3, 4]}')
    (tmp_path / "runs").mkdir()
    r = table.run_one(args, "skip", 3, 0)  # would train (and fail) if it did not reuse
    assert r["variant"] == "skip" and r["seed"] == 3 and r["epochs"] == 2
    assert r["train_seconds"] == 7 and r["micro_auc"] == 0.8
    (res / "skip-s3.config.yaml").write_text(yaml.safe_dump({**expected, "lr": 1.0}))
    with pytest.raises(SystemExit, match="lr"):
        table.run_one(args, "skip", 3, 0)
