"""Metric families (trainer.metrics): names declared once, iterated by evaluate and the writers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trainer import metrics
from trainer.data import Video
from trainer.evaluation import evaluate
from trainer.localisation import Localiser
from trainer.metrics import FamilyResult, ScoredFrames
from trainer.writers import write_metrics_csv, write_summary_json


def _videos() -> list[Video]:
    rng = np.random.default_rng(0)
    out = []
    for name in ("a", "b"):
        frames = rng.integers(0, 256, (12, 16, 16, 1), dtype=np.uint8)
        labels = np.zeros(12, np.int8)
        labels[5:9] = 1
        masks = np.zeros((12, 16, 16), bool)
        masks[5:9, 4:8, 4:8] = True
        out.append(Video(name, frames, labels, masks))
    return out


def _predict(batch: np.ndarray) -> np.ndarray:
    return np.tanh(0.8 * batch)


def test_each_family_reports_its_declared_names_in_order():
    r = evaluate(_videos(), _predict, clip_len=4, smooth_sigma=1.0, localiser=Localiser())
    assert list(r.families) == [f.name for f in metrics.FAMILIES]
    for family in metrics.FAMILIES:
        assert list(r.families[family.name].values) == list(family.metric_names)
    assert list(r.metrics()) == metrics.metric_names()
    plain = evaluate(_videos(), _predict, clip_len=4)
    assert plain.families["smoothing"].values == {} and plain.smoothing is None
    assert plain.families["localisation"].values == {} and plain.localisation is None


class _MeanScore:
    """A family as a user would add one: one module with this class, one line in FAMILIES."""

    name = "mean_score"
    metric_names = ("mean_score",)

    def compute(self, scored: ScoredFrames) -> FamilyResult:
        value = float(np.mean(np.concatenate([v.score for v in scored.videos])))
        return FamilyResult({"mean_score": value}, {"mean_score": value})


def test_a_registered_family_reaches_metrics_csv_and_summary(tmp_path, monkeypatch):
    monkeypatch.setattr(metrics, "FAMILIES", [*metrics.FAMILIES, _MeanScore()])
    r = evaluate(_videos(), _predict, clip_len=4)
    want = float(np.mean(np.concatenate([v.score for v in r.videos])))
    rows = write_metrics_csv(r, tmp_path / "metrics.csv").read_text().splitlines()
    assert rows[-1] == f"mean_score,{want!r}"
    summary = json.loads(write_summary_json(r, tmp_path / "summary.json").read_text())
    keys = list(summary)
    assert summary["mean_score"] == pytest.approx(want)
    assert keys.index("localisation") < keys.index("mean_score") < keys.index("protocol")
