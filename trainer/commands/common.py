"""What several commands share: the error type, the backend start-up, the calibration options."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from trainer import backend

__all__ = [
    "EXIT_USAGE",
    "CLIError",
    "add_calibration_arguments",
    "announce",
    "delay_for",
    "load_calibration",
    "settle_backend",
    "uncalibrated_note",
]

EXIT_USAGE = 2
"""Exit code of bad input: an ``error: ...`` line on stderr."""


class CLIError(ValueError):
    """A problem with the command line itself (reported like any other input error)."""


def settle_backend(strategy: str = "default") -> None:
    """Before Keras is imported: tensorflow for a ``tf.distribute`` strategy (unless the user
    chose another backend: an error); then check that the backend's package is installed."""
    if strategy != "default":
        backend.require_tensorflow(f"strategy {strategy!r}")
    backend.check_installed()


def announce(quiet: bool) -> dict[str, Any]:
    """The startup line: which Keras backend, on which device (imports Keras); returns
    :func:`trainer.backend.info`."""
    details = backend.info()
    if not quiet:
        print(backend.describe(details), flush=True)
    return details


def add_calibration_arguments(p: argparse.ArgumentParser) -> None:
    """``--calibration`` and ``--fpr`` (``score`` and ``watch``)."""
    p.add_argument(
        "--calibration",
        help="calibration file (default: calibration.json next to the model, when present)",
    )
    p.add_argument(
        "--fpr",
        type=float,
        default=0.01,
        help="target false-alarm rate on normal frames for the alarms (default 0.01)",
    )


def load_calibration(args: argparse.Namespace, input_shape: Any):
    """The calibration ``--calibration`` names, else the model's ``calibration.json`` when
    there is one, else ``None``; checked against the model's input shape and ``--fpr``."""
    from trainer.calibration import Calibration, default_calibration_path

    path = args.calibration or default_calibration_path(args.model)
    if args.calibration is None and not Path(path).is_file():
        return None
    calibration = Calibration.load(path)
    calibration.check_model(input_shape, args.model)
    calibration.threshold(args.fpr)  # a bad --fpr fails before scoring
    return calibration


def delay_for(args: argparse.Namespace, calibration) -> int:
    """``--delay``, which must agree with the calibration's when there is one."""
    if calibration is None:
        return 0 if args.delay is None else args.delay
    if args.delay is not None and args.delay != calibration.delay:
        raise CLIError(
            f"--delay {args.delay}: the calibration scores with delay {calibration.delay}; "
            f"calibrate again with --delay {args.delay} or leave --delay out"
        )
    return calibration.delay


def uncalibrated_note(args: argparse.Namespace) -> str:
    """What ``score`` and ``watch`` say when the model has no calibration."""
    from trainer.calibration import default_calibration_path

    return (
        f"uncalibrated: no {default_calibration_path(args.model)}, so psnr has no threshold "
        f"and nothing is flagged (python -m trainer calibrate {args.model} --normal PATH)"
    )


def add_engine_argument(p: argparse.ArgumentParser) -> None:
    """``--engine``: which runtime scores the model (:mod:`trainer.engines`)."""
    from trainer.inference import ENGINES

    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="runtime that scores the model (default auto: Keras for a .keras file, ONNX "
        "Runtime for .onnx, OpenVINO for .xml; onnxruntime/openvino on a .keras file use its "
        "export beside it, or make one in a temporary folder)",
    )


def open_model(args: argparse.Namespace):
    """The predictor of ``args.model`` under ``args.engine``, its engine named on the
    startup line unless ``--quiet``."""
    from trainer.inference import load_predictor

    predictor = load_predictor(args.model, args.engine)
    if not args.quiet:
        print(predictor.describe(), flush=True)
    return predictor
