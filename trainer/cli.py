"""Command line: ``python -m trainer`` / ``pseudoanom-train``.

Subcommands::

    train           train (and evaluate) a model; --resume continues an interrupted run
    evaluate        score a saved .keras model on a dataset's test split (CSV, JSON, plots)
    score           per-frame PSNR / anomaly score of one video file or frame folder;
                    calibrated scores and alarms when the model has a calibration
    calibrate       record the error distribution of held-out normal videos
                    (``<run>/calibration.json``, see :mod:`trainer.calibration`)
    watch           score a video file, camera or stream as it arrives (:mod:`trainer.stream`)
    make-synthetic  write the embedded synthetic dataset to a folder

Bad input (missing dataset, unknown config key, bad value, a run directory that would be
overwritten, a Keras backend that cannot do what was asked) prints one ``error: ...`` line on
stderr and exits with code 2. Set ``TRAINER_DEBUG=1`` to get the traceback instead.

The Keras backend is ``KERAS_BACKEND`` when set, else tensorflow on a CPU and torch on a
machine with an NVIDIA GPU (each when installed); ``--strategy mirrored|multiworker`` takes
tensorflow (see :mod:`trainer.backend`). ``train``, ``evaluate`` and ``score`` print it as their
first line (``keras backend ... on ...``) unless ``--quiet``, and record it under ``backend`` in
``summary.json``.

Without ``--preset`` (and without a ``preset:`` in the ``--config`` file) ``train`` uses the
``paper`` preset, the paper's setting, which is meant for a GPU. Whenever a model that large is
about to train on a CPU, ``train`` says on stderr what that costs (:func:`cpu_cost_warning`)
before it starts, ``--quiet`` or not.
"""

from __future__ import annotations

import argparse  # noqa: E402
import os
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from types import ModuleType  # noqa: E402

from trainer.commands import (  # noqa: E402
    calibrate,
    evaluate,
    export,
    make_synthetic,
    score,
    train,
    watch,
)
from trainer.commands.common import EXIT_USAGE, CLIError  # noqa: E402
from trainer.commands.train import (  # noqa: E402
    cpu_cost_warning,
    parse_transform,
    train_overrides,
)
from trainer.inference import load_model  # noqa: E402

__all__ = [
    "COMMANDS",
    "EXIT_USAGE",
    "CLIError",
    "build_parser",
    "cpu_cost_warning",
    "load_model",
    "main",
    "parse_transform",
    "train_overrides",
]

COMMANDS: tuple[ModuleType, ...] = (
    train,
    evaluate,
    score,
    calibrate,
    watch,
    export,
    make_synthetic,
)
"""The subcommands, in ``--help`` order: modules of :mod:`trainer.commands`."""


def build_parser() -> argparse.ArgumentParser:
    """The ``argparse`` parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer",
        description="Train and evaluate the pseudo-anomaly Conv3D autoencoder "
        "(Astrid et al., BMVC 2021).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.NAME, help=command.HELP, description=command.DESCRIPTION)
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0, or 2 for bad input).

    Parameters
    ----------
    argv : sequence of str or None
        Arguments after the program name; ``None`` = ``sys.argv[1:]``.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError) as e:
        # ConfigError, DatasetError, RunDirError and pseudoanom's errors are ValueErrors.
        if os.environ.get("TRAINER_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
