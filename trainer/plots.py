"""Figures for evaluation results (matplotlib, Agg canvas, PNG files).

* :func:`plot_scores`: anomaly score over time for each test video, ground-truth anomalous
  frames shaded; one PNG per video plus one grid of all videos.
* :func:`plot_reconstructions`: for chosen frames, input / reconstruction / error heatmap side
  by side (the paper's Fig. 6), the pixel ground truth outlined where it exists.
* :func:`plot_localisation`: per video, a few frames with the error map over the input, the
  predicted regions (error above the video's region threshold) and the ground-truth mask
  outlined.

Figures are built with :class:`matplotlib.figure.Figure` (rendered by the Agg canvas), not
``pyplot``: no display is needed, no global backend is switched and nothing leaks between calls.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from trainer.evaluation import EvaluationResult, Reconstruction, VideoScores
from trainer.localisation import LocalisationFrame

__all__ = ["plot_localisation", "plot_reconstructions", "plot_scores"]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "video"


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` runs of True in a 1-D bool array."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    d = np.flatnonzero(np.diff(m.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(d[::2], d[1::2], strict=True)]


def _draw_scores(ax: Axes, r: VideoScores, *, legend: bool) -> None:
    gt = r.video_labels
    if gt is not None:
        for i, (a, b) in enumerate(_runs(gt == 1)):
            ax.axvspan(
                a - 0.5, b - 0.5, color="tab:red", alpha=0.2, lw=0,
                label="ground-truth anomaly" if i == 0 else None,
            )  # fmt: skip
    ax.plot(r.frames, r.score, color="tab:blue", lw=1.2, label="anomaly score")
    ax.set_xlim(-0.5, r.n_frames - 0.5)
    ax.set_ylim(-0.03, 1.03)
    title = f"video {r.name}"
    if r.constant_psnr:
        title += " (constant PSNR: score 0)"
    ax.set_title(title, fontsize=9)
    if legend:
        ax.legend(loc="upper left", fontsize=7, framealpha=0.8)


def plot_scores(
    result: EvaluationResult,
    out_dir: str | os.PathLike,
    *,
    per_video: bool = True,
    grid: bool = True,
    dpi: int = 100,
) -> list[Path]:
    """Plot the anomaly score ``S`` over time per video, ground-truth anomalies shaded red.

    Parameters
    ----------
    result : EvaluationResult
        From :func:`trainer.evaluation.evaluate`.
    out_dir : str or os.PathLike
        Output folder (created).
    per_video : bool
        Write ``scores_<video>.png`` for every video.
    grid : bool
        Write ``scores_all.png``, all videos in a grid of up to 4 columns.
    dpi : int
        Resolution.

    Returns
    -------
    list of pathlib.Path
        The PNG files written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    if per_video:
        for r in result.videos:
            fig = Figure(figsize=(7, 2.6), layout="constrained")
            ax = fig.subplots()
            _draw_scores(ax, r, legend=True)
            ax.set_xlabel("frame")
            ax.set_ylabel("score (1 - norm. PSNR)")
            p = out / f"scores_{_safe(r.name)}.png"
            fig.savefig(p, dpi=dpi)
            paths.append(p)
    if grid and result.videos:
        n = len(result.videos)
        cols = min(4, n)
        rows = -(-n // cols)
        fig = Figure(figsize=(3.6 * cols, 2.2 * rows), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False)
        for i, ax in enumerate(axes.ravel()):
            if i < n:
                _draw_scores(ax, result.videos[i], legend=i == 0)
            else:
                ax.axis("off")
        auc = result.micro_auc
        fig.suptitle(
            f"anomaly scores (micro AUC {auc:.4f})" if auc is not None else "anomaly scores",
            fontsize=11,
        )
        p = out / "scores_all.png"
        fig.savefig(p, dpi=dpi)
        paths.append(p)
    return paths


def _gray_or_rgb(img: np.ndarray) -> tuple[np.ndarray, str | None]:
    img = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    if img.ndim == 3 and img.shape[-1] == 1:
        return img[..., 0], "gray"
    return img, None


def plot_reconstructions(
    reconstructions: Sequence[Reconstruction],
    out_dir: str | os.PathLike,
    *,
    dpi: int = 120,
) -> list[Path]:
    """Input / reconstruction / squared-error heatmap side by side, one PNG per frame.

    Parameters
    ----------
    reconstructions : sequence of Reconstruction
        ``result.reconstructions`` (ask :func:`~trainer.evaluation.evaluate` for them with
        ``keep={video: [frames]}``); images ``(H, W, C)`` in [0, 1].
    out_dir : str or os.PathLike
        Output folder (created); files are ``recon_<video>_<frame>.png``.
    dpi : int
        Resolution.

    Returns
    -------
    list of pathlib.Path
        The PNG files written. The error map is the per-pixel squared error averaged over
        channels (on the [0, 1] scale); the pixel mask, where present, is outlined (red on
        the images, cyan on the error map).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for rc in reconstructions:
        inp, cmap = _gray_or_rgb(rc.input)
        rec, _ = _gray_or_rgb(rc.recon)
        err = np.mean(
            (np.asarray(rc.input, np.float32) - np.asarray(rc.recon, np.float32)) ** 2, -1
        )
        h, w = err.shape
        fig = Figure(figsize=(3 * 3.2, 3.2 * h / w + 0.6), layout="constrained")
        axes = fig.subplots(1, 3)
        axes[0].imshow(inp, cmap=cmap, vmin=0, vmax=1)
        axes[0].set_title("input", fontsize=9)
        axes[1].imshow(rec, cmap=cmap, vmin=0, vmax=1)
        axes[1].set_title("reconstruction", fontsize=9)
        im = axes[2].imshow(err, cmap="inferno", vmin=0, vmax=max(float(err.max()), 1e-6))
        axes[2].set_title("squared error", fontsize=9)
        fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.04)
        if rc.mask is not None and rc.mask.any():
            for ax, color in zip(axes, ("red", "red", "cyan"), strict=True):
                ax.contour(rc.mask.astype(np.float32), levels=[0.5], colors=color, linewidths=1.0)
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        label = "" if rc.label is None else f", label {rc.label}"
        fig.suptitle(
            f"video {rc.video}, frame {rc.frame}: PSNR {rc.psnr:.2f} dB, "
            f"score {rc.score:.3f}{label}",
            fontsize=10,
        )
        p = out / f"recon_{_safe(rc.video)}_{rc.frame:05d}.png"
        fig.savefig(p, dpi=dpi)
        paths.append(p)
    return paths


def plot_localisation(
    frames: Sequence[LocalisationFrame],
    out_dir: str | os.PathLike,
    *,
    dpi: int = 100,
) -> list[Path]:
    """Error-map contours against the ground-truth mask, one PNG per video.

    Parameters
    ----------
    frames : sequence of LocalisationFrame
        ``result.localisation.figure_frames`` (a few frames per video, kept by
        :class:`trainer.localisation.Localiser`), arrays at the mask's size.
    out_dir : str or os.PathLike
        Output folder (created); files are ``localisation_<video>.png``.
    dpi : int
        Resolution.

    Returns
    -------
    list of pathlib.Path
        The PNG files written. Each panel shows the input frame in gray, the error map as a
        translucent heatmap (scaled to the largest error of the video's kept frames), the
        predicted regions' outlines (error > the video's region threshold, cyan) and the mask's
        outline (red).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_video: dict[str, list[LocalisationFrame]] = {}
    for f in frames:
        by_video.setdefault(f.video, []).append(f)
    paths: list[Path] = []
    for video, fs in by_video.items():
        h, w = fs[0].error.shape
        vmax = max(max(float(f.error.max()) for f in fs), 1e-6)
        fig = Figure(figsize=(3.2 * len(fs), 3.2 * h / w + 0.7), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(fs)))
        for ax, f in zip(axes, fs, strict=True):
            ax.imshow(f.image, cmap="gray", vmin=0, vmax=1)
            ax.imshow(f.error, cmap="inferno", vmin=0, vmax=vmax, alpha=0.45)
            if (f.error > f.threshold).any():
                ax.contour(f.error, levels=[f.threshold], colors="cyan", linewidths=0.9)
            if f.mask.any():
                ax.contour(f.mask.astype(np.float32), levels=[0.5], colors="red", linewidths=1.1)
            ax.set_title(f"frame {f.frame}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(
            f"video {video}: error map, predicted regions (cyan, error > {fs[0].threshold:.3g}) "
            f"and ground truth (red)",
            fontsize=9,
        )
        p = out / f"localisation_{_safe(video)}.png"
        fig.savefig(p, dpi=dpi)
        paths.append(p)
    return paths
