"""The interface every metric family implements, and what the evaluator hands it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from trainer.localisation import LocalisationResult

__all__ = ["FamilyResult", "MetricFamily", "ScoredFrames", "ScoredVideo"]


class ScoredVideo(Protocol):
    """One scored video as a family reads it (:class:`trainer.evaluation.VideoScores`)."""

    name: str
    psnr: np.ndarray
    score: np.ndarray
    labels: np.ndarray | None
    smoothed_score: np.ndarray | None


@dataclass(frozen=True, eq=False)
class ScoredFrames:
    """What :func:`trainer.evaluation.evaluate` has measured when the metrics are computed.

    Attributes
    ----------
    videos : sequence of ScoredVideo
        Every scored video, in input order (``labels`` is None for an unlabelled one).
    n_videos : int
        Test videos given, scored or not.
    n_scored : int
        Scored frames of all videos.
    smooth_sigma : float
        Standard deviation (frames) of the temporal smoothing; 0: scores not smoothed.
    localisation : LocalisationResult or None
        What the localiser measured, when one was given.
    notes : list of str
        Remarks for the summary: a family appends its own (undefined metrics, skipped videos).
    """

    videos: Sequence[ScoredVideo]
    n_videos: int
    n_scored: int
    smooth_sigma: float = 0.0
    localisation: LocalisationResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def labelled(self) -> list[ScoredVideo]:
        """The videos with frame labels (the ones every AUC is computed on)."""
        return [v for v in self.videos if v.labels is not None]


@dataclass(frozen=True)
class FamilyResult:
    """What one family computed.

    Attributes
    ----------
    values : dict
        ``{metric name: float, int or None}``: the scalar metrics, in ``metrics.csv`` order
        (None: undefined; empty when the family does not apply to this evaluation, e.g.
        smoothing off).
    summary : dict
        The family's keys of ``summary.json``, in order (values may be nested, e.g. per video).
    """

    values: dict[str, float | int | None]
    summary: dict[str, Any]


class MetricFamily(Protocol):
    """A family of metrics computed from the scored frames (see :mod:`trainer.metrics`).

    Attributes
    ----------
    name : str
        Its key in :attr:`trainer.evaluation.EvaluationResult.families`.
    metric_names : tuple of str
        The names :meth:`compute` gives ``values`` (when it applies), in order.
    """

    name: str
    metric_names: tuple[str, ...]

    def compute(self, scored: ScoredFrames) -> FamilyResult:
        """The family's metrics of one evaluation."""
        ...
