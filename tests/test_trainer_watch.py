"""Streaming scoring (trainer.stream, ``python -m trainer watch``) and the calibrate / score CLI.

The first tests use a NumPy "model" and a fake capture (fast); the CLI tests train a ``smoke``
model on a tiny synthetic dataset; the last one reads ``../shared/datasets/videos/vtest.avi``
when it is there.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from trainer.calibration import Calibration, calibrate, score_index_for, video_psnr
from trainer.data import Video, load_video
from trainer.progress import LiveLine
from trainer.stream import STREAM_COLUMNS, open_source, prepare_frame, watch

T, H, W = 4, 8, 8
SHAPE = (T, H, W, 1)
VTEST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "videos" / "vtest.avi"


def mean_model(batch: np.ndarray) -> np.ndarray:
    return np.broadcast_to(batch.mean(axis=1, keepdims=True), batch.shape).copy()


class FakeCapture:
    """BGR frames from a list; raises KeyboardInterrupt (Ctrl-C) at frame ``interrupt_at``."""

    def __init__(self, frames, interrupt_at: int | None = None) -> None:
        self.frames, self.i, self.interrupt_at = list(frames), 0, interrupt_at

    def read(self):
        if self.i == self.interrupt_at:
            raise KeyboardInterrupt
        if self.i >= len(self.frames):
            return False, None
        self.i += 1
        return True, self.frames[self.i - 1]

    def get(self, prop: int) -> float:
        return 10.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        pass


def bgr_frames(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (24, 40, 3), dtype=np.uint8) for _ in range(n)]


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize(("delay", "batch"), [(0, 1), (0, 3), (2, 4)])
def test_stream_scores_equal_whole_video_scores(tmp_path, delay, batch):
    frames = bgr_frames(23)
    video = Video("v", np.stack([prepare_frame(f, (H, W), 1) for f in frames]), None, None)
    s = score_index_for(T, delay)
    _, expected = video_psnr(video, mean_model, clip_len=T, score_index=s, pad_edges=True)
    seen = []

    def model(b):
        seen.append(b.shape)
        return mean_model(b)

    res = watch(FakeCapture(frames), model, SHAPE, delay=delay, out=tmp_path, batch=batch)
    got = rows(tmp_path / "scores.csv")
    assert [int(r["frame"]) for r in got] == list(range(23))
    np.testing.assert_allclose([float(r["psnr"]) for r in got], expected, atol=1e-5)
    assert {shape[0] for shape in seen} == {batch}  # one batch shape (fixed_batch)
    assert res.frames_scored == res.frames_read == 23 and res.stopped == "end of stream"
    assert all(r["alarm"] == "" for r in got)  # uncalibrated: no decision
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["calibrated"] is False and summary["delay_frames"] == delay


def test_ctrl_c_keeps_csv_and_video(tmp_path):
    frames = bgr_frames(40, seed=1)
    normal = Video("n", np.stack([prepare_frame(f, (H, W), 1) for f in bgr_frames(300, 2)]),
                   None, None)  # fmt: skip
    cal = calibrate(None, [normal], predict_fn=mean_model, input_shape=SHAPE)
    status = LiveLine(stream=open(tmp_path / "log.txt", "w"), tty=False)
    res = watch(FakeCapture(frames, interrupt_at=17), mean_model, SHAPE, calibration=cal,
                fpr=0.05, out=tmp_path / "out", batch=4, status=status)  # fmt: skip
    assert res.stopped == "interrupted" and res.frames_read == res.frames_scored == 17
    got = rows(tmp_path / "out" / "scores.csv")
    assert list(got[0]) == list(STREAM_COLUMNS) and len(got) == 17
    assert {r["alarm"] for r in got} <= {"0", "1"} and float(got[3]["time_s"]) == 0.3
    cap = cv2.VideoCapture(str(tmp_path / "out" / "annotated.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 17  # a playable file with every scored frame
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["stopped"] == "interrupted" and summary["calibration"]["fpr"] == 0.05
    assert status.lines[-1].startswith("interrupted: scored 17 of 17 frames")


def test_max_frames_and_calibration_checks(tmp_path):
    frames = bgr_frames(30)
    res = watch(FakeCapture(frames), mean_model, SHAPE, max_frames=12, out=None)
    assert res.frames_read == res.frames_scored == 12 and res.stopped == "max frames"
    other = Calibration(psnr=np.arange(200.0), input_shape=(16, 8, 8, 1), score_index=15)
    with pytest.raises(ValueError, match="calibration was made for a model of input 16 x 8"):
        watch(FakeCapture(frames), mean_model, SHAPE, calibration=other)
    with pytest.raises(FileNotFoundError):
        open_source(tmp_path / "missing.avi")


def test_stream_frames_are_the_readers_frames(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (40, 24))
    for f in bgr_frames(12):
        writer.write(f)
    writer.release()
    cap, live = open_source(path)
    got = []
    ok, frame = cap.read()
    while ok:
        got.append(prepare_frame(frame, (H, W), 1))
        ok, frame = cap.read()
    cap.release()
    assert not live
    np.testing.assert_array_equal(np.stack(got), load_video(path, (H, W), 1).frames)


# ------------------------------------------------------------------ CLI, with a smoke model

keras = pytest.importorskip("keras")

from trainer.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("watch")
    data = base / "tiny"
    assert main(["make-synthetic", "--out", str(data), "--n-train", "2", "--n-test", "1",
                 "--frames", "40", "--size", "32,32"]) == 0  # fmt: skip
    out = base / "run"
    assert main(["train", "--preset", "smoke", "--data", str(data), "--out", str(out),
                 "--set", f"cache_dir={base / 'cache'}", "--quiet", "--no-eval"]) == 0  # fmt: skip
    return out, data


@pytest.mark.slow
def test_calibrate_score_watch_cli(run, tmp_path, capsys):
    out, data = run
    model = str(out / "model.keras")
    video = data / "testing" / "frames" / "01"
    # Without a calibration: causal PSNRs, no alarm columns, and a note saying so.
    assert main(["score", str(video), "--model", model, "--out", str(tmp_path / "s0")]) == 0
    assert "uncalibrated" in capsys.readouterr().out
    assert "alarm" not in rows(tmp_path / "s0" / "scores.csv")[0]

    assert main(["calibrate", model, "--normal", str(data / "training"), "--quiet"]) == 0
    cal = Calibration.load(out / "calibration.json")
    assert cal.n_frames == 2 * (40 - 15) and cal.delay == 0 and cal.input_shape == (16, 32, 32, 1)
    assert main(["score", str(video), "--model", model, "--out", str(tmp_path / "s1"),
                 "--fpr", "0.05"]) == 0  # fmt: skip
    assert "alarms at fpr 0.05" in capsys.readouterr().out.splitlines()[-1]
    scored = rows(tmp_path / "s1" / "scores.csv")
    assert len(scored) == 40 and {"p_normal", "calibrated_score", "alarm"} <= set(scored[0])
    summary = json.loads((tmp_path / "s1" / "summary.json").read_text())
    assert summary["scores"]["causal"] is True and "benchmark" in summary["scores"]["score"]
    assert summary["scores"]["calibration"]["n_frames"] == cal.n_frames

    # A calibration of another input size is refused with one clear line.
    other = Calibration(psnr=np.arange(200.0), input_shape=(16, 64, 64, 1), score_index=15)
    other.save(tmp_path / "other.json")
    args = ["score", str(video), "--model", model, "--calibration", str(tmp_path / "other.json")]
    assert main([*args, "--quiet"]) == 2
    assert "takes 16 x 32 x 32 x 1" in capsys.readouterr().err
    assert main([*args[:-2], "--delay", "3", "--fpr", "0.05", "--quiet"]) == 2
    assert "the calibration scores with delay 0" in capsys.readouterr().err
    assert main([*args[:-2], "--quiet"]) == 2  # 50 normal frames cannot give fpr 0.01
    assert "--fpr 0.01 needs at least 99 normal frames" in capsys.readouterr().err

    # watch on a generated video file agrees with score frame by frame.
    avi = tmp_path / "v.avi"
    frames = load_video(video, None, 3).frames
    writer = cv2.VideoWriter(str(avi), cv2.VideoWriter_fourcc(*"MJPG"), 10, frames.shape[2:0:-1])
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    assert main(["score", str(avi), "--model", model, "--out", str(tmp_path / "s2"),
                 "--fpr", "0.05", "--quiet"]) == 0  # fmt: skip
    assert main(["watch", str(avi), "--model", model, "--out", str(tmp_path / "w"),
                 "--max-frames", "30", "--fpr", "0.05"]) == 0  # fmt: skip
    text = capsys.readouterr()
    assert "max frames: 30 frames scored" in text.out and "frames/s" in text.err
    streamed = rows(tmp_path / "w" / "scores.csv")
    offline = rows(tmp_path / "s2" / "scores.csv")[:30]
    np.testing.assert_allclose([float(r["psnr"]) for r in streamed],
                               [float(r["psnr"]) for r in offline], atol=1e-4)  # fmt: skip
    assert (tmp_path / "w" / "annotated.mp4").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.skipif(not VTEST.is_file(), reason=f"{VTEST} is not there")
def test_watch_vtest(run, tmp_path):
    out, _ = run
    args = [
        "watch",
        str(VTEST),
        "--model",
        str(out / "model.keras"),
        "--out",
        str(tmp_path),
        "--max-frames",
        "20",
        "--calibration",
        str(out / "missing.json"),
        "--quiet",
    ]
    assert main(args) == 2  # a named calibration file must exist
    assert main(args[:-3] + ["--fpr", "0.05", "--quiet"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["frames_scored"] == 20 and summary["frames_per_second"] > 0
    assert len(rows(tmp_path / "scores.csv")) == 20


@pytest.mark.slow
def test_score_a_folder_of_videos(run, tmp_path, capsys):
    """score takes a folder of video files (or frame folders) as calibrate --normal does."""
    out, data = run
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("01", "02"):
        frames = load_video(data / "training" / "frames" / name, None, 3).frames
        writer = cv2.VideoWriter(
            str(folder / f"{name}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, frames.shape[2:0:-1]
        )
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
    model = str(out / "model.keras")
    # --fpr 0.05: an earlier test may have calibrated this model on 50 frames
    assert main(["score", str(folder), "--model", model, "--fpr", "0.05", "--quiet"]) == 0
    scored = rows(out / "score-videos" / "scores.csv")
    assert [r["video"] for r in scored] == ["01"] * 40 + ["02"] * 40
    assert main(["score", str(data / "training"), "--model", model, "--out", str(tmp_path / "f"),
                 "--no-pad-edges", "--fpr", "0.05", "--quiet"]) == 0  # fmt: skip
    assert len(rows(tmp_path / "f" / "scores.csv")) == 2 * (40 - 15)  # full windows only
