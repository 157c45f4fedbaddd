"""``python -m trainer watch``: score a video file, camera or stream as it arrives
(:mod:`trainer.stream`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trainer import backend
from trainer.commands.common import (
    add_calibration_arguments,
    add_engine_argument,
    announce,
    load_calibration,
    open_model,
    settle_backend,
    uncalibrated_note,
)

EXIT_STALLED = 3  # the source stopped sending frames
STALL_TIMEOUT_S = 10.0  # trainer.stream.STALL_TIMEOUT_S (not imported: it loads OpenCV)

NAME = "watch"
HELP = "score a video file, camera or stream as it arrives"
DESCRIPTION = (
    "Reads SOURCE frame by frame, scores each frame by the window that ends at it (or the "
    "calibration's delay), and writes scores.csv, annotated.mp4 and summary.json. Ctrl-C stops "
    "it and keeps what was written. A source that sends no frame for --stall-timeout seconds "
    "has stalled: exit code 3 (unless --reconnect opens it again)."
)


def add_arguments(wt: argparse.ArgumentParser) -> None:
    """The options of ``watch``."""
    wt.add_argument("source", help="video file, camera index (0, 1, ...) or stream URL")
    wt.add_argument(
        "--model",
        required=True,
        help="a .keras model saved by train, or its export (.onnx, OpenVINO .xml)",
    )
    add_engine_argument(wt)
    add_calibration_arguments(wt)
    wt.add_argument("--out", help="output folder (default: <model folder>/watch-<source>)")
    wt.add_argument("--batch-size", type=int, default=4, help="windows per forward pass")
    # The older spelling, kept working for existing scripts.
    wt.add_argument(
        "--batch", dest="batch_size", type=int, default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    wt.add_argument("--max-frames", type=int, help="stop after this many frames")
    wt.add_argument("--no-video", action="store_true", help="no annotated.mp4")
    wt.add_argument(
        "--stall-timeout",
        type=float,
        default=STALL_TIMEOUT_S,
        metavar="S",
        help=f"seconds without a frame after which the source has stalled: exit code "
        f"{EXIT_STALLED} (default {STALL_TIMEOUT_S:g})",
    )
    wt.add_argument(
        "--reconnect",
        type=int,
        default=0,
        metavar="N",
        help="after a stall, open the source again, up to N times (default 0)",
    )
    wt.add_argument("--quiet", action="store_true", help="no messages")


def run(args: argparse.Namespace) -> int:
    """Watch as ``args`` ask; returns the exit code."""
    from trainer.progress import LiveLine
    from trainer.stream import open_source, stall_message, watch

    capture, live = open_source(args.source)  # before the slow import: a bad source fails fast
    try:
        settle_backend()
        announce(args.quiet)

        predictor = open_model(args)
        calibration = load_calibration(args, predictor.input_shape[1:])
        if calibration is None and not args.quiet:
            print(uncalibrated_note(args), flush=True)
        out = Path(args.out) if args.out else Path(args.model).parent / f"watch-{_name(args, live)}"
        result = watch(
            capture,
            predictor.predict,
            predictor.input_shape[1:],
            calibration=calibration,
            fpr=args.fpr,
            out=out,
            video=not args.no_video,
            batch=args.batch_size,
            max_frames=args.max_frames,
            live=live,
            status=None if args.quiet else LiveLine(),
            extra={
                "model": str(args.model),
                "source": str(args.source),
                "backend": backend.info(),
            },  # fmt: skip
            fixed_batch=predictor.fixed_batch,
            stall_timeout=args.stall_timeout,
            reconnect=args.reconnect,
            reopen=lambda: open_source(args.source)[0],
        )
    finally:
        capture.release()
    if not args.quiet:
        print(f"{result.stopped}: {result.frames_scored} frames scored -> {out}")
    if result.stalled:
        print(f"error: {stall_message(args.source, result)}", file=sys.stderr)
        return EXIT_STALLED
    return 0


def _name(args: argparse.Namespace, live: bool) -> str:
    """The output folder's suffix: the camera or stream, or the file's stem."""
    if not live:
        return Path(args.source).stem
    return f"camera{args.source}" if str(args.source).isdigit() else "stream"
