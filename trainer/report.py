"""Score a model on videos and write the report: CSV, JSON and figures.

:func:`evaluate_model` is what ``train`` (after training) and ``evaluate`` run: the protocol of
:func:`trainer.evaluation.evaluate` through a predictor (:mod:`trainer.inference`), then
``scores.csv``, ``metrics.csv``, ``summary.json`` and the plots of :mod:`trainer.plots`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer import backend, evaluation, writers
from trainer import localisation as loc
from trainer import plots as plots_module
from trainer.data import Video
from trainer.datasets import load_pixel_masks
from trainer.evaluation import EvaluationResult
from trainer.inference import Predictor, as_predictor
from trainer.progress import Progress

if TYPE_CHECKING:
    import keras

    from trainer.localisation import Localiser

__all__ = ["evaluate_model", "figure_frames", "pixel_masks", "result_lines", "write_report"]


def _say(verbose: int, *args: Any) -> None:
    if verbose:
        print(*args, flush=True)


def figure_frames(videos: list[Video], clip_length: int, n: int = 4) -> dict[str, list[int]]:
    """One scored frame per video of the first ``n`` (the middle anomalous frame if any): the
    frames whose reconstructions the figures show."""
    keep = {}
    lo, hi = clip_length // 2, clip_length - 1 - clip_length // 2
    for v in videos[:n]:
        k = len(v)
        if k < clip_length:
            continue
        anomalous = np.flatnonzero(v.labels) if v.labels is not None else np.array([])
        frame = int(anomalous[len(anomalous) // 2]) if len(anomalous) else k // 2
        keep[v.name] = [min(max(frame, lo), k - 1 - hi)]
    return keep


def evaluate_model(
    model: keras.Model | Predictor,
    videos: list[Video],
    out_dir: str | os.PathLike,
    *,
    batch_size: int = 8,
    pad_edges: bool = False,
    require_labels: bool = True,
    extra: dict[str, Any] | None = None,
    plots: bool = True,
    verbose: int = 1,
    localisation: bool | Localiser = False,
    smooth_sigma: float = 0.0,
):
    """Score ``videos`` with :func:`trainer.evaluation.evaluate` and write the results.

    Parameters
    ----------
    model : keras.Model or trainer.inference.Predictor
        Reconstructs float32 ``(B, T, H, W, C)`` clips in [-1, 1]; T is read from its input.
        A Keras model is wrapped in a :class:`~trainer.inference.KerasPredictor`.
    videos : list of Video
        Frames at the model's ``(H, W, C)``.
    out_dir : str or os.PathLike
        Gets ``scores.csv``, ``metrics.csv``, ``summary.json`` and, with ``plots``,
        ``scores_*.png`` and ``recon_*.png``; with localisation also ``localisation.csv``,
        ``localisation_curves.json`` and (``plots``) ``localisation_*.png``.
    batch_size : int
        Clips per forward pass.
    pad_edges : bool
        Score the first/last frames too (see :mod:`trainer.evaluation`).
    require_labels : bool
        False to score unlabelled videos (no AUC).
    extra : dict or None
        Merged into ``summary.json`` (config, seed, commit, ...).
    plots : bool
        Write the figures.
    verbose : int
        0 = silent; otherwise the result line on stdout and a :class:`trainer.progress.Progress`
        display (windows done per video, frames/s) on stderr.
    localisation : bool or trainer.localisation.Localiser
        False (default): none. True: pixel-, region- and track-level metrics with a default
        :class:`~trainer.localisation.Localiser` against the pixel masks at the size of their
        files (:func:`trainer.datasets.load_pixel_masks`; ``video.masks`` where there are no
        files), when any video has masks. A ``Localiser``: that one.
    smooth_sigma : float
        > 0: also report AUCs of temporally smoothed scores (non-causal; see
        :func:`trainer.evaluation.evaluate`).

    Returns
    -------
    trainer.evaluation.EvaluationResult
    """
    localiser = localisation if isinstance(localisation, loc.Localiser) else None
    if localisation is True and any(v.masks is not None for v in videos):
        localiser = loc.Localiser(pixel_masks)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    predictor = as_predictor(model)
    clip_length = int(predictor.input_shape[1])
    progress = Progress.for_videos(videos, clip_length, pad_edges) if verbose else None
    result = evaluation.evaluate(
        videos,
        predictor.predict,
        clip_len=clip_length,
        batch_size=batch_size,
        pad_edges=pad_edges,
        require_labels=require_labels,
        keep=figure_frames(videos, clip_length) if plots else None,
        progress=progress,
        fixed_batch=predictor.fixed_batch,
        smooth_sigma=smooth_sigma,
        localiser=localiser,
    )
    write_report(result, out, extra, plots)
    for line in result_lines(result, out):
        _say(verbose, line)
    return result


def write_report(
    result: EvaluationResult, out: Path, extra: dict[str, Any] | None, plots: bool
) -> None:
    """The files of :func:`evaluate_model` in ``out`` (see its ``out_dir``)."""
    writers.write_scores_csv(result, out / "scores.csv")
    writers.write_metrics_csv(result, out / "metrics.csv")
    if result.localisation is not None:
        loc.write_frames_csv(result.localisation, out / "localisation.csv")
        curves = json.dumps(result.localisation.curves(), allow_nan=False)
        (out / "localisation_curves.json").write_text(curves + "\n")
    info = {
        "commit": writers.git_commit(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "backend": backend.info(),
    }
    writers.write_summary_json(result, out / "summary.json", {**info, **(extra or {})})
    if plots:
        plots_module.plot_scores(result, out)
        plots_module.plot_reconstructions(result.reconstructions, out)
        if result.localisation is not None:
            plots_module.plot_localisation(result.localisation.figure_frames, out)


def result_lines(result: EvaluationResult, out: Path) -> list[str]:
    """What :func:`evaluate_model` says when done: the AUC (or frame count), localisation."""
    if result.micro_auc is not None:
        lines = [
            f"frame-level AUC {result.micro_auc:.4f} (micro), "
            f"{result.n_scored} frames, {result.frames_per_second:.1f} frames/s -> {out}"
        ]
    else:
        lines = [f"scored {result.n_scored} frames -> {out}"]
    if result.localisation is not None:
        s = result.localisation.summary()
        parts = [f"{k} {s[k]:.4f}" for k in loc.METRICS if s[k] is not None]
        lines.append(f"localisation: {', '.join(parts) or 'no pixel masks'}")
    return lines


def pixel_masks(video: Video) -> np.ndarray | None:
    """The masks a default :class:`~trainer.localisation.Localiser` of :func:`evaluate_model`
    reads: at the size of their files (:func:`trainer.datasets.load_pixel_masks`), else
    ``video.masks`` (the frames' size), else None."""
    masks = load_pixel_masks(video)
    return video.masks if masks is None else masks
