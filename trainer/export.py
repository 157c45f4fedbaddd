"""Export a trained model for other runtimes: ``python -m trainer export MODEL --format ...``.

One Keras call writes the artifact (``keras.Model.export``, on the TensorFlow backend):

========== ======================== ==================================================
format     artifact (default name)  runs in
========== ======================== ==================================================
onnx       ``model.onnx``           ONNX Runtime (Python, C++, C#, Java, JS), OpenVINO
openvino   ``model.xml`` + ``.bin`` OpenVINO
litert     ``model.tflite``         LiteRT (TensorFlow Lite) on phones and boards
saved_model ``model_saved_model/``  TensorFlow Serving, TensorFlow in any language
========== ======================== ==================================================

Beside the artifact goes ``<artifact>.json`` (the sidecar), which makes it self-describing:
the input shape and layout, the value range and how pixels map to it, ``T``, the index in the
window of the frame a window scores, the source model's SHA-256 and, when one exists, the
calibration (embedded whole, so the two files are all a service needs). The batch axis of
every artifact is dynamic.

Nothing is overwritten unless asked (``overwrite=True``, ``--overwrite``); files are written
to a temporary folder beside the target and moved into place when complete.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from trainer.model_files import SIDECAR_FORMAT, file_sha256, sidecar_path

__all__ = [
    "FORMATS",
    "ExportError",
    "default_output",
    "export_model",
    "export_to_temp",
    "missing_packages",
]

# format -> (suffix of the default artifact name, keras.Model.export's format)
FORMATS: dict[str, tuple[str, str]] = {
    "onnx": (".onnx", "onnx"),
    "openvino": (".xml", "openvino"),
    "litert": (".tflite", "litert"),
    "saved_model": ("_saved_model", "tf_saved_model"),
}

# What each format needs installed besides TensorFlow and Keras.
_NEEDS: dict[str, tuple[tuple[str, str], ...]] = {
    "onnx": (("tf2onnx", "onnx"), ("onnx", "onnx")),
    "openvino": (("openvino", "openvino"),),
    "litert": (),
    "saved_model": (),
}

SIDECAR_VERSION = 1


class ExportError(ValueError):
    """An unknown format, a target that exists, or a model that cannot be exported."""


def default_output(model_path: str | os.PathLike, format: str) -> Path:
    """The artifact beside the model: ``model.keras`` -> ``model.onnx``, ``model.xml``,
    ``model.tflite`` or ``model_saved_model/``."""
    _check_format(format)
    model_path = Path(model_path)
    suffix = FORMATS[format][0]
    if suffix.startswith("."):
        return model_path.with_suffix(suffix)
    return model_path.with_name(model_path.stem + suffix)


def _check_format(format: str) -> None:
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")


def missing_packages(format: str) -> list[tuple[str, str]]:
    """``(module, extra that installs it)`` for each package ``format`` needs and lacks."""
    import importlib.util

    _check_format(format)
    return [(m, extra) for m, extra in _NEEDS[format] if importlib.util.find_spec(m) is None]


def _check_installed(format: str) -> None:
    for module, extra in missing_packages(format):
        raise ExportError(
            f"--format {format} needs the {module!r} package, which is not installed: "
            f'pip install "pseudoanom[{extra}]"'
        )


def artifact_files(artifact: Path, format: str) -> list[Path]:
    """Every path an export to ``artifact`` writes (the sidecar included)."""
    files = [artifact, sidecar_path(artifact)]
    if format == "openvino":
        files.append(artifact.with_suffix(".bin"))
    return files


def _load_plain(model_path: Path):
    """The model as Keras' own layers (what ``Model.export`` converts best), called once
    (the ONNX export needs a model that has run)."""
    import keras
    import numpy as np

    import trainer.losses  # noqa: F401  (registers the training class of older files)
    from trainer.model import to_plain_keras

    try:
        model = keras.saving.load_model(model_path, safe_mode=True)
    except Exception as e:  # Keras raises ValueError, OSError, zipfile errors, ...
        raise ExportError(f"cannot load {model_path} as a Keras model: {e}") from None
    shape = tuple(model.input_shape)
    if len(shape) != 5 or not all(isinstance(v, int) for v in shape[1:]):
        raise ExportError(f"{model_path}: input shape {shape} is not (batch, T, H, W, C)")
    plain = to_plain_keras(model)
    plain(np.zeros((1, *shape[1:]), np.float32), training=False)
    return plain


def _calibration_for(model_path: Path, digest: str, calibration: str | os.PathLike | None):
    """The calibration's JSON form to embed, and its path (or ``(None, None)``)."""
    from trainer.calibration import Calibration, default_calibration_path

    path = Path(calibration) if calibration is not None else default_calibration_path(model_path)
    if calibration is None and not path.is_file():
        return None, None
    cal = Calibration.load(path)
    if cal.model_sha256 and cal.model_sha256 != digest:
        warnings.warn(
            f"{path} was made for another model file ({cal.model}); not embedded: recalibrate "
            f"{model_path} and export again",
            UserWarning,
            stacklevel=3,
        )
        return None, None
    return json.loads(path.read_text()), path  # as written: the exact sample


def sidecar(
    model_path: Path,
    artifact: Path,
    format: str,
    input_shape: tuple[int, ...],
    calibration: dict[str, Any] | None,
    calibration_path: Path | None,
) -> dict[str, Any]:
    """The JSON that describes an exported model."""
    import keras

    from trainer.calibration import score_index_for
    from trainer.writers import git_commit

    t = int(input_shape[0])
    return {
        "format": SIDECAR_FORMAT,
        "version": SIDECAR_VERSION,
        "artifact": artifact.name,
        "artifact_format": format,
        "input_shape": [None, *(int(v) for v in input_shape)],
        "layout": "NTHWC: batch, frames, height, width, channels (1 = gray, 3 = RGB)",
        "dtype": "float32",
        "value_range": [-1.0, 1.0],
        "preprocessing": "each frame: gray (C=1) or RGB (C=3), resized to H x W with "
        "cv2.INTER_AREA, then x = pixel / 127.5 - 1",
        "output": "the reconstruction, same shape and range as the input",
        "clip_len": t,
        "score_index": score_index_for(t, t - 1 - t // 2),
        "score_index_doc": "the window scores its frame score_index (0-based; the paper's "
        "centred window, used by `evaluate`): PSNR of that frame against its reconstruction "
        "on the [0, 1] scale, 10 log10(1 / MSE); lower = more anomalous. A calibration "
        "carries its own score_index (T - 1 = causal, what `watch` uses by default)",
        "source_model": model_path.name,
        "source_model_sha256": file_sha256(model_path),
        "calibration": calibration,
        "calibration_file": None if calibration_path is None else str(calibration_path),
        "keras_version": keras.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "commit": git_commit(),
    }


def export_model(
    model_path: str | os.PathLike,
    format: str,
    out: str | os.PathLike | None = None,
    *,
    overwrite: bool = False,
    calibration: str | os.PathLike | None = None,
) -> Path:
    """Export a ``.keras`` model and write its sidecar JSON beside the artifact.

    Parameters
    ----------
    model_path : str or os.PathLike
        A run's ``model.keras`` (or a checkpoint).
    format : str
        ``"onnx"``, ``"openvino"``, ``"litert"`` or ``"saved_model"``.
    out : str, os.PathLike or None
        The artifact's path; ``None``: :func:`default_output`.
    overwrite : bool
        Replace an existing artifact (and its sidecar).
    calibration : str, os.PathLike or None
        A calibration file to embed; ``None``: ``calibration.json`` beside the model, when
        there is one made for this model file.

    Returns
    -------
    pathlib.Path
        The artifact (its sidecar is ``<artifact>.json``).

    Raises
    ------
    FileNotFoundError
        No model file.
    ExportError
        Unknown format, a missing exporter package, an existing target without
        ``overwrite``, or a file that is not a model of this trainer.
    """
    _check_format(format)
    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"model file {model_path} does not exist")
    artifact = Path(out) if out is not None else default_output(model_path, format)
    suffix = FORMATS[format][0]
    if suffix.startswith(".") and artifact.suffix.lower() != suffix:
        raise ExportError(f"--format {format} writes a {suffix} file; --out {artifact} is not one")
    existing = [p for p in artifact_files(artifact, format) if p.exists()]
    if existing and not overwrite:
        raise ExportError(
            f"the export would overwrite {', '.join(map(str, existing))}: pass --overwrite "
            f"(overwrite=True) to replace them, or choose another --out"
        )
    _check_installed(format)
    from trainer import backend

    backend.require_tensorflow(f"export --format {format}")
    digest = file_sha256(model_path)
    embedded, cal_path = _calibration_for(model_path, digest, calibration)
    model = _load_plain(model_path)
    artifact.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{artifact.name}.", dir=artifact.parent))
    try:
        staged = staging / artifact.name
        model.export(str(staged), format=FORMATS[format][1], verbose=False)
        meta = sidecar(model_path, artifact, format, model.input_shape[1:], embedded, cal_path)
        sidecar_path(staged).write_text(json.dumps(meta, indent=1, allow_nan=False) + "\n")
        for src, dst in zip(
            artifact_files(staged, format), artifact_files(artifact, format), strict=True
        ):
            if dst.is_dir():
                shutil.rmtree(dst)
            os.replace(src, dst)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return artifact


def export_to_temp(model_path: str | os.PathLike, format: str) -> Path:
    """Export into a temporary folder removed at exit (an engine asked for explicitly on a
    ``.keras`` model with no export beside it)."""
    folder = Path(tempfile.mkdtemp(prefix="pseudoanom-export-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return export_model(model_path, format, folder / default_output(model_path, format).name)
