"""``python -m trainer evaluate``: score a saved model on a dataset split (CSV, JSON, plots)."""

from __future__ import annotations

import argparse
from pathlib import Path

from trainer.commands.common import add_engine_argument, announce, open_model, settle_backend
from trainer.config import LABEL_SOURCES, TrainConfig

NAME = "evaluate"
HELP = "evaluate a saved .keras model on a test split"
DESCRIPTION = (
    "Scores every frame of a dataset split with a saved model by the paper's protocol "
    "(PSNR per frame, per-video min-max, frame-level AUC) and writes scores.csv, metrics.csv, "
    "summary.json and plots. The first and last frames are left unscored unless --pad-edges."
)


def add_arguments(e: argparse.ArgumentParser) -> None:
    """The options of ``evaluate``."""
    e.add_argument(
        "--model",
        required=True,
        help="a .keras model saved by train, or its export (.onnx, OpenVINO .xml)",
    )
    add_engine_argument(e)
    e.add_argument("--data", help="dataset root (default: the embedded synthetic dataset)")
    e.add_argument("--split", default="testing", help="split to score (default: testing)")
    e.add_argument(
        "--label-source",
        choices=LABEL_SOURCES,
        default="frame_labels",
        help="test frame labels from the dataset's frame-label file (default: the labels "
        "published AUCs use) or from its pixel masks (see trainer.datasets)",
    )
    e.add_argument("--out", help="output folder (default: <model folder>/evaluation-<split>)")
    e.add_argument("--batch-size", type=int, default=8, help="clips per forward pass")
    e.add_argument(
        "--pad-edges",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="score the first/last frames too, by repeating the edge frames (default: off, "
        "the paper's protocol)",
    )
    e.add_argument(
        "--localisation",
        action="store_true",
        help="also compute the pixel-, region- and track-level metrics against the split's "
        "pixel masks (RBDC, TBDC, pixel AUC/AP, UCSD criterion)",
    )
    e.add_argument(
        "--smooth-sigma",
        type=float,
        default=0.0,
        metavar="FRAMES",
        help="also report AUCs of scores smoothed by a Gaussian of this sigma (non-causal; "
        "default 0 = off)",
    )
    e.add_argument(
        "--map-sigma",
        type=float,
        default=0.0,
        metavar="PIXELS",
        help="with --localisation: Gaussian sigma (model pixels) applied to the error maps "
        "first (default 0 = raw maps)",
    )
    e.add_argument(
        "--cache-dir", default=TrainConfig().cache_dir, help="decoded-frame cache folder"
    )
    e.add_argument("--quiet", action="store_true", help="no messages")


def run(args: argparse.Namespace) -> int:
    """Evaluate as ``args`` ask; returns the exit code."""
    settle_backend()
    announce(args.quiet)
    from trainer.datasets import load_split
    from trainer.localisation import Localiser
    from trainer.report import evaluate_model, pixel_masks
    from trainer.rundir import lock_output
    from trainer.synthetic import resolve_dataset

    predictor = open_model(args)
    _, t, h, w, c = predictor.input_shape
    root = resolve_dataset(args.data, args.cache_dir)
    videos = load_split(
        root,
        args.split,
        size=(h, w),
        channels=c,
        cache_dir=args.cache_dir,
        label_source=args.label_source,
    )
    out = Path(args.out) if args.out else Path(args.model).parent / f"evaluation-{args.split}"
    localisation: bool | Localiser = args.localisation
    if localisation and any(v.masks is not None for v in videos):
        localisation = Localiser(pixel_masks, map_sigma=args.map_sigma)
    with lock_output(out, "evaluate"):  # one process at a time in a run directory
        evaluate_model(
            predictor,
            videos,
            out,
            batch_size=args.batch_size,
            pad_edges=args.pad_edges,
            extra={"model": str(args.model), "dataset": str(root), "split": args.split},
            verbose=0 if args.quiet else 1,
            localisation=localisation,
            smooth_sigma=args.smooth_sigma,
        )
    return 0
