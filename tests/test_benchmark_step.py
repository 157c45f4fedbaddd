"""benchmarks/train_step_vs_torch.py: its helpers, and one tiny interleaved run end to end."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks/train_step_vs_torch.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("train_step_vs_torch", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)  # importing it starts nothing
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_parse_impl(bench):
    assert bench.parse_impl("torch") == bench.Row("torch", "torch", ())
    row = bench.parse_impl("keras-tensorflow+xla+threads1")
    assert (row.impl, row.backend, row.options) == ("keras", "tensorflow", ("xla", "threads1"))
    assert row.name == "keras-tensorflow+xla+threads1"
    assert bench.parse_impl("keras-torch+cf+precmedium").options == ("cf", "precmedium")
    for bad in ("keras-mxnet", "pytorch", "torch+fast", "keras-torch+threads"):
        with pytest.raises(ValueError):
            bench.parse_impl(bad)


def test_summarize_best_and_median(bench):
    s = bench.summarize([2.0, 1.0, 4.0], [8, 8, 8])
    assert s == {"best": 8.0, "median": 4.0, "slices": 3}


def test_table_ratios_are_against_plain_torch_with_the_same_threads(bench):
    shape = bench.Shape(16, 64, 1.0, 4)
    rows = [
        {"row": "keras-torch", "threads": 2, "steps": 3, "best": 6.0, "median": 5.0},
        {"row": "torch", "threads": 2, "steps": 3, "best": 4.0, "median": 4.0},
        {"row": "keras-torch+threads1", "threads": 1, "steps": 3, "best": 3.0, "median": 3.0},
        {"row": "torch+threads1", "threads": 1, "steps": 3, "best": 2.0, "median": 1.5},
    ]
    text = bench.format_table(shape, rows)
    assert "16x64x64, width 1, batch 4" in text
    lines = {line.split()[0]: line for line in text.splitlines()[3:]}
    assert lines["keras-torch"].endswith("1.25x, 1.50x of torch")
    assert lines["keras-torch+threads1"].endswith("2.00x, 1.50x of torch+threads1")
    assert lines["torch"].endswith("-")
    names = [r["row"] for r in rows]
    assert bench.reference_row("keras-tensorflow+threads1", names) == "torch+threads1"
    assert bench.reference_row("keras-tensorflow+threads4", names) == "torch"
    assert bench.reference_row("keras-torch+cf+threads1", names) == "torch+threads1"
    names.append("torch+passive")
    assert bench.reference_row("keras-torch+portable+passive", names) == "torch+passive"
    assert bench.reference_row("keras-tensorflow", ["keras-tensorflow"]) is None


def test_machine_info_needs_no_framework(bench):
    info = bench.machine_info()
    assert info["cores"] >= 1 and info["usable_cores"] >= 1
    assert {"cpu", "torch", "tensorflow", "keras", "jax"} <= set(info)


def test_default_rows_are_the_installed_backends(bench):
    rows = [bench.parse_impl(s) for s in bench.default_impls()]
    for r in rows:
        assert r.impl == "torch" or importlib.util.find_spec(r.backend) is not None


@pytest.mark.slow
def test_tiny_interleaved_run(tmp_path):
    """Two workers (Keras on torch, plain torch), one round on 8x32x32 clips."""
    pytest.importorskip("torch")
    out = tmp_path / "bench.json"
    cmd = [
        sys.executable, str(SCRIPT), "--sizes", "32", "--frames", "8", "--width", "0.125",
        "--batch", "2", "--rounds", "2", "--steps", "1", "--warmup", "1", "--no-cpu-preset",
        "--impls", "keras-torch", "torch", "--json", str(out),
    ]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "machine:" in proc.stdout and "vs torch" in proc.stdout
    report = json.loads(out.read_text())
    (shape,) = report["shapes"]
    rows = {r["row"]: r for r in shape["results"]}
    assert set(rows) == {"keras-torch", "torch"}
    for r in rows.values():
        assert r["slices"] == 2 and r["best"] > 0 and len(r["seconds"]) == 2
