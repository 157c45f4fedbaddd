"""``python -m trainer score``: per-frame scores of a video, calibrated when the model has a
calibration."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from trainer import backend
from trainer.commands.common import (
    add_calibration_arguments,
    add_engine_argument,
    announce,
    delay_for,
    load_calibration,
    open_model,
    settle_backend,
    uncalibrated_note,
)

NAME = "score"
HELP = "per-frame scores of a video file, a frame folder, or a folder of videos"
DESCRIPTION = (
    "Each frame is scored by the window that ends at it (causal), or DELAY frames later. With "
    "a calibration (--calibration, or calibration.json next to the model) scores.csv gets "
    "p_normal, calibrated_score and alarm columns; its score column stays the paper's per-video "
    "min-max (benchmark protocol only)."
)


def add_arguments(s: argparse.ArgumentParser) -> None:
    """The options of ``score``."""
    s.add_argument(
        "video",
        help="video file (.avi, .mp4, ...), folder of frames, or folder of video files or frame "
        "folders (each one scored)",
    )
    s.add_argument(
        "--model",
        required=True,
        help="a .keras model saved by train, or its export (.onnx, OpenVINO .xml)",
    )
    add_engine_argument(s)
    s.add_argument("--out", help="output folder (default: <model folder>/score-<video name>)")
    s.add_argument("--batch-size", type=int, default=8, help="clips per forward pass")
    s.add_argument(
        "--pad-edges",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="score the first frames (and the last DELAY) too, by repeating the edge frames "
        "(default: on; --no-pad-edges leaves them unscored)",
    )
    add_calibration_arguments(s)
    s.add_argument(
        "--delay",
        type=int,
        help="frames after the scored frame in its window (default: the calibration's, else "
        "0 = causal; 7 = the paper's centred window)",
    )
    s.add_argument("--quiet", action="store_true", help="no messages")


def run(args: argparse.Namespace) -> int:
    """Score as ``args`` ask; returns the exit code."""
    settle_backend()
    announce(args.quiet)
    from trainer import evaluation, plots, writers
    from trainer.calibration import apply_calibration, score_index_for
    from trainer.progress import Progress

    predictor = open_model(args)
    _, t, h, w, c = predictor.input_shape
    calibration = load_calibration(args, predictor.input_shape[1:])
    delay = delay_for(args, calibration)
    videos = _load_videos(args.video, (h, w), c)
    name = videos[0].name if len(videos) == 1 else Path(args.video).name
    out = Path(args.out) if args.out else Path(args.model).parent / f"score-{name}"
    result = evaluation.evaluate(
        videos,
        predictor.predict,
        clip_len=t,
        score_index=score_index_for(t, delay),
        batch_size=args.batch_size,
        pad_edges=args.pad_edges,
        require_labels=False,
        keep={v.name: [len(v) // 2] for v in videos},
        progress=None if args.quiet else Progress.for_videos(videos, t, args.pad_edges),
        fixed_batch=predictor.fixed_batch,
    )
    scores: dict[str, Any] = {
        "delay_frames": delay,
        "causal": delay == 0,
        "psnr": "absolute: dB of the scored frame against its reconstruction",
        "score": "the paper's per-video min-max of the PSNR: benchmark protocol only (ranks the "
        "frames of this video; needs the whole video; not comparable across videos)",
        "calibration": None,
    }
    if calibration is not None:
        scores["calibration"] = apply_calibration(result, calibration, args.fpr)
        scores["calibrated_score"] = "-log10(p_normal); alarm when p_normal <= fpr"
    extra = {"model": str(args.model), "video": str(args.video), "scores": scores,
             "commit": writers.git_commit(), "backend": backend.info()}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    writers.write_scores_csv(result, out / "scores.csv")
    writers.write_metrics_csv(result, out / "metrics.csv")
    writers.write_summary_json(result, out / "summary.json", extra)
    plots.plot_scores(result, out)
    plots.plot_reconstructions(result.reconstructions, out)
    if not args.quiet:
        print(_result_line(args, result, scores, out))
    return 0


def _load_videos(path: str, size: tuple[int, int], channels: int) -> list:
    """The video ``path`` names (a file or a frame folder), or every video in a folder of them
    (found as ``calibrate --normal`` finds them)."""
    from trainer.calibration import find_videos
    from trainer.data import IMAGE_EXTENSIONS, load_video

    p = Path(path).expanduser()
    is_frames = p.is_dir() and any(f.suffix.lower() in IMAGE_EXTENSIONS for f in p.iterdir())
    paths = find_videos([p]) if p.is_dir() and not is_frames else [p]
    return [load_video(v, size=size, channels=channels) for v in paths]


def _result_line(args: argparse.Namespace, result, scores: dict[str, Any], out: Path) -> str:
    if scores["calibration"] is None:
        return f"{uncalibrated_note(args)}\nscored {result.n_scored} frames -> {out}"
    info = scores["calibration"]
    return (
        f"scored {result.n_scored} frames: {sum(info['alarms'].values())} alarms at fpr "
        f"{args.fpr:g} (psnr below {info['threshold_psnr']:.2f} dB) -> {out}"
    )
