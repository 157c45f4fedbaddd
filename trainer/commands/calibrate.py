"""``python -m trainer calibrate``: record the error distribution of held-out normal videos
(``<run>/calibration.json``, see :mod:`trainer.calibration`)."""

from __future__ import annotations

import argparse

from trainer.commands.common import (
    CLIError,
    add_engine_argument,
    announce,
    open_model,
    settle_backend,
)

NAME = "calibrate"
HELP = "record the error distribution of held-out normal videos"
DESCRIPTION = (
    "Scores every frame of normal videos the model did not train on and writes their sorted "
    "PSNRs (calibration.json next to the model by default), from which score and watch set the "
    "threshold for a target false-alarm rate."
)


def add_arguments(c: argparse.ArgumentParser) -> None:
    """The options of ``calibrate``."""
    c.add_argument(
        "model", nargs="?", help="a .keras model saved by train or its export (or --model)"
    )
    c.add_argument(
        "--model",
        dest="model_option",
        metavar="MODEL",
        help="the model, named as in the other commands (instead of the MODEL argument)",
    )
    add_engine_argument(c)
    c.add_argument(
        "--normal",
        required=True,
        nargs="+",
        metavar="PATH",
        help="normal video files, frame folders, or folders of them",
    )
    c.add_argument("--out", help="calibration file (default: <model folder>/calibration.json)")
    c.add_argument(
        "--delay",
        type=int,
        default=0,
        help="frames after the scored frame in its window (default 0 = causal)",
    )
    c.add_argument("--batch-size", type=int, default=8, help="clips per forward pass")
    c.add_argument("--cache-dir", help="decoded-frame cache folder (default: none)")
    c.add_argument("--quiet", action="store_true", help="no messages")


def run(args: argparse.Namespace) -> int:
    """Calibrate as ``args`` ask; returns the exit code."""
    from trainer.calibration import calibrate, default_calibration_path, find_videos

    args.model = _model(args)
    videos = find_videos(args.normal)  # before the slow import: a bad path fails fast
    settle_backend()
    announce(args.quiet)

    predictor = open_model(args)

    def progress(name: str, scored: int, frames: int) -> None:
        if not args.quiet:
            print(f"{name}: {scored} of {frames} frames scored", flush=True)

    calibration = calibrate(
        None,
        videos,
        delay=args.delay,
        batch_size=args.batch_size,
        model_path=args.model,
        cache_dir=args.cache_dir,
        progress=progress,
        predict_fn=predictor.predict,
        input_shape=predictor.input_shape[1:],
    )
    out = calibration.save(args.out or default_calibration_path(args.model))
    if not args.quiet:
        q = calibration.quantiles((0.01, 0.5))
        print(
            f"calibrated on {calibration.n_frames} normal frames of {len(videos)} videos "
            f"(delay {calibration.delay}): psnr 1% quantile {q['0.01']:.2f} dB, median "
            f"{q['0.5']:.2f} dB; smallest fpr {calibration.min_fpr():.2g} -> {out}"
        )
    return 0


def _model(args: argparse.Namespace) -> str:
    """The model path, given as the MODEL argument or as ``--model`` (one of them)."""
    given = [m for m in (args.model, args.model_option) if m is not None]
    if not given:
        raise CLIError("calibrate needs the model: MODEL or --model MODEL")
    if len(given) == 2 and given[0] != given[1]:
        raise CLIError(f"calibrate: MODEL {given[0]} and --model {given[1]} differ; give one")
    return given[0]
