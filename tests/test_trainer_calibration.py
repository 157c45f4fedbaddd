"""Calibrated, causal scores (trainer.calibration) on small generated data, NumPy models only.

The "model" reconstructs a window as its temporal mean, so a frame's error depends on every
frame of its window: enough to check causality, the false-alarm rate and the file format.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from trainer.calibration import (
    Calibration,
    CalibrationError,
    apply_calibration,
    calibrate,
    find_videos,
    score_index_for,
    video_psnr,
)
from trainer.data import Video
from trainer.evaluation import evaluate
from trainer.writers import write_scores_csv

T, H, W = 4, 8, 8
SHAPE = (T, H, W, 1)


def mean_model(batch: np.ndarray) -> np.ndarray:
    """Reconstruct each window as its mean frame."""
    return np.broadcast_to(batch.mean(axis=1, keepdims=True), batch.shape).copy()


def noise_video(name: str, frames: int, seed: int, spread: float = 30.0) -> Video:
    """Normal video: gray 128 plus Gaussian noise of ``spread`` levels, fresh in each frame."""
    rng = np.random.default_rng(seed)
    x = np.clip(128 + spread * rng.standard_normal((frames, H, W, 1)), 0, 255)
    return Video(name, x.astype(np.uint8), labels=None, masks=None)


def calibration_of(videos, delay: int = 0) -> Calibration:
    return calibrate(None, videos, delay=delay, predict_fn=mean_model, input_shape=SHAPE)


def test_threshold_gives_the_target_false_alarm_rate_on_held_out_normal_video():
    cal = calibration_of([noise_video(f"n{i}", 500, seed=i) for i in range(6)])
    assert cal.n_frames == 6 * (500 - T + 1)  # full windows only
    held_out = [noise_video(f"h{i}", 2000, seed=100 + i) for i in range(5)]
    rates = {}
    for fpr in (0.01, 0.05):
        alarms = [
            cal.alarm(
                video_psnr(v, mean_model, clip_len=T, score_index=T - 1, pad_edges=False)[1], fpr
            )  # fmt: skip
            for v in held_out
        ]
        rates[fpr] = float(np.concatenate(alarms).mean())
    assert 0.005 <= rates[0.01] <= 0.016, rates
    assert 0.035 <= rates[0.05] <= 0.065, rates
    # Anomalous frames (twice the noise) are flagged far more often.
    odd = noise_video("odd", 500, seed=7, spread=60.0)
    psnr = video_psnr(odd, mean_model, clip_len=T, score_index=T - 1, pad_edges=False)[1]
    assert cal.alarm(psnr, 0.01).mean() > 0.5


def test_p_value_score_and_threshold_agree():
    cal = Calibration(psnr=np.arange(1.0, 200.0), input_shape=SHAPE, score_index=T - 1)
    x = np.linspace(-5, 210, 500)
    p = cal.p_value(x)
    assert np.all((p > 0) & (p <= 1)) and np.all(np.diff(p) >= 0)
    for fpr in (0.01, 0.05, 0.2):
        np.testing.assert_array_equal(cal.alarm(x, fpr), p <= fpr)
        np.testing.assert_array_equal(cal.alarm(x, fpr), cal.score(x) >= -np.log10(fpr) - 1e-12)
    assert cal.score(1000.0) == 0.0 and cal.score(-1.0) == pytest.approx(np.log10(200))
    with pytest.raises(CalibrationError, match="needs at least 999 normal frames"):
        cal.threshold(0.001)
    with pytest.raises(CalibrationError, match=r"fpr must be in \(0, 1\)"):
        cal.threshold(1.5)


def test_scores_are_causal():
    """The score of frame t does not change when frames after t do; with a delay d it depends
    on frames up to t + d only."""
    video = noise_video("v", 40, seed=1)
    for delay in (0, 2):
        s = score_index_for(T, delay)
        frames, before = video_psnr(video, mean_model, clip_len=T, score_index=s, pad_edges=True)
        assert frames.tolist() == list(range(40))  # every frame scored, front padded
        for t in (0, 5, 20, 38):
            changed = video.frames.copy()
            changed[t + 1 :] = 255 - changed[t + 1 :]
            other = Video("v", changed, labels=None, masks=None)
            after = video_psnr(other, mean_model, clip_len=T, score_index=s, pad_edges=True)[1]
            kept = max(0, t + 1 - delay)  # frames whose window ends at or before t
            np.testing.assert_array_equal(after[:kept], before[:kept])
            if delay and t < 38:
                assert after[t] != before[t]  # the delayed window sees frame t + 1
    # The paper's centred window (delay T - 1 - T // 2) is not causal.
    assert score_index_for(16, 7) == 8 and score_index_for(16) == 15


def test_save_load_round_trip(tmp_path):
    cal = calibration_of([noise_video("a", 60, seed=3), noise_video("b", 30, seed=4)], delay=1)
    path = cal.save(tmp_path / "run" / "calibration.json")
    back = Calibration.load(path)
    np.testing.assert_allclose(back.psnr, cal.psnr, atol=1e-6)
    assert back.input_shape == SHAPE and back.score_index == T - 2 and back.delay == 1
    assert back.threshold(0.05) == pytest.approx(cal.threshold(0.05), abs=1e-6)
    assert [s["frames"] for s in back.sources] == [60, 30]
    d = json.loads(path.read_text())
    assert d["format"] == "pseudoanom-calibration" and d["statistic"] == "psnr"
    assert d["n_frames"] == cal.n_frames == len(d["psnr_sorted"]) == (60 - 3) + (30 - 3)
    assert set(d["psnr_quantiles"]) >= {"0.01", "0.5"} and d["delay_frames"] == 1


def test_clear_errors(tmp_path):
    cal = calibration_of([noise_video("a", 60, seed=3)])
    with pytest.raises(CalibrationError, match=r"input 4 x 8 x 8 x 1 .* takes 16 x 64 x 64 x 1"):
        cal.check_model((16, 64, 64, 1))
    cal.check_model(SHAPE)  # the right size: fine
    (tmp_path / "x.json").write_text('{"a": 1}')
    with pytest.raises(CalibrationError, match="is not a calibration file"):
        Calibration.load(tmp_path / "x.json")
    with pytest.raises(FileNotFoundError):
        Calibration.load(tmp_path / "missing.json")
    with pytest.raises(CalibrationError, match="nothing to calibrate on"):
        calibration_of([noise_video("short", T - 1, seed=0)])
    with pytest.raises(CalibrationError, match="has frames of 8 x 8 x 1, the model takes"):
        calibrate(None, [noise_video("a", 20, 0)], predict_fn=mean_model, input_shape=(4, 9, 9, 1))
    with pytest.raises(CalibrationError, match="no video file"):
        find_videos([tmp_path])


def test_scores_csv_gets_the_calibrated_columns(tmp_path):
    cal = calibration_of([noise_video(f"n{i}", 200, seed=i) for i in range(2)])
    video = noise_video("new", 30, seed=9)
    result = evaluate([video], mean_model, clip_len=T, score_index=T - 1, pad_edges=True,
                      require_labels=False)  # fmt: skip
    entry = apply_calibration(result, cal, 0.05)
    assert entry["alarms"] == {"new": int(result.videos[0].alarm.sum())}
    rows = list(csv.DictReader(write_scores_csv(result, tmp_path / "s.csv").open()))
    assert list(rows[0]) == ["video", "frame", "psnr", "score", "label", "p_normal",
                             "calibrated_score", "alarm"]  # fmt: skip
    assert len(rows) == 30 and {r["alarm"] for r in rows} <= {"0", "1"}
