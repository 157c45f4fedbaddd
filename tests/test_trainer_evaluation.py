"""Tests for trainer.evaluation and trainer.plots on hand-made examples with known AUCs."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from trainer.data import Video
from trainer.evaluation import (
    CSV_COLUMNS,
    evaluate,
    frame_psnr,
    minmax_scores,
    window_counts,
)
from trainer.progress import LiveLine, Progress
from trainer.writers import git_commit, write_scores_csv, write_summary_json

T, S = 4, 2  # clip length and scored position: scored frames are 2 .. K-2 without padding

# Frame f of each video is a uniform 4x4 image whose uint8 value identifies it. The fake model
# reconstructs every frame perfectly (PSNR capped at 100 dB) except the frames in BAD, to which
# it adds a constant error e (model range), so PSNR = 10 log10(1 / (e/2)^2) on the [0, 1] scale.
VALUES = {"A": range(10, 20), "B": range(30, 38), "C": range(50, 56)}  # K = 10, 8, 6
BAD = {15: 0.4, 13: 0.2, 16: 0.1, 34: 0.3, 53: 0.5}  # A5, A3, A6, B4, C3
LABELS = {"A": [5, 6], "B": [4], "C": []}  # C: one class only -> skipped by the macro AUC


def _videos(with_masks: bool = False) -> list[Video]:
    out = []
    for name, vals in VALUES.items():
        vals = list(vals)
        frames = np.stack([np.full((4, 4, 1), v, np.uint8) for v in vals])
        labels = np.zeros(len(vals), np.int8)
        labels[LABELS[name]] = 1
        masks = None
        if with_masks:
            masks = np.zeros((len(vals), 4, 4), bool)
            masks[labels == 1, 1:3, 1:3] = True
        out.append(Video(name, frames, labels, masks))
    return out


class FakeModel:
    def __init__(self, bad=BAD):
        self.bad = bad
        self.batch_shapes: list[tuple[int, ...]] = []
        self.batches: list[np.ndarray] = []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        assert batch.dtype == np.float32 and batch.min() >= -1 and batch.max() <= 1
        self.batch_shapes.append(batch.shape)
        self.batches.append(batch.copy())
        ids = np.rint((batch[:, :, 0, 0, 0] + 1) * 127.5).astype(int)  # (B, T)
        err = np.vectorize(lambda v: self.bad.get(int(v), 0.0))(ids).astype(np.float32)
        return batch + err[:, :, None, None, None]


def _psnr(e: float) -> float:
    return 10 * math.log10(1 / (e / 2) ** 2)


def test_hand_made_micro_macro_unnormalised_auc():
    model = FakeModel()
    r = evaluate(_videos(), model, clip_len=T, score_index=S, batch_size=4)
    # scored frames: A 2..8 (7), B 2..6 (5), C 2..4 (3)
    assert r.n_scored == 15
    assert [v.frames.tolist() for v in r.videos] == [
        list(range(2, 9)),
        list(range(2, 7)),
        list(range(2, 5)),
    ]
    a = r.videos[0]
    assert a.psnr[a.frames.tolist().index(5)] == pytest.approx(_psnr(0.4), abs=1e-4)
    assert a.psnr[0] == pytest.approx(100.0)  # perfect -> capped
    # per-video min-max: A5 is A's minimum -> score 1; perfect frames -> 0
    lo = _psnr(0.4)
    exp_a = {
        2: 0,
        3: 1 - (_psnr(0.2) - lo) / (100 - lo),
        4: 0,
        5: 1,
        6: 1 - (_psnr(0.1) - lo) / (100 - lo),
    }
    for f, s in exp_a.items():
        assert a.score[a.frames.tolist().index(f)] == pytest.approx(s, abs=1e-6)
    # A: positives {5: 1.0, 6: 0.860}, negatives {2: 0, 3: 0.930, 4, 7, 8: 0} -> 9/10
    # B: positive 4 (1.0) above every negative -> 1.0; C: single class -> skipped
    assert r.per_video_auc == pytest.approx({"A": 0.9, "B": 1.0})
    assert r.macro_auc == pytest.approx(0.95)
    assert r.macro_auc_skipped == ["C"]
    # micro: 3 positives (A5 = 1, A6 = .86, B4 = 1) vs 12 negatives (ten 0s, A3 = .93, C3 = 1):
    # A5: 11 wins + 1 tie, A6: 10 wins, B4: 11 wins + 1 tie -> 33 / 36
    assert r.micro_auc == pytest.approx(33 / 36)
    # raw -PSNR: positives 13.98, 26.02, 16.48 dB; negatives 20 (A3), 12.04 (C3), ten x 100
    # A5: 11, A6: 10, B4: 11 -> 32 / 36
    assert r.unnormalised_auc == pytest.approx(32 / 36)
    # batching: ceil(15 / 4) calls, never more than batch_size windows
    assert [s[0] for s in model.batch_shapes] == [4, 4, 4, 3]
    assert all(s[1:] == (T, 4, 4, 1) for s in model.batch_shapes)
    assert r.frames_per_second > 0
    summary = r.summary({"seed": 3})
    assert summary["macro_auc_skipped_videos"] == ["C"]
    assert summary["protocol"]["pad_edges"] is False and summary["seed"] == 3
    assert any("single class" in n for n in summary["notes"])


def test_default_protocol_is_16_frames_scoring_the_ninth():
    frames = np.repeat(np.arange(20, dtype=np.uint8), 16).reshape(20, 4, 4, 1)
    r = evaluate(
        [Video("v", frames, np.r_[np.zeros(10), np.ones(10)].astype(np.int8), None)],
        np.zeros_like,
    )
    assert r.protocol["clip_len"] == 16 and r.protocol["score_index"] == 8
    assert r.videos[0].frames.tolist() == list(range(8, 13))  # 20 - 15 = 5 scored frames


def test_pad_edges_scores_every_frame():
    model = FakeModel()
    r = evaluate(_videos(), model, clip_len=T, score_index=S, batch_size=16, pad_edges=True)
    assert r.n_scored == 10 + 8 + 6
    for v, k in zip(r.videos, (10, 8, 6), strict=True):
        assert v.frames.tolist() == list(range(k))
    # the window scoring frame 0 of A repeats frame 0 before it and ends at frame 1
    first = np.rint((model.batches[0][0, :, 0, 0, 0] + 1) * 127.5).astype(int)
    assert first.tolist() == [10, 10, 10, 11]
    last = np.rint((model.batches[0][9, :, 0, 0, 0] + 1) * 127.5).astype(int)
    assert last.tolist() == [17, 18, 19, 19]
    assert r.protocol["pad_edges"] is True
    assert r.summary()["protocol"]["pad_edges"] is True


def test_csv_columns_and_frame_indices(tmp_path):
    r = evaluate(_videos(), FakeModel(), clip_len=T, score_index=S, batch_size=5)
    p = write_scores_csv(r, tmp_path / "out" / "scores.csv")
    with open(p, newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS == ("video", "frame", "psnr", "score", "label")
    body = rows[1:]
    assert len(body) == 15
    a_rows = [r_ for r_ in body if r_[0] == "A"]
    assert [int(r_[1]) for r_ in a_rows] == list(range(2, 9))
    assert [r_[4] for r_ in a_rows] == ["0", "0", "0", "1", "1", "0", "0"]
    a5 = next(r_ for r_ in a_rows if r_[1] == "5")
    assert float(a5[3]) == pytest.approx(1.0) and float(a5[2]) == pytest.approx(_psnr(0.4), 1e-5)

    j = write_summary_json(r, tmp_path / "out" / "summary.json", {"commit": git_commit()})
    d = json.loads(j.read_text())
    assert d["micro_auc"] == pytest.approx(33 / 36) and d["n_scored_frames"] == 15
    assert isinstance(d["commit"], str) and d["commit"]
    with pytest.raises(ValueError, match="clash"):
        r.summary({"micro_auc": 1.0})


def test_unlabelled_videos_leave_label_empty(tmp_path):
    vids = _videos()
    for v in vids:
        v.labels = None
    with pytest.raises(ValueError, match="no frame labels for 3 of 3"):
        evaluate(vids, FakeModel(), clip_len=T, score_index=S)
    r = evaluate(vids, FakeModel(), clip_len=T, score_index=S, require_labels=False)
    assert r.micro_auc is None and r.macro_auc is None
    rows = list(csv.reader(open(write_scores_csv(r, tmp_path / "s.csv"), newline="")))
    assert all(row[4] == "" for row in rows[1:])


def test_label_length_mismatch_names_both_numbers():
    vids = _videos()
    vids[1].labels = np.zeros(7, np.int8)  # bypasses Video's own check on purpose
    with pytest.raises(ValueError, match=r"'B': 7 labels but 8 frames"):
        evaluate(vids, FakeModel(), clip_len=T, score_index=S)


def test_constant_psnr_video_scores_zero():
    vids = _videos()
    with pytest.warns(UserWarning, match="PSNRs equal"):
        r = evaluate(vids, FakeModel(bad={}), clip_len=T, score_index=S)  # perfect everywhere
    assert r.constant_psnr_videos == ["A", "B", "C"]
    for v in r.videos:
        assert np.all(v.score == 0) and np.all(np.isfinite(v.score)) and v.constant_psnr
    assert r.micro_auc == pytest.approx(0.5)
    assert any("scores set to 0" in n for n in r.notes)


def test_short_video_unscored_and_predict_shape_checked():
    vids = _videos()
    vids.append(Video("D", np.zeros((3, 4, 4, 1), np.uint8), np.zeros(3, np.int8), None))
    with pytest.warns(UserWarning, match="'D' has 3 frames < clip_len=4"):
        r = evaluate(vids, FakeModel(), clip_len=T, score_index=S)
    assert r.unscored_videos == ["D"] and r.n_scored == 15
    with pytest.raises(ValueError, match="predict_fn returned shape"):
        evaluate(_videos(), lambda b: b[:, :2], clip_len=T, score_index=S)


def test_kept_reconstructions_and_plots(tmp_path):
    from trainer.plots import plot_reconstructions, plot_scores

    with pytest.warns(UserWarning, match=r"frames \[0\] of video 'A'"):
        r = evaluate(
            _videos(with_masks=True),
            FakeModel(),
            clip_len=T,
            score_index=S,
            keep={"A": [5, 0], "B": [3]},
        )
    got = {(rc.video, rc.frame): rc for rc in r.reconstructions}
    assert set(got) == {("A", 5), ("B", 3)}
    a5 = got[("A", 5)]
    assert a5.input.shape == (4, 4, 1) and a5.score == pytest.approx(1.0) and a5.label == 1
    np.testing.assert_allclose(a5.recon - a5.input, 0.2, atol=1e-6)  # e / 2 on [0, 1]
    assert a5.mask is not None and a5.mask.sum() == 4

    paths = plot_scores(r, tmp_path / "plots")
    paths += plot_reconstructions(r.reconstructions, tmp_path / "plots")
    assert len(paths) == 3 + 1 + 2
    for p in paths:
        assert p.suffix == ".png" and p.stat().st_size > 1000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_psnr_and_minmax_helpers():
    x = np.zeros((2, 3, 3, 1), np.float32)
    y = x.copy()
    y[1] += 0.2  # 0.1 on the [0, 1] scale -> 20 dB
    np.testing.assert_allclose(frame_psnr(x, y), [100.0, 20.0], atol=1e-4)
    s, const = minmax_scores(np.array([30.0, 20.0, 25.0]))
    np.testing.assert_allclose(s, [0.0, 1.0, 0.5])
    assert not const
    s, const = minmax_scores(np.array([7.0, 7.0]))
    assert const and s.tolist() == [0.0, 0.0]


class Clock:
    """A fake ``perf_counter`` that moves ``step`` seconds per reading."""

    def __init__(self, step: float) -> None:
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def test_fixed_batch_gives_one_batch_shape_and_the_same_scores():
    model = FakeModel()
    fixed = evaluate(_videos(), model, clip_len=T, score_index=S, batch_size=4, fixed_batch=True)
    assert [s[0] for s in model.batch_shapes] == [4, 4, 4, 4]
    plain = evaluate(_videos(), FakeModel(), clip_len=T, score_index=S, batch_size=4)
    for a, b in zip(fixed.videos, plain.videos, strict=True):
        np.testing.assert_array_equal(a.psnr, b.psnr)
    assert fixed.micro_auc == plain.micro_auc and fixed.n_scored == plain.n_scored == 15


def test_window_counts():
    assert window_counts([10, 8, 3], 4, pad_edges=False) == [7, 5, 0]
    assert window_counts([10, 8, 3], 4, pad_edges=True) == [10, 8, 3]


def test_progress_in_a_log_a_line_per_interval_at_most():
    import io

    vids = _videos()
    vids.append(Video("D", np.zeros((3, 4, 4, 1), np.uint8), np.zeros(3, np.int8), None))
    stream = io.StringIO()  # not a terminal
    progress = Progress.for_videos(vids, T, False, stream=stream, interval=10, clock=Clock(4))
    calls = []
    with pytest.warns(UserWarning, match="'D' has 3 frames"):
        r = evaluate(
            vids, FakeModel(), clip_len=T, score_index=S, batch_size=2,
            progress=lambda d, t: (calls.append((d, t)), progress(d, t)),
        )  # fmt: skip
    assert calls[0] == (0, 15) and calls[-1] == (15, 15) and len(calls) == 1 + 8
    lines = stream.getvalue().splitlines()
    assert lines == progress.lines
    assert lines[0] == "scoring 3 videos: 15 windows (a line every 10 s at most)"
    # calls every 4 s, a line every >= 10 s: at 12 s (6 windows done) and 24 s (12 done)
    assert lines[1] == (
        "video 1/4 A: 6/7 windows, 0.5 frames/s; all videos 6/15 (40%), 0.5 frames/s, 18 s left"
    )
    assert lines[2].startswith("video 3/4 C: 0/3 windows, ")
    assert lines[3] == "scored 15 frames of 3 videos in 32 s (0.5 frames/s)"
    assert len(lines) == 4 and r.n_scored == 15


def test_progress_on_a_terminal_rewrites_one_line():
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    progress = Progress.for_videos(_videos(), T, False, stream=stream, refresh=0, clock=Clock(1))
    evaluate(_videos(), FakeModel(), clip_len=T, score_index=S, batch_size=4, progress=progress)
    out = stream.getvalue()
    assert out.count("\n") == 1 and out.endswith("\n")  # only the summary ends a line
    parts = out.split("\r")[1:]
    assert parts[0].startswith("scoring 3 videos: 15 windows") and "at most" not in parts[0]
    assert len(parts) == 1 + 3 + 1  # start, 3 batches before the last, summary
    assert parts[-1].rstrip() == "scored 15 frames of 3 videos in 4 s (3.8 frames/s)"
    # a shorter line blanks what is left of a longer one
    pairs = zip(parts, parts[1:], strict=False)
    assert all(len(p.rstrip("\n")) >= len(q.rstrip()) for q, p in pairs)


def test_live_line_in_a_log_a_line_per_interval_and_always_the_final_one():
    import io

    stream = io.StringIO()
    line = LiveLine(stream, interval=10, clock=Clock(4))
    for i in range(6):  # at 4, 8, ..., 24 s
        line.update(f"step {i}")
    line.update("done", final=True)  # at 28 s, though not due
    assert stream.getvalue().splitlines() == line.lines == ["step 0", "step 3", "done"]


def test_live_line_on_a_terminal_is_rewritten_and_blanks_a_longer_one():
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    line = LiveLine(stream, refresh=0, clock=Clock(1))
    line.update("a longer line")
    line.update("short", final=True)
    assert stream.getvalue() == "\ra longer line" + "\rshort" + " " * 8 + "\n"


def test_live_line_without_a_stream_writes_to_stderr_at_the_time_of_writing(monkeypatch):
    import io
    import sys

    line = LiveLine(tty=False, clock=Clock(1))
    later = io.StringIO()
    monkeypatch.setattr(sys, "stderr", later)
    line.update("now", final=True)
    assert later.getvalue() == "now\n"
