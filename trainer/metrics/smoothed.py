"""The frame-level AUCs of temporally smoothed scores (``smooth_sigma > 0``; non-causal).

The scores are smoothed per video by :func:`trainer.frame_metrics.smooth_scores`; these AUCs
are reported beside the plain ones, never instead of them.
"""

from __future__ import annotations

from trainer.metrics.base import FamilyResult, ScoredFrames
from trainer.metrics.frame import FRAME_AUCS, frame_aucs

__all__ = ["SmoothedAUCs"]


class SmoothedAUCs:
    """``smoothed_<auc>`` for each of :data:`~trainer.metrics.frame.FRAME_AUCS`."""

    name = "smoothing"
    metric_names: tuple[str, ...] = ("smooth_sigma_frames", *(f"smoothed_{k}" for k in FRAME_AUCS))

    def compute(self, scored: ScoredFrames) -> FamilyResult:
        """Nothing without smoothing; else the AUCs and the ``smoothing`` entry of the summary."""
        if not scored.smooth_sigma > 0:
            return FamilyResult({}, {"smoothing": None})
        aucs = frame_aucs(scored.labelled, [], "smoothed_score")  # remarks: as for the plain
        block = {"sigma_frames": float(scored.smooth_sigma), "causal": False}
        block.update({k: aucs[k] for k in FRAME_AUCS})
        values = {"smooth_sigma_frames": block["sigma_frames"]}
        values.update({f"smoothed_{k}": aucs[k] for k in FRAME_AUCS})
        return FamilyResult(values, {"smoothing": block})
