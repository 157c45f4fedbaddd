"""Run every example in its fastest mode as a subprocess and check what it prints.

Each example is a script (``python examples/<name>.py --quick``); these tests run it from the
repository root with the repository on ``PYTHONPATH`` (so they work without an install), a
temporary cache directory where the example takes one, and a timeout, then check the exit code
and the measurement lines. The whole file takes well under a minute and a half on 2 CPU cores.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_TF = importlib.util.find_spec("tensorflow") is not None and (
    importlib.util.find_spec("keras") is not None
)
needs_tf = pytest.mark.skipif(not HAS_TF, reason="needs the trainer extra (tensorflow, keras)")


def run_example(name: str, *args: str, timeout: float = 120) -> str:
    """Run ``examples/<name>`` with ``args``; assert exit code 0 and return stdout + stderr."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{name} {' '.join(args)} exited {proc.returncode}:\n{out[-4000:]}"
    return out


def test_every_example_has_a_test() -> None:
    tested = {
        "albumentations_pipeline.py",
        "custom_transform.py",
        "keras_frame_autoencoder.py",
        "torch_dataloader.py",
    }
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


@pytest.mark.slow
@needs_tf
def test_keras_frame_autoencoder(tmp_path: Path) -> None:
    out = run_example("keras_frame_autoencoder.py", "--quick", "--cache-dir", str(tmp_path))
    results = re.findall(r"^RESULT p=(\S+) .*final_loss=(\S+) micro_auc=(\S+) .*$", out, re.M)
    assert [p for p, _, _ in results] == ["0.00", "0.20"], out
    for _, loss, auc in results:
        assert float(loss) > 0 and 0.0 <= float(auc) <= 1.0
    assert re.search(r"p=0\.20 step +\d+/\d+: loss", out)


def test_albumentations_pipeline(tmp_path: Path) -> None:
    out = run_example("albumentations_pipeline.py", "--quick", "--cache-dir", str(tmp_path))
    checks = re.findall(r"^CHECK (.+): (OK|FAILED)", out, re.M)
    assert len(checks) == 5 and all(status == "OK" for _, status in checks), out
    m = re.search(r"^RESULT clips=40 normal=(\d+) smoothmix_s=(\d+) skip_frame=(\d+)", out, re.M)
    assert m and sum(map(int, m.groups())) == 40, out


@pytest.mark.slow
@needs_tf
def test_custom_transform_trains_through_the_api() -> None:
    out = run_example("custom_transform.py", "--quick")
    assert "frame_freeze" in re.search(r"^registered transforms: (.*)$", out, re.M).group(1)
    assert "frozen=True, replay identical=True" in out
    m = re.search(r"^RESULT trained with frame_freeze: micro_auc=(\S+)", out, re.M)
    assert m and 0.0 <= float(m.group(1)) <= 1.0, out


@pytest.mark.slow
@needs_tf
def test_custom_transform_through_the_trainer_cli(tmp_path: Path) -> None:
    # The plain trainer command: the YAML's `imports:` registers frame_freeze in that process.
    run_dir = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, "-m", "trainer", "train", "--config", "examples/custom_transform.yaml"]
    cmd += ["--out", str(run_dir), "--epochs", "1", "--set", "steps_per_epoch=2", "--quiet"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = (run_dir / "config.yaml").read_text()
    assert "frame_freeze" in config and "examples.custom_transform" in config
    assert (run_dir / "evaluation" / "summary.json").is_file()
    # Without the import the name is unknown: a one-line error, exit code 2.
    bad = [*cmd[:4], "--preset", "smoke", "--transform", "frame_freeze", "--out", "x"]
    proc = subprocess.run(bad, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2 and "frame_freeze" in proc.stderr


def test_custom_transform_library_part_only() -> None:
    out = run_example("custom_transform.py", "--no-train")
    assert "frozen=True, replay identical=True" in out
    assert "FrameFreeze(min_frames=3, max_frames=5" in out


@pytest.mark.skipif(HAS_TORCH, reason="PyTorch is installed: the full run is tested instead")
def test_torch_dataloader_skips_without_torch() -> None:
    out = run_example("torch_dataloader.py", "--quick", timeout=60)
    assert "PyTorch not installed, skipping" in out


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed (pip install '.[torch]')")
def test_torch_dataloader(tmp_path: Path) -> None:
    out = run_example("torch_dataloader.py", "--quick", "--cache-dir", str(tmp_path))
    assert re.search(r"^CHECK duplicated draws across 2 workers: 0 of \d+ pseudo$", out, re.M)
    assert "CHECK same draws with 0 and 2 workers: True" in out
    m = re.search(r"^CHECK naive dataset .*: (\d+) duplicated draws$", out, re.M)
    assert m and int(m.group(1)) > 0, out
    assert re.search(r"^epoch 1/1: loss normal \S+ \(\d+ clips\), pseudo \S+", out, re.M)
    assert re.search(r"^RESULT ", out, re.M)
