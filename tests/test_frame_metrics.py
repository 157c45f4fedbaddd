"""trainer.frame_metrics (macro AUC rules, temporal smoothing) and trainer.labels (label files,
clip-to-frame alignment), on hand-made examples."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from trainer.data import Video
from trainer.evaluation import evaluate
from trainer.frame_metrics import macro_auc, smooth_scores, video_auc
from trainer.labels import clip_labels_to_frames, read_labels, scored_frames
from trainer.writers import write_scores_csv, write_summary_json


def test_padded_rule_gives_every_video_an_auc():
    # one class only: the padded frames (0 scored 0, 1 scored 1) decide it
    assert video_auc([1, 1, 1], [0.2, 0.5, 0.9], "skip") is None
    assert video_auc([1, 1, 1], [0.2, 0.5, 0.9], "pad") == 1.0
    assert video_auc([0, 0], [0.1, 0.2], "pad") == 1.0
    # labels [0, 0, 1, 1] vs scores [0, .8, .2, 1]: 3 of the 4 (normal, anomalous) pairs right
    assert video_auc([0, 1], [0.8, 0.2], "skip") == 0.0
    assert video_auc([0, 1], [0.8, 0.2], "pad") == 0.75
    with pytest.raises(ValueError, match="rule"):
        video_auc([0, 1], [0, 1], "drop")


def test_macro_auc_under_both_rules():
    videos = [("a", [0, 1], [0.8, 0.2]), ("b", [1, 1], [0.3, 0.4])]
    assert macro_auc(videos, "skip") == (0.0, {"a": 0.0}, ["b"])
    assert macro_auc(videos, "pad") == (0.875, {"a": 0.75, "b": 1.0}, [])
    assert macro_auc([("c", [1], [0.5])], "skip") == (None, {}, ["c"])


def test_smoothing_is_a_centred_gaussian():
    s = np.zeros(21)
    s[10] = 1.0
    out = smooth_scores(s, 2.0)
    assert out.argmax() == 10 and out[8] == pytest.approx(out[12])  # non-causal: both sides
    assert out.sum() == pytest.approx(1.0)
    assert smooth_scores(s, 0).tolist() == s.tolist()
    with pytest.raises(ValueError, match="sigma"):
        smooth_scores(s, -1)


def test_evaluate_reports_padded_macro_and_smoothed_aucs(tmp_path):
    # video "x": frames 0..9, anomalous 5..6 (value 200 + i), a one-class video "y" (all
    # anomalous); frame i of a video has value 10 + i when normal, 200 + i when anomalous
    def video(name, labels):
        value = np.where(np.asarray(labels) == 1, 200, 10) + np.arange(len(labels))
        frames = np.broadcast_to(value[:, None, None, None], (len(labels), 4, 4, 1))
        frames = frames.astype(np.uint8)
        return Video(name, frames, np.asarray(labels, np.int8), None)

    def model(batch):  # bright frames reconstruct worse, with a little per-frame variation
        return np.where(batch > 0, batch - 0.3, batch + 0.01 * (batch + 1)).astype(np.float32)

    videos = [video("x", [0] * 5 + [1, 1] + [0] * 3), video("y", [1] * 6)]
    r = evaluate(videos, model, clip_len=4, score_index=2, smooth_sigma=1.5)
    assert r.macro_auc_skipped == ["y"] and r.per_video_auc == {"x": 1.0}
    assert set(r.per_video_auc_padded) == {"x", "y"}
    assert r.smoothing["causal"] is False and r.smoothing["sigma_frames"] == 1.5
    assert r.videos[0].smoothed_score is not None
    np.testing.assert_allclose(r.videos[0].smoothed_score, smooth_scores(r.videos[0].score, 1.5))
    summary = json.loads(write_summary_json(r, tmp_path / "s.json").read_text())
    assert summary["macro_auc_padded"] == r.macro_auc_padded
    assert summary["smoothing"]["micro_auc"] == r.smoothing["micro_auc"]
    assert summary["protocol"]["smooth_sigma"] == 1.5
    rows = list(csv.DictReader(write_scores_csv(r, tmp_path / "s.csv").open()))
    assert "smoothed_score" in rows[0]
    plain = evaluate(videos, model, clip_len=4, score_index=2)
    assert plain.smoothing is None and plain.videos[0].smoothed_score is None
    header = write_scores_csv(plain, tmp_path / "p.csv").read_text().splitlines()[0]
    assert "smoothed_score" not in header


def test_clip_labels_to_frames_rules():
    # 3 clips of 4 frames every 2 frames: clip 0 = frames 0-3, clip 1 = 2-5, clip 2 = 4-7
    y = [0, 1, 0]
    assert clip_labels_to_frames(y, 9, clip_len=4, stride=2, rule="any").tolist() == [
        0, 0, 1, 1, 1, 1, 0, 0, 0,
    ]  # fmt: skip
    assert clip_labels_to_frames(y, 9, clip_len=4, stride=2, rule="all", fill=1).tolist() == [
        0, 0, 0, 0, 0, 0, 0, 0, 1,
    ]  # fmt: skip
    # "scored": with stride 1 each window's label lands on its scored frame (index 2 of 4)
    frames = clip_labels_to_frames([1, 0, 1], 6, clip_len=4, rule="scored")
    assert frames.tolist() == [0, 0, 1, 0, 1, 0]
    assert frames[scored_frames(6, clip_len=4)].tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="3 clips of 4 frames every 2 frames need 8 frames"):
        clip_labels_to_frames(y, 7, clip_len=4, stride=2)
    with pytest.raises(ValueError, match="0 or 1"):
        clip_labels_to_frames([2], 4, clip_len=4)


def test_scored_frames_match_evaluate():
    assert scored_frames(20).tolist() == list(range(8, 13))  # 16-frame windows, 9th frame
    assert scored_frames(10, clip_len=4, pad_edges=True).tolist() == list(range(10))
    assert scored_frames(3, clip_len=4).size == 0


def test_read_labels(tmp_path):
    txt = tmp_path / "l.txt"
    txt.write_text("# clip labels\n0, 1 1\n\n0\n")
    assert read_labels(txt).tolist() == [0, 1, 1, 0]
    npy = tmp_path / "l.npy"
    np.save(npy, np.array([[0, 1, 0]]))
    assert read_labels(npy).tolist() == [0, 1, 0] and read_labels(npy).dtype == np.int8
    txt.write_text("0 1 2\n")
    with pytest.raises(ValueError, match=r"l.txt: value 2 is '2', expected 0 or 1"):
        read_labels(txt)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_labels(tmp_path / "none.txt")
