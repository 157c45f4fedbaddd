"""trainer.engines: which engine `open_engine` picks for a file, and the errors it gives."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from trainer.engines import EngineError, base, installed_engines  # noqa: E402
from trainer.engines.keras_engine import KerasEngine  # noqa: E402
from trainer.export import export_model  # noqa: E402
from trainer.inference import open_engine  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny run's model.keras with an ONNX export beside it."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    from test_export import tiny_run

    model = tiny_run(tmp_path_factory.mktemp("run"))
    export_model(model, "onnx")
    return model


def test_auto_runs_a_keras_model_in_keras_and_an_export_in_its_runtime(run):
    assert isinstance(open_engine(run), KerasEngine)
    engine = open_engine(run.with_suffix(".onnx"))
    assert engine.name == "onnxruntime" and engine.path == run.with_suffix(".onnx")
    assert "onnxruntime" in engine.describe() and engine.info()["precision"] == "f32"


def test_an_explicit_engine_uses_the_up_to_date_export_beside_the_model(run, tmp_path):
    assert open_engine(run, "onnxruntime").path == run.with_suffix(".onnx")
    copy = tmp_path / "model.keras"
    copy.write_bytes(run.read_bytes())
    (tmp_path / "model.onnx").write_bytes(run.with_suffix(".onnx").read_bytes())
    meta = json.loads(base.sidecar_path(run.with_suffix(".onnx")).read_text())
    meta["source_model_sha256"] = "0" * 64  # exported from another model file
    base.sidecar_path(tmp_path / "model.onnx").write_text(json.dumps(meta))
    assert base.exported_twin(copy, "onnxruntime") is None
    assert open_engine(copy, "onnxruntime").path.parent != tmp_path  # a fresh export


def test_explicit_engines(run):
    assert open_engine(run, "keras").name == "keras"
    assert open_engine(run.with_suffix(".onnx"), "onnxruntime").name == "onnxruntime"
    with pytest.raises(EngineError, match="engine 'keras' cannot run model.onnx"):
        open_engine(run.with_suffix(".onnx"), "keras")
    with pytest.raises(EngineError, match="unknown engine 'tensorrt'"):
        open_engine(run, "tensorrt")


def test_an_explicit_fast_engine_exports_a_keras_model_without_twin(run, tmp_path, clips):
    alone = tmp_path / "alone.keras"
    alone.write_bytes(run.read_bytes())
    engine = open_engine(alone, "onnxruntime")
    assert engine.name == "onnxruntime" and engine.path.parent != tmp_path
    assert not (tmp_path / "alone.onnx").exists()  # nothing written beside the model
    keras_engine = open_engine(alone, "keras")
    np.testing.assert_allclose(engine(clips), keras_engine(clips), atol=1e-5, rtol=0)


@pytest.fixture
def clips() -> np.ndarray:
    return np.random.default_rng(2).uniform(-1, 1, (2, 8, 16, 16, 1)).astype(np.float32)


def test_files_no_engine_reads(tmp_path):
    weights = tmp_path / "model.weights.h5"
    weights.write_bytes(b"")
    with pytest.raises(EngineError, match="no engine reads '.h5' files"):
        open_engine(weights)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_engine(tmp_path / "missing.onnx")


def test_a_missing_runtime_names_the_extra(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("onnxruntime", "openvino") else real(name, *a),
    )
    assert installed_engines() == ["keras"]
    model = tmp_path / "model.onnx"
    model.write_bytes(b"")
    with pytest.raises(EngineError, match=r'pip install "pseudoanom\[onnx\]"'):
        open_engine(model)
    with pytest.raises(EngineError, match=r'pip install "pseudoanom\[openvino\]"'):
        open_engine(model.with_suffix(".xml").write_bytes(b"") or model.with_suffix(".xml"))


def test_an_export_stands_for_its_source_model(run):
    digest = base.file_sha256(run)
    assert base.source_model_sha256(run) == digest
    assert base.source_model_sha256(run.with_suffix(".onnx")) == digest
