"""Tests for trainer.synthetic: determinism, labels vs masks, anomalies in test videos only."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

from trainer import datasets
from trainer.synthetic import make_synthetic_dataset, render_video

SMALL = {"n_train": 2, "n_test": 2, "frames": 24, "size": (32, 40)}


def _all_pixels(root):
    return {
        p.relative_to(root).as_posix(): cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        for p in sorted(root.rglob("*.png"))
    }


def test_deterministic_given_seed(tmp_path):
    a = make_synthetic_dataset(tmp_path / "a", seed=5, **SMALL)
    b = make_synthetic_dataset(tmp_path / "b", seed=5, **SMALL)
    c = make_synthetic_dataset(tmp_path / "c", seed=6, **SMALL)
    pa, pb, pc = _all_pixels(a), _all_pixels(b), _all_pixels(c)
    assert len(pa) == 2 * 24 + 2 * 24 * 2  # train frames + test frames + test masks
    assert pa.keys() == pb.keys() == pc.keys()
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)
    assert not all(np.array_equal(pa[k], pc[k]) for k in pa)
    np.testing.assert_array_equal(
        np.load(a / "frame_labels_synthetic.npy"), np.load(b / "frame_labels_synthetic.npy")
    )
    frame = pa["training/frames/01/000.png"]
    assert frame.shape == (32, 40) and frame.dtype == np.uint8  # grayscale PNG


def test_labels_match_masks_and_anomalies_in_test_only(tmp_path):
    root = make_synthetic_dataset(tmp_path / "syn", seed=1, **SMALL)
    labels = np.load(root / "frame_labels_synthetic.npy")
    assert labels.shape == (1, 2 * 24)
    test = datasets.load_split(root, "testing", size=(32, 40))
    assert [v.name for v in test] == ["01", "02"]
    for v in test:
        per_frame = v.masks.reshape(len(v), -1).any(axis=1)
        np.testing.assert_array_equal(per_frame, v.labels.astype(bool))
        idx = np.flatnonzero(v.labels)
        assert 0 < len(idx) < len(v)  # anomalous and normal frames in every test video
        assert np.all(np.diff(idx) == 1)  # one contiguous interval
    np.testing.assert_array_equal(np.concatenate([v.labels for v in test]), labels[0])
    train = datasets.load_split(root, "training", size=(32, 40))
    assert len(train) == 2 and all(v.masks is None and v.labels is None for v in train)
    assert not (root / "training" / "pixel_masks").exists()


def test_normal_video_has_no_anomaly_and_fast_movers_are_fast():
    bg = np.full((64, 64), 110.0, np.float32)
    frames, masks = render_video(np.random.default_rng(0), bg, 20)
    assert frames.shape == (20, 64, 64) and not masks.any()
    _, masks = render_video(np.random.default_rng(0), bg, 20, "fast", (5, 15))
    assert masks[5:15].reshape(10, -1).any(1).all() and not masks[:5].any()
    assert not masks[15:].any()
    ys, xs = zip(*(np.argwhere(m).mean(0) for m in masks[5:15]), strict=True)
    step = np.hypot(np.diff(ys), np.diff(xs))
    assert np.median(step) >= 4.5  # 5-8 px/frame (less only when bouncing off a border)


def test_defaults_are_quick_and_reused(tmp_path):
    t0 = time.perf_counter()
    root = make_synthetic_dataset(tmp_path / "syn")
    elapsed = time.perf_counter() - t0
    assert elapsed < 15, elapsed  # a couple of seconds normally; generous on shared CPUs
    meta = json.loads((root / "synthetic.json").read_text())
    assert {a["kind"] for a in meta["anomalies"]} == {"fast", "vehicle"}
    assert len(list((root / "training" / "frames").iterdir())) == 8
    assert len(list((root / "testing" / "frames" / "04").iterdir())) == 80
    stamp = (root / "synthetic.json").stat().st_mtime_ns
    assert make_synthetic_dataset(root) == root  # same arguments: reused, not rewritten
    assert (root / "synthetic.json").stat().st_mtime_ns == stamp
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        make_synthetic_dataset(other, **SMALL)
    assert (other / "notes.txt").read_text() == "keep me"
