"""Streaming scoring: ``python -m trainer watch SOURCE`` (a file, a camera, a stream URL).

Frames are read one at a time with OpenCV, converted as the trainer's readers convert them
(grayscale or RGB, resized to the model's ``H x W`` with ``cv2.INTER_AREA``), and kept in a
ring buffer of the last ``T`` frames (``T`` = the model's window). Each arriving frame ends a
window; ``batch`` windows are reconstructed together (``batch = 1``: lowest latency). A frame
is scored by the window that ends ``delay`` frames after it (the calibration's delay; 0 =
causal), exactly as :func:`trainer.calibration.video_psnr` scores a whole video with padded
edges, so ``watch`` and ``score`` give the same PSNR per frame. Memory is bounded: the ring
buffer, one batch of windows and one timeline strip.

Outputs in ``out`` (each optional): ``scores.csv`` (``frame, time_s, psnr, p_normal,
calibrated_score, alarm``; the last three empty without a calibration), ``annotated.mp4`` (the
frame with the error map over it, a status line, and the score timeline under it; ``mp4v``)
and ``summary.json``. A live line says frames/s, the score and the alarms so far: rewritten
in place on a terminal, every ``interval`` seconds otherwise. Ctrl-C (``KeyboardInterrupt``)
and the end of the stream both stop it cleanly: the frames already read are scored, and the
CSV and the video are flushed and closed.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

import cv2
import numpy as np

from trainer.calibration import DEFAULT_FPR, Calibration, score_index_for
from trainer.data import to_model_range
from trainer.evaluation import PredictFn, frame_psnr
from trainer.localisation import error_map
from trainer.progress import write_status
from trainer.writers import git_commit

__all__ = [
    "STREAM_COLUMNS",
    "Capture",
    "LiveLine",
    "WatchResult",
    "open_source",
    "prepare_frame",
    "watch",
]

STREAM_COLUMNS: tuple[str, ...] = (
    "frame", "time_s", "psnr", "p_normal", "calibrated_score", "alarm",
)  # fmt: skip
"""Columns of ``watch``'s ``scores.csv``."""

HEAT_MAX = 0.5
"""Absolute error (on the [0, 1] scale) shown at the top of the heat map's colour scale."""

DISPLAY_WIDTH = 480
"""Widest frame in the annotated video (larger sources are scaled down)."""

STRIP_HEIGHT = 64
"""Height in pixels of the score timeline under the frame."""


class Capture(Protocol):
    """What :func:`watch` reads from: ``cv2.VideoCapture`` or anything with these methods."""

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def get(self, prop: int) -> float: ...

    def release(self) -> None: ...


def open_source(source: str | int) -> tuple[cv2.VideoCapture, bool]:
    """Open a video file, a camera index (``0``, ``"1"``) or a stream URL with OpenCV.

    Returns
    -------
    capture : cv2.VideoCapture
    live : bool
        True for a camera or a URL (times are wall-clock), False for a file.

    Raises
    ------
    FileNotFoundError
        A file path that does not exist.
    ValueError
        OpenCV cannot open the source.
    """
    text = str(source)
    if text.isdigit():
        cap, live = cv2.VideoCapture(int(text)), True
    elif "://" in text:
        cap, live = cv2.VideoCapture(text), True
    else:
        if not Path(text).is_file():
            raise FileNotFoundError(f"video source {text} does not exist")
        cap, live = cv2.VideoCapture(text), False
    if not cap.isOpened():
        cap.release()
        raise ValueError(f"OpenCV cannot open video source {text!r}")
    return cap, live


def prepare_frame(frame: np.ndarray, size: tuple[int, int], channels: int) -> np.ndarray:
    """A BGR (or gray) frame from OpenCV as the model's ``uint8`` ``(H, W, C)``: the
    conversion of :func:`trainer.data.load_video` (colour first, then ``INTER_AREA``)."""
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY if channels == 1 else cv2.COLOR_BGR2RGB)
    h, w = size
    if frame.shape[:2] != (h, w):
        frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    return frame.reshape(h, w, channels)


class LiveLine:
    """The live status line: rewritten in place on a terminal (at most every ``refresh``
    seconds), one line every ``interval`` seconds elsewhere; ``lines`` keeps what was
    written."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        interval: float = 10.0,
        refresh: float = 0.25,
        tty: bool | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty()) if isatty is not None else False
        self.tty = tty
        self.interval, self.refresh, self._clock = interval, refresh, clock
        self._last = -math.inf
        self._width = 0
        self.lines: list[str] = []

    def update(self, text: str, final: bool = False) -> None:
        now = self._clock()
        if not final and now - self._last < (self.refresh if self.tty else self.interval):
            return
        self._last = now
        self.lines.append(text)
        self._width = write_status(self.stream, text, tty=self.tty, width=self._width, final=final)


@dataclass
class WatchResult:
    """What :func:`watch` did.

    Attributes
    ----------
    frames_read, frames_scored, alarms : int
    seconds : float
        Wall time from the first frame read to the last frame scored.
    frames_per_second : float
        ``frames_scored / seconds`` (reading, model, CSV and video writing included).
    stopped : str
        ``"end of stream"``, ``"interrupted"`` (Ctrl-C) or ``"max frames"``.
    calibrated : bool
    files : dict
        ``{"csv", "video", "summary"}`` paths written (absent when not asked for).
    """

    frames_read: int = 0
    frames_scored: int = 0
    alarms: int = 0
    seconds: float = 0.0
    frames_per_second: float = 0.0
    stopped: str = "end of stream"
    calibrated: bool = False
    files: dict[str, str] = field(default_factory=dict)


class _Annotator:
    """The annotated video: frame + error heat map, a status line, the score timeline."""

    def __init__(self, path: Path, fps: float, shape: tuple[int, int], calibration, fpr):
        h, w = shape
        scale = min(1.0, DISPLAY_WIDTH / w)
        self.w, self.h = (
            max(2, int(round(w * scale)) // 2 * 2),
            max(2, int(round(h * scale)) // 2 * 2),
        )
        self.calibration, self.fpr = calibration, fpr
        self.history: deque[tuple[float, bool]] = deque(maxlen=self.w)
        self.lo, self.hi = math.inf, -math.inf  # running PSNR range (uncalibrated timeline)
        fourcc = cv2.VideoWriter_fourcc(*"mp4v")
        self.writer = cv2.VideoWriter(str(path), fourcc, fps, (self.w, self.h + STRIP_HEIGHT))
        if not self.writer.isOpened():
            raise ValueError(f"cannot write video {path} (OpenCV mp4v)")

    def _level(self, psnr: float, score: float | None) -> float:
        """Height of a timeline point in [0, 1]."""
        if score is not None:
            top = max(math.log10(self.calibration.n_frames + 1), 1e-9)
            return min(score / top, 1.0)
        self.lo, self.hi = min(self.lo, psnr), max(self.hi, psnr)
        return 0.5 if not self.hi > self.lo else (self.hi - psnr) / (self.hi - self.lo)

    def write(self, frame_bgr, emap, index, psnr, score, alarm) -> None:
        img = cv2.resize(frame_bgr, (self.w, self.h), interpolation=cv2.INTER_AREA)
        heat = np.clip(np.sqrt(emap) / HEAT_MAX, 0.0, 1.0)
        heat = cv2.resize(heat, (self.w, self.h), interpolation=cv2.INTER_LINEAR)
        colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
        a = (0.6 * heat)[..., None]
        img = (img * (1 - a) + colour * a).astype(np.uint8)
        text = f"#{index} psnr {psnr:.1f}"
        text += f" score {score:.2f}" if score is not None else " (uncalibrated)"
        if alarm:
            text += " ALARM"
            cv2.rectangle(img, (0, 0), (self.w - 1, self.h - 1), (0, 0, 255), 3)
        cv2.putText(img, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
        self.history.append((self._level(psnr, score), bool(alarm)))
        strip = np.full((STRIP_HEIGHT, self.w, 3), 32, np.uint8)
        if score is not None:  # the threshold line
            y = self._y(min(-math.log10(self.fpr) / math.log10(self.calibration.n_frames + 1), 1))
            strip[y, :] = (0, 200, 255)
        x0 = self.w - len(self.history)
        for i, (level, al) in enumerate(self.history):
            strip[self._y(level) :, x0 + i] = (0, 0, 255) if al else (200, 200, 200)
        self.writer.write(np.vstack([img, strip]))

    @staticmethod
    def _y(level: float) -> int:
        return int(round((1 - level) * (STRIP_HEIGHT - 1)))

    def close(self) -> None:
        self.writer.release()


def _start_csv(path: Path) -> tuple[Any, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "w", newline="")
    w = csv.writer(fh)
    w.writerow(STREAM_COLUMNS)
    return fh, w


def watch(
    capture: Capture,
    predict_fn: PredictFn,
    input_shape: tuple[int, int, int, int],
    *,
    calibration: Calibration | None = None,
    fpr: float = DEFAULT_FPR,
    delay: int | None = None,
    out: str | os.PathLike | None = None,
    video: bool = True,
    batch: int = 4,
    max_frames: int | None = None,
    live: bool = False,
    status: LiveLine | None = None,
    extra: dict[str, Any] | None = None,
    fixed_batch: bool = True,
) -> WatchResult:
    """Score the frames of ``capture`` as they arrive.

    Parameters
    ----------
    capture : Capture
        An opened source (:func:`open_source`); released by the caller.
    predict_fn : callable
        ``batch -> reconstruction`` on ``float32`` ``(B, T, H, W, C)`` in [-1, 1].
    input_shape : tuple of int
        The model's ``(T, H, W, C)``.
    calibration : Calibration or None
        Gives ``p_normal``, ``calibrated_score`` and ``alarm``; ``None``: PSNR only
        (uncalibrated).
    fpr : float
        Target false-alarm rate of the alarms.
    delay : int or None
        Frames between a scored frame and the end of its window; default the calibration's,
        else 0 (causal).
    out : path or None
        Folder for ``scores.csv``, ``annotated.mp4`` (with ``video``) and ``summary.json``.
    batch : int
        Windows per forward pass (adds up to ``batch - 1`` frames of latency).
    max_frames : int or None
        Stop after reading this many frames.
    live : bool
        Times are wall-clock seconds since the start (a camera or URL), else ``frame / fps``.
    status : LiveLine or None
        The live line; ``None``: none.
    extra : dict or None
        Merged into ``summary.json``.
    fixed_batch : bool
        Always send ``batch`` windows (the last, partial batch is filled with copies), so a
        compiled model sees one shape.

    Returns
    -------
    WatchResult
    """
    t, h, w, c = (int(v) for v in input_shape)
    if calibration is not None:
        calibration.check_model(input_shape)
        calibration.threshold(fpr)  # fails early on a bad fpr
        if delay is not None and delay != calibration.delay:
            raise ValueError(
                f"delay {delay} differs from the calibration's ({calibration.delay} frames)"
            )
        delay = calibration.delay
    delay = 0 if delay is None else int(delay)
    s = score_index_for(t, delay)
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    fps = fps if 0 < fps < 1000 else 25.0
    out_dir = Path(out) if out is not None else None
    res = WatchResult(calibrated=calibration is not None)
    fh = writer = annot = None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        fh, writer = _start_csv(out_dir / "scores.csv")
        res.files["csv"] = str(out_dir / "scores.csv")

    ring: deque[np.ndarray] = deque(maxlen=t)  # model-range frames of the current window
    shown: deque[tuple[int, float, np.ndarray]] = deque(maxlen=t + batch)  # index, time, BGR
    windows = np.empty((batch, t, h, w, c), np.float32)
    pending: list[int] = []  # frame each window of `windows` scores
    t0 = time.perf_counter()

    def flush() -> None:
        n = len(pending)
        if n == 0:
            return
        if fixed_batch:
            windows[n:] = windows[n - 1]
        recon = np.asarray(predict_fn(windows if fixed_batch else windows[:n]), np.float32)
        inputs, recons = windows[:n, s], recon[:n, s]
        psnr = frame_psnr(inputs, recons)
        maps = error_map(inputs, recons)
        by_index = {i: (tm, img) for i, tm, img in shown}
        for j, index in enumerate(pending):
            _emit(index, by_index[index], float(psnr[j]), maps[j])
        pending.clear()

    def _emit(index: int, shown_frame, psnr: float, emap: np.ndarray) -> None:
        tm, img = shown_frame
        if calibration is not None:
            score = float(calibration.score(psnr))
            alarm = bool(calibration.alarm(psnr, fpr))
            p = float(calibration.p_value(psnr))
        else:
            score, alarm, p = None, False, None
        res.frames_scored += 1
        res.alarms += int(alarm)
        if writer is not None:
            writer.writerow([
                index, f"{tm:.3f}", f"{psnr:.6f}",
                "" if p is None else f"{p:.6g}",
                "" if score is None else f"{score:.4f}",
                "" if calibration is None else int(alarm),
            ])  # fmt: skip
        if annot is not None:
            annot.write(img, emap, index, psnr, score, alarm)
        if status is not None:
            rate = res.frames_scored / max(time.perf_counter() - t0, 1e-9)
            what = f"score {score:.2f}" if score is not None else "uncalibrated"
            status.update(
                f"frame {index}: {rate:.1f} frames/s, psnr {psnr:.2f} dB, {what}, "
                f"alarms {res.alarms}"
            )

    def push(frame_m: np.ndarray, index: int) -> None:
        """Frame ``index`` ends a window; queue the frame that window scores."""
        if not ring:  # pad the first window in front with copies of the first frame
            ring.extend([frame_m] * (t - 1))
        ring.append(frame_m)
        scored = index - delay
        if scored < 0:
            return
        windows[len(pending)] = np.stack(ring)
        pending.append(scored)
        if len(pending) == batch:
            flush()

    try:
        while max_frames is None or res.frames_read < max_frames:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            if annot is None and out_dir is not None and video:
                annot = _Annotator(out_dir / "annotated.mp4", fps, frame.shape[:2],
                                   calibration, fpr)  # fmt: skip
                res.files["video"] = str(out_dir / "annotated.mp4")
            index = res.frames_read
            tm = time.perf_counter() - t0 if live else index / fps
            if frame.ndim == 2:
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            shown.append((index, tm, frame))
            res.frames_read += 1
            push(to_model_range(prepare_frame(frame, (h, w), c)), index)
        else:
            res.stopped = "max frames"
    except KeyboardInterrupt:
        res.stopped = "interrupted"
    finally:
        try:
            # The last `delay` frames are scored by windows padded at the end with copies of
            # the last frame, as `score` pads a video's edges.
            for j in range(delay if ring else 0):
                push(ring[-1], res.frames_read + j)
            flush()  # every frame read is scored
        except KeyboardInterrupt:
            res.stopped = "interrupted"
        finally:
            res.seconds = time.perf_counter() - t0
            res.frames_per_second = res.frames_scored / res.seconds if res.seconds > 0 else 0.0
            if fh is not None:
                fh.close()
            if annot is not None:
                annot.close()
            if out_dir is not None:
                res.files["summary"] = str(out_dir / "summary.json")
                _write_summary(res, out_dir / "summary.json", calibration, fpr, delay, extra)
            if status is not None:
                status.update(_final_line(res), final=True)
    return res


def _final_line(res: WatchResult) -> str:
    alarms = f"{res.alarms} alarms" if res.calibrated else "uncalibrated, no alarms"
    return (
        f"{res.stopped}: scored {res.frames_scored} of {res.frames_read} frames in "
        f"{res.seconds:.1f} s ({res.frames_per_second:.1f} frames/s), {alarms}"
    )


def _write_summary(res, path, calibration, fpr, delay, extra) -> None:
    summary = {
        "frames_read": res.frames_read,
        "frames_scored": res.frames_scored,
        "alarms": res.alarms if res.calibrated else None,
        "seconds": res.seconds,
        "frames_per_second": res.frames_per_second,
        "stopped": res.stopped,
        "delay_frames": delay,
        "calibrated": res.calibrated,
        "calibration": None if calibration is None else calibration.summary(fpr),
        "files": dict(res.files),
        "commit": git_commit(),
        **(extra or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2, allow_nan=False, default=str) + "\n")
    os.replace(tmp, path)
