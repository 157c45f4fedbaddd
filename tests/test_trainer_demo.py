"""Tests for trainer.demo and the demo set: the wiring of ``python -m trainer.demo --quick``,
and that an untrained model does not separate the demo set (unlike the smoke set)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from trainer import datasets
from trainer.synthetic import (
    DEMO_ANOMALY_KINDS,
    make_demo_dataset,
    make_synthetic_dataset,
    render_demo_video,
)

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(
    r"demo seed 3: micro AUC baseline \(p = 0\) (?P<b>[01]\.\d{3}), pseudo anomalies "
    r"\(smoothmix_s, p = 0\.5\) (?P<p>[01]\.\d{3}) \([+-]\d\.\d{3}\); runs in (?P<out>\S+)/"
    r"\{baseline,patch\}"
)


def test_quick_demo_prints_the_comparison_line(tmp_path):
    out = tmp_path / "demo"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "trainer.demo", "--quick", "--seed", "3", "--out", str(out),
         "--cache-dir", str(tmp_path / "cache")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    m = LINE.match(last)
    assert m, last
    assert m.group("out") == str(out)
    assert "--quick" in last
    result = json.loads((out / "comparison.json").read_text())
    assert result["seed"] == 3 and result["quick"] is True
    for kind in ("baseline", "patch"):
        run = result["runs"][kind]
        assert (out / kind / "model.keras").is_file()
        assert (out / kind / "evaluation" / "summary.json").is_file()
        assert f"{run['micro_auc']:.3f}" == m.group("b" if kind == "baseline" else "p")
        assert set(run["auc_per_kind"]) == set(DEMO_ANOMALY_KINDS)
    assert result["runs"]["baseline"]["p"] == 0 and result["runs"]["patch"]["p"] == 0.5


def _mean_frame_auc(root: Path) -> float:
    """Micro AUC of the frames' PSNR against the mean training frame (per-video min-max): what
    a model that outputs one fixed image, such as an untrained one, would reach at best."""
    train = datasets.load_split(root, "training", size=None)
    mean = np.concatenate([v.frames for v in train]).astype(np.float32).mean(axis=0)
    scores, labels = [], []
    for v in datasets.load_split(root, "testing", size=None):
        mse = ((v.frames.astype(np.float32) - mean) ** 2).mean(axis=(1, 2, 3))
        psnr = 10 * np.log10(255.0**2 / mse)
        scores.append((psnr.max() - psnr) / (psnr.max() - psnr.min()))
        labels.append(v.labels)
    return float(roc_auc_score(np.concatenate(labels), np.concatenate(scores)))


def test_demo_set_is_not_separated_by_a_fixed_image(tmp_path):
    # The demo's own data (seed 0, what the README's numbers are measured on). Other data seeds
    # vary with their 6 test videos, from about 0.7 to 0.9 (a large body changes a frame's
    # statistics most), so the bound is for this set, not for every seed.
    demo = _mean_frame_auc(make_demo_dataset(tmp_path / "demo", seed=0))
    smoke = _mean_frame_auc(make_synthetic_dataset(tmp_path / "smoke", seed=0))
    assert smoke > 0.95, smoke  # the smoke set: a fixed image already separates it
    assert 0.5 <= demo < 0.75, demo  # the demo set: far from it


def test_demo_set_layout_and_kinds(tmp_path):
    root = make_demo_dataset(tmp_path / "d", n_train=2, n_test=3, frames=40, seed=4)
    meta = json.loads((root / "synthetic.json").read_text())
    assert meta["params"]["variant"] == "demo"
    assert [a["kind"] for a in meta["anomalies"]] == list(DEMO_ANOMALY_KINDS)
    test = datasets.load_split(root, "testing", size=None)
    for v in test:
        assert v.frames.shape[1:] == (32, 32, 1)
        per_frame = v.masks.reshape(len(v), -1).any(axis=1)
        np.testing.assert_array_equal(per_frame, v.labels.astype(bool))
        assert 0 < v.labels.sum() < len(v)
    again = make_demo_dataset(tmp_path / "e", n_train=2, n_test=3, frames=40, seed=4)
    for a, b in zip(sorted(root.rglob("*.png")), sorted(again.rglob("*.png")), strict=True):
        assert a.read_bytes() == b.read_bytes()


def test_demo_people_come_and_go():
    bg = np.full((32, 32), 115.0, np.float32)
    frames, masks = render_demo_video(np.random.default_rng(0), bg, 200)
    assert not masks.any()
    dark_or_bright = (np.abs(frames.astype(np.float32) - 115) > 30).reshape(200, -1).sum(1)
    assert dark_or_bright.min() < dark_or_bright.max() / 2  # the crowd on screen varies
    with pytest.raises(ValueError, match="anomaly must be one of"):
        render_demo_video(np.random.default_rng(0), bg, 10, "vehicle", (2, 5))
