"""Localisation metrics: pixel AUC/AP, UCSD pixel-level criterion, RBDC/TBDC.

They are measured by a :class:`trainer.localisation.Localiser` while the frames are scored;
this family reports its scalars (:data:`trainer.localisation.METRICS`) and counts.
"""

from __future__ import annotations

from trainer.localisation import COUNTS, METRICS
from trainer.metrics.base import FamilyResult, ScoredFrames

__all__ = ["LocalisationMetrics"]


class LocalisationMetrics:
    """The localiser's scalars and ``localisation_<count>`` counts; nothing without one."""

    name = "localisation"
    metric_names: tuple[str, ...] = (*METRICS, *(f"localisation_{k}" for k in COUNTS))

    def compute(self, scored: ScoredFrames) -> FamilyResult:
        """Its values and the ``localisation`` entry of the summary (None without a localiser)."""
        if scored.localisation is None:
            return FamilyResult({}, {"localisation": None})
        s = scored.localisation.summary()
        values = {k: s[k] for k in METRICS}
        values.update({f"localisation_{k}": v for k, v in s["counts"].items()})
        return FamilyResult(values, {"localisation": s})
