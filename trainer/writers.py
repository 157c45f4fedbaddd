"""The files an evaluation writes: ``scores.csv``, ``metrics.csv``, ``summary.json``; and the
commit they record (:func:`git_commit`)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainer.atomic import write_atomic, write_text_atomic
from trainer.evaluation import CALIBRATED_COLUMNS, CSV_COLUMNS, EvaluationResult, VideoScores

__all__ = ["git_commit", "write_metrics_csv", "write_scores_csv", "write_summary_json"]


def write_scores_csv(result: EvaluationResult, path: str | os.PathLike) -> Path:
    """Write one row per scored frame: ``video,frame,psnr,score,label``.

    Parameters
    ----------
    result : EvaluationResult
        From :func:`evaluate`.
    path : str or os.PathLike
        Output CSV (parent folders are created).

    Returns
    -------
    pathlib.Path
        ``path``. ``frame`` is the 0-based index within its video, ``score`` is higher for
        more anomalous frames, ``label`` is empty when unknown. When the scores were smoothed
        (``smooth_sigma > 0``) a column ``smoothed_score`` follows; when they were calibrated
        (:func:`trainer.calibration.apply_calibration`) the columns ``p_normal``,
        ``calibrated_score`` and ``alarm`` (0/1) come last.
    """
    smoothed = any(r.smoothed_score is not None for r in result.videos)
    calibrated = any(r.alarm is not None for r in result.videos)

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(
                CSV_COLUMNS
                + (("smoothed_score",) if smoothed else ())
                + (CALIBRATED_COLUMNS if calibrated else ())
            )
            for r in result.videos:
                for i in range(len(r.frames)):
                    label = "" if r.labels is None else int(r.labels[i])
                    row = [r.name, int(r.frames[i]), f"{r.psnr[i]:.6f}", f"{r.score[i]:.6f}", label]
                    if smoothed:
                        row.append("" if r.smoothed_score is None else f"{r.smoothed_score[i]:.6f}")
                    if calibrated:
                        row.extend(_calibrated_cells(r, i))
                    w.writerow(row)

    return write_atomic(path, write)


def _calibrated_cells(r: VideoScores, i: int) -> list[str | int]:
    if r.alarm is None or r.p_normal is None or r.calibrated_score is None:
        return ["", "", ""]
    return [f"{r.p_normal[i]:.6g}", f"{r.calibrated_score[i]:.4f}", int(r.alarm[i])]


def write_metrics_csv(result: EvaluationResult, path: str | os.PathLike) -> Path:
    """Write every scalar metric (:meth:`EvaluationResult.metrics`) as ``metric,value`` rows.

    Returns
    -------
    pathlib.Path
        ``path`` (parent folders are created); an undefined metric has an empty value.
    """

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(("metric", "value"))
            for name, value in result.metrics().items():
                w.writerow((name, "" if value is None else repr(value)))

    return write_atomic(path, write)


def write_summary_json(
    result: EvaluationResult,
    path: str | os.PathLike,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write :meth:`EvaluationResult.summary` (plus ``extra``) as indented JSON.

    Parameters
    ----------
    result : EvaluationResult
        From :func:`evaluate`.
    path : str or os.PathLike
        Output JSON (parent folders are created).
    extra : Mapping or None
        Config, seed, commit (see :func:`git_commit`), time taken, ... merged at top level.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    return write_text_atomic(
        path, json.dumps(result.summary(extra), indent=2, allow_nan=False) + "\n"
    )


def git_commit(cwd: str | os.PathLike | None = None) -> str:
    """Short hash of the git ``HEAD`` commit, or ``"unknown"``.

    Parameters
    ----------
    cwd : str or os.PathLike or None
        Folder inside the repository; default: the folder of this package.

    Returns
    -------
    str
        e.g. ``"0769ff3"``; ``"unknown"`` when git or the repository is unavailable.
    """
    where = Path(cwd) if cwd is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip()
    return commit or "unknown"
