"""Frame-level AUCs: micro (the paper's number), macro (skip and pad rules), unnormalised.

* ``micro_auc``: one ROC AUC over all scored frames of the labelled videos.
* ``macro_auc``: mean of per-video AUCs; videos with one class are skipped and listed.
* ``macro_auc_padded``: mean of per-video AUCs with every video padded with (0, 0) and (1, 1)
  (:func:`trainer.frame_metrics.macro_auc`, rule ``"pad"``): all labelled videos count.
* ``unnormalised_auc``: ROC AUC of ``-PSNR``, without the per-video normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from trainer.frame_metrics import macro_auc
from trainer.metrics.base import FamilyResult, ScoredFrames, ScoredVideo

__all__ = ["FRAME_AUCS", "FrameAUCs", "frame_aucs"]

FRAME_AUCS: tuple[str, ...] = ("micro_auc", "macro_auc", "macro_auc_padded")
"""The frame-level AUCs that smoothing also reports (:mod:`trainer.metrics.smoothed`)."""


class FrameAUCs:
    """The frame-level AUCs of the per-video normalised scores, and their frame counts."""

    name = "frame"
    metric_names: tuple[str, ...] = (
        "micro_auc",
        "macro_auc",
        "macro_auc_padded",
        "unnormalised_auc",
        "n_scored_frames",
        "macro_auc_n_videos",
        "macro_auc_padded_n_videos",
    )

    def compute(self, scored: ScoredFrames) -> FamilyResult:
        """Values and the ``summary.json`` keys of the AUCs, per-video AUCs and skipped videos."""
        a = frame_aucs(scored.labelled, scored.notes)
        values = {
            "micro_auc": a["micro_auc"],
            "macro_auc": a["macro_auc"],
            "macro_auc_padded": a["macro_auc_padded"],
            "unnormalised_auc": a["unnormalised_auc"],
            "n_scored_frames": scored.n_scored,
            "macro_auc_n_videos": len(a["per_video_auc"]),
            "macro_auc_padded_n_videos": len(a["per_video_auc_padded"]),
        }
        summary = {
            "micro_auc": a["micro_auc"],
            "macro_auc": a["macro_auc"],
            "unnormalised_auc": a["unnormalised_auc"],
            "n_scored_frames": scored.n_scored,
            "n_videos": scored.n_videos,
            "per_video_auc": a["per_video_auc"],
            "macro_auc_n_videos": len(a["per_video_auc"]),
            "macro_auc_skipped_videos": a["skipped"],
            "macro_auc_padded": a["macro_auc_padded"],
            "per_video_auc_padded": a["per_video_auc_padded"],
        }
        return FamilyResult(values, summary)


def _auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    if labels.size == 0 or np.unique(labels).size < 2:
        return None
    return float(roc_auc_score(labels, scores))


def frame_aucs(
    labelled: Sequence[ScoredVideo], notes: list[str], key: str = "score"
) -> dict[str, Any]:
    """Micro, macro (skip and pad rules) and unnormalised AUC of the ``labelled`` videos'
    ``key`` scores (``"score"`` or ``"smoothed_score"``).

    Returns
    -------
    dict
        ``micro_auc``, ``unnormalised_auc``, ``macro_auc``, ``per_video_auc``, ``skipped``,
        ``macro_auc_padded``, ``per_video_auc_padded`` (None / empty without labelled videos).
        Remarks on undefined AUCs and skipped videos go to ``notes``.
    """
    out: dict[str, Any] = {
        "micro_auc": None,
        "unnormalised_auc": None,
        "macro_auc": None,
        "per_video_auc": {},
        "skipped": [],
        "macro_auc_padded": None,
        "per_video_auc_padded": {},
    }
    if not labelled:
        return out
    lab = np.concatenate([r.labels for r in labelled])
    out["micro_auc"] = _auc(lab, np.concatenate([getattr(r, key) for r in labelled]))
    out["unnormalised_auc"] = _auc(lab, -np.concatenate([r.psnr for r in labelled]))
    if out["micro_auc"] is None:
        notes.append(
            f"micro/unnormalised AUC undefined: the {lab.size} scored frames hold a single class"
        )
    per = [(r.name, r.labels, getattr(r, key)) for r in labelled]
    out["macro_auc"], out["per_video_auc"], out["skipped"] = macro_auc(per, "skip")
    out["macro_auc_padded"], out["per_video_auc_padded"], _ = macro_auc(per, "pad")
    if out["skipped"]:
        notes.append(
            f"macro AUC skips {len(out['skipped'])} of {len(labelled)} videos whose scored "
            f"frames hold a single class: {out['skipped']} (macro_auc_padded counts them)"
        )
    return out
