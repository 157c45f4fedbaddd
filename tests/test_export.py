"""`python -m trainer export`: all four formats from a fresh process, the sidecar, and the
exported models' reconstructions against the Keras model's (ONNX Runtime, OpenVINO, LiteRT,
SavedModel). Each runtime's tests skip when it is not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
import keras  # noqa: E402

from trainer import checkpoint  # noqa: E402
from trainer.calibration import Calibration, file_sha256  # noqa: E402
from trainer.engines import EngineError  # noqa: E402
from trainer.evaluation import frame_psnr  # noqa: E402
from trainer.export import (  # noqa: E402
    ExportError,
    default_output,
    export_model,
    missing_packages,
)
from trainer.inference import open_engine  # noqa: E402
from trainer.losses import build_dual_loss_autoencoder  # noqa: E402
from trainer.model_files import read_sidecar, sidecar_path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TINY = (8, 16, 16, 1)
FORMATS = ("onnx", "openvino", "litert", "saved_model")
EXPORTABLE = [f for f in FORMATS if not missing_packages(f)]  # onnx, openvino: their extras
# Measured on this model (tests below print nothing; the numbers are in docs/deploying.md):
# ONNX Runtime and OpenVINO at f32 differ from Keras by ~1e-8 here, LiteRT by ~1e-7.
ATOL = 1e-5
PSNR_DB = 1e-3


def tiny_run(root: Path) -> Path:
    """A tiny dual-loss model after one training step, saved as a run saves it, with a
    calibration.json made for it."""
    keras.utils.set_random_seed(0)
    model = build_dual_loss_autoencoder(TINY, width=0.125)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4, *TINY)).astype(np.float32)
    model.fit(x, x, sample_weight=np.array([0, 1, 0, 1], np.float32), epochs=1, verbose=0)
    path = checkpoint.save_final_model(model, root)
    Calibration(
        psnr=rng.uniform(10, 20, 50),
        input_shape=TINY,
        score_index=TINY[0] - 1,
        model=str(path),
        model_sha256=file_sha256(path),
    ).save(root / "calibration.json")
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    """The tiny model exported to every format by `python -m trainer export` in one fresh
    process."""
    root = tmp_path_factory.mktemp("run")
    model = tiny_run(root)
    calls = "; ".join(
        f"assert main(['export', {str(model)!r}, '--format', {f!r}, '--quiet']) == 0"
        for f in EXPORTABLE
    )
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    code = f"from trainer.cli import main; {calls}"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"model": model, **{f: default_output(model, f) for f in FORMATS}}


@pytest.fixture(scope="module")
def clips() -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, (3, *TINY)).astype(np.float32)


@pytest.fixture(scope="module")
def reference(exported, clips) -> np.ndarray:
    return open_engine(exported["model"], "keras").predict(clips)


def assert_close_to_keras(recon: np.ndarray, reference: np.ndarray, clips: np.ndarray, atol):
    assert recon.shape == reference.shape and recon.dtype == np.float32
    np.testing.assert_allclose(recon, reference, atol=atol, rtol=0)
    psnr = frame_psnr(clips, recon)
    np.testing.assert_allclose(psnr, frame_psnr(clips, reference), atol=PSNR_DB, rtol=0)


def needs(fmt: str) -> None:
    if fmt not in EXPORTABLE:
        pytest.skip(f"--format {fmt} needs {missing_packages(fmt)}")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_writes_its_artifact_and_sidecar(exported, fmt):
    needs(fmt)
    model, artifact = exported["model"], exported[fmt]
    files = {
        "onnx": [artifact],
        "openvino": [artifact, artifact.with_suffix(".bin")],
        "litert": [artifact],
        "saved_model": [artifact / "saved_model.pb"],
    }
    assert all(p.is_file() for p in files[fmt])
    calibration = json.loads((model.parent / "calibration.json").read_text())
    meta = read_sidecar(artifact)
    assert meta["artifact"] == artifact.name and meta["artifact_format"] == fmt
    assert meta["input_shape"] == [None, *TINY]
    assert meta["value_range"] == [-1.0, 1.0] and meta["dtype"] == "float32"
    assert meta["clip_len"] == 8 and meta["score_index"] == 4  # T // 2
    assert meta["source_model"] == "model.keras"
    assert meta["source_model_sha256"] == file_sha256(model)
    assert meta["calibration"] == calibration


def test_paper_window_scores_its_ninth_frame(tmp_path):
    from trainer.export import sidecar

    model = tmp_path / "model.keras"
    model.write_bytes(b"only hashed")
    meta = sidecar(model, tmp_path / "model.onnx", "onnx", (16, 64, 64, 1), None, None)
    assert meta["score_index"] == 8 and meta["clip_len"] == 16 and meta["calibration"] is None
    assert meta["source_model_sha256"] == file_sha256(model)


def test_an_existing_artifact_is_not_overwritten(exported):
    needs("onnx")
    before = exported["onnx"].read_bytes()
    with pytest.raises(ExportError, match="would overwrite .*model.onnx.*--overwrite"):
        export_model(exported["model"], "onnx")
    assert exported["onnx"].read_bytes() == before


def test_bad_requests_fail_clearly(exported, tmp_path):
    with pytest.raises(ExportError, match="unknown export format 'tflite'"):
        export_model(exported["model"], "tflite")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_model(tmp_path / "missing.keras", "onnx")
    with pytest.raises(ExportError, match="writes a .xml file; --out .*model.onnx is not one"):
        export_model(exported["model"], "openvino", tmp_path / "model.onnx")
    bad = tmp_path / "bad.keras"
    bad.write_text("not a zip")
    with pytest.raises(ExportError, match="cannot load"):
        export_model(bad, "saved_model", tmp_path / "out")


def test_a_calibration_of_another_model_is_not_embedded(exported, tmp_path):
    model = tmp_path / "model.keras"
    model.write_bytes(exported["model"].read_bytes())
    calibration = json.loads((exported["model"].parent / "calibration.json").read_text())
    calibration["model_sha256"] = "0" * 64  # made with another model file
    (tmp_path / "calibration.json").write_text(json.dumps(calibration))
    with pytest.warns(UserWarning, match="made for another model"):
        artifact = export_model(model, "saved_model")
    assert read_sidecar(artifact)["calibration"] is None


def test_onnx_runtime_equals_keras(exported, clips, reference):
    pytest.importorskip("onnxruntime")
    needs("onnx")
    engine = open_engine(exported["onnx"])
    assert engine.name == "onnxruntime" and engine.input_shape == TINY
    assert_close_to_keras(engine.predict(clips), reference, clips, ATOL)
    assert_close_to_keras(engine.predict(clips[:1]), reference[:1], clips[:1], ATOL)


def test_openvino_at_f32_equals_keras(exported, clips, reference):
    pytest.importorskip("openvino")
    needs("onnx")
    needs("openvino")
    for path in (exported["openvino"], exported["onnx"]):
        engine = open_engine(path, "openvino")
        assert engine.precision == "f32"
        assert_close_to_keras(engine.predict(clips), reference, clips, ATOL)


def litert_interpreter(path: Path):
    """LiteRT's interpreter (``ai-edge-litert``), else TensorFlow's own ``tf.lite``."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806
    return Interpreter(str(path))


def test_litert_equals_keras(exported, clips, reference):
    interpreter = litert_interpreter(exported["litert"])
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    recon = []
    for clip in clips:  # the interpreter's input is allocated for one clip
        interpreter.set_tensor(inp["index"], clip[None])
        interpreter.invoke()
        recon.append(interpreter.get_tensor(out["index"])[0])
    assert_close_to_keras(np.stack(recon), reference, clips, ATOL)


def test_saved_model_equals_keras(exported, clips, reference):
    import tensorflow as tf

    served = tf.saved_model.load(str(exported["saved_model"]))
    recon = np.asarray(served.serve(tf.constant(clips)))
    assert_close_to_keras(recon, reference, clips, ATOL)


def test_sidecar_path_is_the_artifact_name_plus_json(exported):
    needs("onnx")
    needs("openvino")
    assert sidecar_path(exported["onnx"]) == exported["onnx"].with_name("model.onnx.json")
    assert sidecar_path(exported["openvino"]).name == "model.xml.json"


def test_windows_of_another_shape_are_refused(exported):
    pytest.importorskip("onnxruntime")
    needs("onnx")
    engine = open_engine(exported["onnx"])
    with pytest.raises(EngineError, match=r"\(1, 8, 16, 16, 3\) do not fit.*\(B, 8, 16, 16, 1\)"):
        engine.predict(np.zeros((1, 8, 16, 16, 3), np.float32))


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args], env=env, cwd=cwd, capture_output=True, text=True
    )


@pytest.mark.slow
def test_score_and_calibrate_take_the_onnx_export_and_match_keras(exported, tmp_path):
    """The commands run an exported model through its engine and name it on the startup
    line; the scores equal the Keras model's."""
    needs("onnx")
    import cv2

    frames = tmp_path / "video"
    frames.mkdir()
    rng = np.random.default_rng(2)
    for i in range(20):
        cv2.imwrite(str(frames / f"{i:03d}.png"), rng.integers(0, 256, TINY[1:3], np.uint8))
    model, onnx = exported["model"], exported["onnx"]
    outs = {}
    for name, path in (("keras", model), ("onnx", onnx)):
        out = tmp_path / f"score-{name}"
        proc = run_cli(
            "score",
            str(frames),
            "--model",
            str(path),
            "--out",
            str(out),
            "--fpr",
            "0.05",
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert f"engine {'keras' if name == 'keras' else 'onnxruntime'}" in proc.stdout
        outs[name] = np.genfromtxt(out / "scores.csv", delimiter=",", names=True)["psnr"]
    ok = ~np.isnan(outs["keras"])
    assert ok.sum() > 0
    np.testing.assert_allclose(outs["onnx"][ok], outs["keras"][ok], atol=PSNR_DB, rtol=0)
    cal = tmp_path / "cal.json"
    proc = run_cli(
        "calibrate", str(onnx), "--normal", str(frames), "--out", str(cal), "--quiet", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # the calibration names the .keras model the export stands for
    assert json.loads(cal.read_text())["model_sha256"] == file_sha256(model)
