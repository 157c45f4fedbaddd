"""Metric families: what :func:`trainer.evaluation.evaluate` computes from the scored frames.

Each family is one module with one class implementing :class:`~trainer.metrics.base.MetricFamily`
(``name``, ``metric_names``, ``compute(scored) -> FamilyResult``), registered once in
:data:`FAMILIES`. The evaluator computes every registered family, in order; ``metrics.csv``
lists their values and ``summary.json`` their summary keys in that order, so a new family
appears in both without touching the evaluator or the writers.

* ``frame`` (:mod:`trainer.metrics.frame`): micro, macro, padded macro and unnormalised AUC;
* ``smoothing`` (:mod:`trainer.metrics.smoothed`): the frame AUCs of smoothed scores;
* ``localisation`` (:mod:`trainer.metrics.pixel`): pixel AUC/AP, UCSD pixel AUC/EER, RBDC, TBDC.
"""

from __future__ import annotations

from trainer.metrics.base import FamilyResult, MetricFamily, ScoredFrames, ScoredVideo
from trainer.metrics.frame import FRAME_AUCS, FrameAUCs
from trainer.metrics.pixel import LocalisationMetrics
from trainer.metrics.smoothed import SmoothedAUCs

__all__ = [
    "FAMILIES",
    "FRAME_AUCS",
    "FamilyResult",
    "MetricFamily",
    "ScoredFrames",
    "ScoredVideo",
    "compute_all",
    "metric_names",
]

FAMILIES: list[MetricFamily] = [FrameAUCs(), SmoothedAUCs(), LocalisationMetrics()]
"""The registered families, in report order: one line per family."""


def compute_all(scored: ScoredFrames) -> dict[str, FamilyResult]:
    """``{family name: result}`` of every registered family, in :data:`FAMILIES` order."""
    return {family.name: family.compute(scored) for family in FAMILIES}


def metric_names() -> list[str]:
    """Every metric name a family can report, in ``metrics.csv`` order."""
    return [name for family in FAMILIES for name in family.metric_names]
