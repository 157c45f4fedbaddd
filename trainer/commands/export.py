"""``python -m trainer export MODEL --format onnx|openvino|litert|saved_model [--out PATH]``:
a model for ONNX Runtime, OpenVINO, LiteRT or TensorFlow Serving, with a sidecar JSON
(:mod:`trainer.export`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

NAME = "export"
HELP = "export a model for ONNX Runtime, OpenVINO, LiteRT or TensorFlow Serving"
DESCRIPTION = (
    "Writes the model in another format and, beside it, <artifact>.json: input shape, value "
    "range, T, the scored frame, the source model's SHA-256 and its calibration when there is "
    "one. score, evaluate, calibrate and watch take the artifact as --model."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``export`` command's arguments."""
    from trainer.export import FORMATS

    parser.add_argument("model", help="a run's model.keras")
    parser.add_argument("--format", required=True, choices=list(FORMATS), help="artifact type")
    parser.add_argument(
        "--out",
        help="artifact path (default beside the model: model.onnx, model.xml + model.bin, "
        "model.tflite or model_saved_model/); its sidecar JSON is <artifact>.json",
    )
    parser.add_argument(
        "--calibration",
        help="calibration file to embed in the sidecar (default: calibration.json beside "
        "the model, when it was made for this model)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing artifact")
    parser.add_argument("--quiet", action="store_true", help="no messages")


def run(args: argparse.Namespace) -> int:
    """Export ``args.model``; errors are raised (``ExportError`` is a ``ValueError``)."""
    from trainer.export import export_model
    from trainer.model_files import sidecar_path

    t0 = time.perf_counter()
    artifact = export_model(
        args.model, args.format, args.out, overwrite=args.overwrite, calibration=args.calibration
    )
    if not args.quiet:
        size = sum(p.stat().st_size for p in _files(artifact)) / 1e6
        print(
            f"exported {args.model} -> {artifact} ({size:.1f} MB) and {sidecar_path(artifact)} "
            f"in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
    return 0


def _files(artifact: Path) -> list[Path]:
    if artifact.is_dir():
        return [p for p in artifact.rglob("*") if p.is_file()]
    bin_file = artifact.with_suffix(".bin")
    return [artifact] + ([bin_file] if artifact.suffix == ".xml" and bin_file.is_file() else [])
