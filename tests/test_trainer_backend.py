"""Which Keras backend the trainer picks (``trainer.backend``) and the CLI's startup line.

The choice happens once per process, before Keras is imported, so everything that depends on
the environment runs in a subprocess with ``KERAS_BACKEND`` removed or set. The in-process
suite itself is pinned to TensorFlow by ``tests/conftest.py``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainer import backend

REPO = Path(__file__).resolve().parents[1]
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_TF = importlib.util.find_spec("tensorflow") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="needs torch")
needs_tf = pytest.mark.skipif(not HAS_TF, reason="needs tensorflow")


def run(args: list[str], keras_backend: str | None = None, timeout: int = 300, cwd=None):
    """``python ARGS`` with ``KERAS_BACKEND`` removed (``None``) or set."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    if keras_backend is not None:
        env["KERAS_BACKEND"] = keras_backend
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(cwd or REPO),
        timeout=timeout,
    )


# ---------------------------------------------------------------------- the rules, in process


@pytest.fixture
def fresh(monkeypatch):
    """``trainer.backend`` as in a new process: nothing chosen yet, Keras not imported."""
    monkeypatch.setattr(backend, "_auto", None)
    monkeypatch.setattr(backend, "_why", "")
    monkeypatch.setattr(backend, "_keras_backend_if_imported", lambda: None)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    return monkeypatch


def fake_installed(monkeypatch, *modules: str) -> None:
    monkeypatch.setattr(backend, "installed", lambda m: m in modules)


def fake_device(monkeypatch, gpu: bool, platform: str = "linux") -> None:
    monkeypatch.setattr(backend, "_nvidia_gpu_present", lambda: gpu)
    monkeypatch.setattr(backend.sys, "platform", platform)


def test_default_on_a_cpu_is_tensorflow_then_torch(fresh):
    fake_installed(fresh, "torch", "tensorflow")
    fake_device(fresh, gpu=False)
    assert backend.select() == "tensorflow" == os.environ["KERAS_BACKEND"]
    assert backend.user_choice() is None
    assert backend.source() == "default on a CPU: tensorflow"
    assert backend.select() == "tensorflow"  # idempotent


def test_default_on_a_cpu_without_tensorflow_is_torch(fresh):
    fake_installed(fresh, "torch")
    fake_device(fresh, gpu=False)
    assert backend.select() == "torch"
    assert backend.source() == "default on a CPU: torch (tensorflow missing)"


@pytest.mark.parametrize("gpu, platform", [(True, "linux"), (False, "darwin")])
def test_default_on_a_gpu_or_mac_is_torch_then_tensorflow(fresh, gpu, platform):
    fake_device(fresh, gpu=gpu, platform=platform)
    fake_installed(fresh, "torch", "tensorflow")
    assert backend.select() == "torch" and backend.source() == "default on a GPU: torch"
    fresh.setattr(backend, "_auto", None)
    fresh.delenv("KERAS_BACKEND")
    fake_installed(fresh, "tensorflow")
    assert backend.select() == "tensorflow"


def test_user_choice_always_wins(fresh):
    fake_installed(fresh, "torch", "tensorflow", "jax")
    fake_device(fresh, gpu=False)
    fresh.setenv("KERAS_BACKEND", "jax")
    assert backend.select() == "jax" and backend.source() == "KERAS_BACKEND"
    fresh.setenv("KERAS_BACKEND", "")  # empty counts as unset, as in Keras
    assert backend.select() == "tensorflow"


def test_keras_imported_first_keeps_its_backend(fresh):
    fresh.setattr(backend, "_keras_backend_if_imported", lambda: "tensorflow")
    fake_installed(fresh, "torch", "tensorflow")
    assert backend.select() == "tensorflow" and "KERAS_BACKEND" not in os.environ
    backend.require_tensorflow("strategy 'mirrored'")  # already TensorFlow: fine
    fresh.setattr(backend, "_keras_backend_if_imported", lambda: "torch")
    with pytest.raises(backend.BackendError, match="already runs on 'torch'"):
        backend.require_tensorflow("strategy 'mirrored'")


def test_strategy_switches_an_automatic_choice_to_tensorflow(fresh):
    fake_installed(fresh, "torch", "tensorflow")
    backend.select()
    backend.require_tensorflow("strategy 'mirrored'")
    assert os.environ["KERAS_BACKEND"] == "tensorflow"
    assert backend.source() == "strategy 'mirrored' needs tensorflow"


def test_strategy_refuses_a_backend_the_user_chose(fresh):
    fake_installed(fresh, "torch", "tensorflow")
    fresh.setenv("KERAS_BACKEND", "torch")
    with pytest.raises(backend.BackendError, match="KERAS_BACKEND=torch; set KERAS_BACKEND"):
        backend.require_tensorflow("strategy 'mirrored'")
    assert os.environ["KERAS_BACKEND"] == "torch"
    fresh.setenv("KERAS_BACKEND", "tensorflow")
    backend.require_tensorflow("strategy 'mirrored'")  # what was asked for: fine


def test_strategy_without_tensorflow_names_the_package(fresh):
    fake_installed(fresh, "torch")
    with pytest.raises(backend.BackendError, match="pip install tensorflow"):
        backend.require_tensorflow("strategy 'multiworker'")


def test_missing_or_unknown_backend_is_a_clear_error(fresh):
    fake_installed(fresh, "torch", "tensorflow")
    fresh.setenv("KERAS_BACKEND", "jax")
    with pytest.raises(backend.BackendError, match=r"'jax' package is not installed.*torch"):
        backend.check_installed()
    fresh.setenv("KERAS_BACKEND", "pytorch")
    with pytest.raises(backend.BackendError, match="not a Keras backend"):
        backend.check_installed()


def test_describe_formats_info():
    line = backend.describe(
        {"backend": "torch", "version": "2.13.0", "device": "cuda:0 NVIDIA H200",
         "source": "default on a GPU: torch"}
    )  # fmt: skip
    assert line == "keras backend torch 2.13.0 on cuda:0 NVIDIA H200 [default on a GPU: torch]"


@needs_tf
def test_info_in_this_process():
    d = backend.info()  # the suite runs on TensorFlow (conftest) unless told otherwise
    assert d["backend"] == os.environ.get("KERAS_BACKEND", d["backend"])
    assert d["version"] and d["keras"] and d["device"]
    assert backend.describe(d).startswith(f"keras backend {d['backend']} ")


# ---------------------------------------------------------------------- real processes

PROBE = """
import os, sys, trainer
print(os.environ.get("KERAS_BACKEND"))
assert "keras" not in sys.modules
import keras, numpy as np
print(keras.config.backend())
from trainer.losses import build_dual_loss_autoencoder
from trainer.inference import predict_fn
model = build_dual_loss_autoencoder((8, 16, 16, 1), width=0.125)
x = np.random.default_rng(0).uniform(-1, 1, (3, 8, 16, 16, 1)).astype("float32")
print(float(np.abs(predict_fn(model)(x) - np.asarray(model.predict_on_batch(x))).max()))
"""


def _expected_default() -> str:
    """What an unset KERAS_BACKEND becomes on this machine (see default_backend)."""
    return backend.default_backend()[0]


def test_import_trainer_picks_the_device_default_when_unset():
    proc = run(["-c", PROBE])
    assert proc.returncode == 0, proc.stderr[-2000:]
    chosen, keras_backend, _ = proc.stdout.split()
    assert chosen == keras_backend == _expected_default()  # chosen, then what Keras runs on


@needs_torch
def test_torch_predict_fn_equals_predict_on_batch():
    proc = run(["-c", PROBE], keras_backend="torch")
    assert proc.returncode == 0, proc.stderr[-2000:]
    chosen, keras_backend, delta = proc.stdout.split()
    assert chosen == keras_backend == "torch"
    assert float(delta) < 1e-6  # the inference-mode predict_fn == predict_on_batch


def test_keras_backend_from_the_user_is_kept():
    code = "import os, trainer; print(os.environ['KERAS_BACKEND'])"
    proc = run(["-c", code], keras_backend="tensorflow")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["tensorflow"]


@needs_tf
def test_cli_mirrored_strategy_picks_tensorflow():
    code = (
        "import os; from trainer.commands.common import settle_backend; "
        "settle_backend('multiworker'); "
        "from trainer import backend; print(os.environ['KERAS_BACKEND'], backend.source())"
    )
    proc = run(["-c", code])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "tensorflow strategy 'multiworker' needs tensorflow"


def test_cli_explicit_torch_with_mirrored_is_one_clear_error(tmp_path):
    args = ["-m", "trainer", "train", "--preset", "smoke", "--strategy", "mirrored"]
    proc = run([*args, "--out", str(tmp_path / "r")], keras_backend="torch")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "KERAS_BACKEND=torch" in errors[0]
    assert "needs the TensorFlow Keras backend" in errors[0]
    assert not (tmp_path / "r").exists()  # refused before anything was written


@pytest.mark.skipif(importlib.util.find_spec("jax") is not None, reason="jax is installed")
def test_jax_not_installed_fails_at_once_naming_the_package(tmp_path):
    proc = run(["-m", "trainer.speed", "--preset", "smoke"], keras_backend="jax")
    assert proc.returncode == 2
    assert "'jax' package is not installed (pip install jax)" in proc.stderr


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from trainer.synthetic import make_synthetic_dataset

    root = tmp_path_factory.mktemp("backend") / "tiny"
    return make_synthetic_dataset(root, n_train=2, n_test=2, frames=40, size=(32, 32), seed=0)


@pytest.mark.slow
def test_train_end_to_end_under_the_default_backend(tiny, tmp_path):
    out = tmp_path / "run"
    args = ["-m", "trainer", "train", "--preset", "smoke", "--data", str(tiny)]
    proc = run([*args, "--out", str(out), "--set", f"cache_dir={tmp_path / 'cache'}"])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    first = proc.stdout.splitlines()[0]
    want = _expected_default()
    assert first.startswith(f"keras backend {want} ") and "[default on a " in first
    assert (out / "model.keras").is_file()
    if HAS_TF and importlib.util.find_spec("tensorboard") is not None:
        assert list((out / "logs" / "train").glob("events.out.tfevents.*"))
    summary = json.loads((out / "evaluation" / "summary.json").read_text())
    assert summary["backend"]["backend"] == want and 0 <= summary["micro_auc"] <= 1
    # Evaluation progress on stderr (not a terminal here: a start and an end line).
    assert "scoring 2 videos: 50 windows" in proc.stderr
    assert "scored 50 frames of 2 videos in" in proc.stderr


@pytest.mark.slow
@needs_torch
def test_bench_prints_the_backend_first(tiny, tmp_path):
    args = ["-m", "trainer.speed", "--preset", "smoke", "--data", str(tiny), "--steps", "1"]
    args += ["--batches", "2", "--eval-videos", "0", "--set", f"cache_dir={tmp_path / 'cache'}"]
    proc = run(args, keras_backend="torch")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("keras backend torch ")
    assert any(ln.startswith("input pipeline ") for ln in lines)  # the threaded generator
    assert any(ln.startswith("training ") for ln in lines)
    assert "training: 3 warm-up steps" in proc.stderr
