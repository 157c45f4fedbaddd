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
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from trainer.atomic import write_text_atomic
from trainer.calibration import DEFAULT_FPR, Calibration, score_index_for
from trainer.data import to_model_range
from trainer.evaluation import PredictFn, frame_psnr
from trainer.localisation import error_map
from trainer.progress import LiveLine
from trainer.writers import git_commit

__all__ = [
    "STREAM_COLUMNS",
    "Capture",
    "WatchResult",
    "open_source",
    "prepare_frame",
    "stall_message",
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

STALL_TIMEOUT_S = 10.0
"""Default seconds without a frame after which ``watch`` calls its source stalled."""


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
        ``"end of stream"``, ``"interrupted"`` (Ctrl-C), ``"max frames"`` or ``"stalled: no
        frame for N s"`` (:attr:`stalled`).
    reconnects : int
        How often the source was opened again after a stall.
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
    reconnects: int = 0

    @property
    def stalled(self) -> bool:
        """Whether the source stopped sending frames (rather than ending)."""
        return self.stopped.startswith("stalled")


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
    stall_timeout: float = STALL_TIMEOUT_S,
    reconnect: int = 0,
    reopen: Callable[[], Capture] | None = None,
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
    calibration, fpr : Calibration or None, float
        Gives ``p_normal``, ``calibrated_score`` and ``alarm`` at false-alarm rate ``fpr``;
        ``None``: PSNR only (uncalibrated).
    delay : int or None
        Frames between a scored frame and the end of its window; default the calibration's,
        else 0 (causal).
    out : path or None
        Folder for ``scores.csv``, ``annotated.mp4`` (with ``video``) and ``summary.json``.
    batch, max_frames : int, int or None
        Windows per forward pass (adds up to ``batch - 1`` frames of latency); stop after
        reading ``max_frames`` frames.
    live : bool
        Times are wall-clock seconds since the start (a camera or URL), else ``frame / fps``.
    status, extra : LiveLine or None, dict or None
        The live line (``None``: none); what to merge into ``summary.json``.
    fixed_batch : bool
        Always send ``batch`` windows (a partial batch filled with copies): one shape.
    stall_timeout : float
        Seconds a read may take: one that blocks longer means the source stalled; one that
        fails sooner is the end of the stream.
    reconnect, reopen : int, callable or None
        After a stall, open the source again with ``reopen()`` (released by :func:`watch`),
        up to ``reconnect`` times in all; the frames before it are scored as at an end of
        stream, numbering goes on.

    Returns
    -------
    WatchResult
        ``stopped`` is ``"stalled: no frame for N s"`` when the source stalled for good.
    """
    scorer = _Scorer(predict_fn, input_shape, calibration, fpr, delay, batch, fixed_batch)
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    sink = _Sink(out, video, fps if 0 < fps < 1000 else 25.0, calibration, fpr, status)
    sink.res.calibrated = calibration is not None
    scorer.emit = sink.emit
    reader = _Reader(capture, owned=False)
    try:
        reader = _read_all(reader, scorer, sink, live, max_frames, stall_timeout,
                           reconnect, reopen)  # fmt: skip
    except KeyboardInterrupt:
        sink.res.stopped = "interrupted"
    finally:
        reader.close()
        try:
            scorer.finish_segment(sink.res.frames_read)  # every frame read is scored
        except KeyboardInterrupt:
            sink.res.stopped = "interrupted"
        finally:
            sink.close(scorer.delay, extra)
    return sink.res


def _read_all(reader, scorer, sink, live, max_frames, stall_timeout, reconnect, reopen):
    """The reading loop of :func:`watch`: returns the reader in use at the end."""
    res, attempts = sink.res, 0
    while max_frames is None or res.frames_read < max_frames:
        try:
            ok, frame = reader.read(stall_timeout)
        except TimeoutError:  # a read that blocks (or fails only after) stall_timeout
            ok, frame = None, None
        if ok:
            index = res.frames_read
            tm = time.perf_counter() - sink.t0 if live else index / sink.fps
            scorer.push(sink.add_frame(frame, index, tm), index)
            continue
        if ok is False:
            res.stopped = "end of stream"
            return reader
        res.stopped = f"stalled: no frame for {stall_timeout:g} s"
        if attempts >= reconnect or reopen is None:
            return reader
        scorer.finish_segment(res.frames_read)  # the frames so far, as at an end of stream
        reader.close()
        reader, attempts = _reopen(reopen, reconnect, attempts, sink, stall_timeout)
        if reader is None:
            return _Reader(None, owned=False)
        res.reconnects += 1
    res.stopped = "max frames"
    return reader


def _reopen(reopen, reconnect, attempts, sink, stall_timeout):
    """Open the source again (``reconnect`` tries in all); ``(reader or None, attempts)``."""
    while attempts < reconnect:
        attempts += 1
        sink.say(f"no frame for {stall_timeout:g} s: reconnecting ({attempts} of {reconnect})")
        try:
            return _Reader(reopen(), owned=True), attempts
        except (OSError, ValueError) as e:
            sink.say(f"reconnect {attempts} of {reconnect} failed: {e}")
            time.sleep(min(stall_timeout, 5.0))
    return None, attempts


class _Reader:
    """Reads a capture on a thread, one frame ahead, so that a read that blocks becomes a
    timeout of :meth:`read` instead of a hang."""

    def __init__(self, capture: Capture | None, owned: bool) -> None:
        self.capture, self.owned = capture, owned
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="watch-reader")
        if capture is not None:
            self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    ok, frame = self.capture.read()
                    item = (bool(ok) and frame is not None, frame, None)
                except BaseException as e:  # noqa: BLE001  (re-raised by read())
                    item = (False, None, e)
                self._queue.put(item)
                if not item[0]:
                    return
        finally:
            if self.owned and self._stop.is_set():
                self.capture.release()

    def read(self, timeout: float) -> tuple[bool, np.ndarray | None]:
        """The next frame; ``(False, None)`` when the source ended.

        Raises
        ------
        TimeoutError
            No frame within ``timeout`` seconds.
        """
        if self.capture is None:
            return False, None
        try:
            ok, frame, error = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError from None
        if error is not None:
            raise error
        return ok, frame

    def close(self) -> None:
        """Stop reading (a read that blocks is left to its thread, which releases an owned
        capture when it returns)."""
        self._stop.set()
        try:
            self._queue.get_nowait()  # unblocks a thread waiting to hand over a frame
        except queue.Empty:
            pass
        if self._thread.is_alive():
            self._thread.join(timeout=0.1)
        if self.owned and self.capture is not None and not self._thread.is_alive():
            self.capture.release()


class _Scorer:
    """Windows of the last ``T`` frames, scored ``batch`` at a time."""

    def __init__(self, predict_fn, input_shape, calibration, fpr, delay, batch, fixed_batch):
        self.t, h, w, c = (int(v) for v in input_shape)
        if calibration is not None:
            calibration.check_model(input_shape)
            calibration.threshold(fpr)  # fails early on a bad fpr
            if delay is not None and delay != calibration.delay:
                raise ValueError(
                    f"delay {delay} differs from the calibration's ({calibration.delay} frames)"
                )
            delay = calibration.delay
        self.delay = 0 if delay is None else int(delay)
        self.s = score_index_for(self.t, self.delay)
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.predict_fn, self.batch, self.fixed_batch = predict_fn, batch, fixed_batch
        self.size, self.channels = (h, w), c
        self.ring: deque[np.ndarray] = deque(maxlen=self.t)  # model-range frames
        self.windows = np.empty((batch, self.t, h, w, c), np.float32)
        self.pending: list[int] = []  # frame each window of `windows` scores
        self.first = 0  # first frame of the segment (a reconnect starts a new one)
        self.emit: Callable[[int, float, np.ndarray], None] = lambda *a: None

    def push(self, frame_bgr: np.ndarray, index: int) -> None:
        """Frame ``index`` ends a window; queue the frame that window scores."""
        self._push(to_model_range(prepare_frame(frame_bgr, self.size, self.channels)), index)

    def _push(self, frame_m: np.ndarray, index: int) -> None:
        if not self.ring:  # pad the first window in front with copies of the first frame
            self.ring.extend([frame_m] * (self.t - 1))
        self.ring.append(frame_m)
        scored = index - self.delay
        if scored < self.first:  # scored in the segment before a reconnect
            return
        self.windows[len(self.pending)] = np.stack(self.ring)
        self.pending.append(scored)
        if len(self.pending) == self.batch:
            self.flush()

    def flush(self) -> None:
        n = len(self.pending)
        if n == 0:
            return
        if self.fixed_batch:
            self.windows[n:] = self.windows[n - 1]
        batch = self.windows if self.fixed_batch else self.windows[:n]
        recon = np.asarray(self.predict_fn(batch), np.float32)
        inputs, recons = self.windows[:n, self.s], recon[:n, self.s]
        psnr = frame_psnr(inputs, recons)
        maps = error_map(inputs, recons)
        pending, self.pending = list(self.pending), []
        for j, index in enumerate(pending):
            self.emit(index, float(psnr[j]), maps[j])

    def finish_segment(self, frames_read: int) -> None:
        """Score every frame read so far: the last ``delay`` frames by windows padded at the
        end with copies of the last frame, as ``score`` pads a video's edges."""
        for j in range(self.delay if self.ring else 0):
            self._push(self.ring[-1], frames_read + j)
        self.flush()
        self.ring.clear()
        self.first = frames_read


class _Sink:
    """Where scored frames go: the CSV, the annotated video, the live line, the result."""

    def __init__(self, out, video, fps, calibration, fpr, status) -> None:
        self.out_dir = Path(out) if out is not None else None
        self.video, self.fps, self.calibration, self.fpr = video, fps, calibration, fpr
        self.status = status
        self.res = WatchResult()
        self.fh = self.writer = self.annot = None
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.fh, self.writer = _start_csv(self.out_dir / "scores.csv")
            self.res.files["csv"] = str(self.out_dir / "scores.csv")
        # index, time, BGR of the frames not scored yet (a frame waits up to `delay` frames
        # and a batch; a reconnect's segment end scores everything before the next one)
        self.shown: dict[int, tuple[float, np.ndarray]] = {}
        self.t0 = time.perf_counter()

    def add_frame(self, frame: np.ndarray, index: int, tm: float) -> np.ndarray:
        if self.annot is None and self.out_dir is not None and self.video:
            self.annot = _Annotator(self.out_dir / "annotated.mp4", self.fps, frame.shape[:2],
                                    self.calibration, self.fpr)  # fmt: skip
            self.res.files["video"] = str(self.out_dir / "annotated.mp4")
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        self.shown[index] = (tm, frame)
        self.res.frames_read += 1
        return frame

    def emit(self, index: int, psnr: float, emap: np.ndarray) -> None:
        tm, img = self.shown.pop(index)
        cal, res = self.calibration, self.res
        if cal is not None:
            score, alarm = float(cal.score(psnr)), bool(cal.alarm(psnr, self.fpr))
            p = float(cal.p_value(psnr))
        else:
            score, alarm, p = None, False, None
        res.frames_scored += 1
        res.alarms += int(alarm)
        if self.writer is not None:
            self.writer.writerow([
                index, f"{tm:.3f}", f"{psnr:.6f}",
                "" if p is None else f"{p:.6g}",
                "" if score is None else f"{score:.4f}",
                "" if cal is None else int(alarm),
            ])  # fmt: skip
        if self.annot is not None:
            self.annot.write(img, emap, index, psnr, score, alarm)
        if self.status is not None:
            rate = res.frames_scored / max(time.perf_counter() - self.t0, 1e-9)
            what = f"score {score:.2f}" if score is not None else "uncalibrated"
            self.status.update(
                f"frame {index}: {rate:.1f} frames/s, psnr {psnr:.2f} dB, {what}, "
                f"alarms {res.alarms}"
            )

    def say(self, text: str) -> None:
        if self.status is not None:
            self.status.update(text, final=True)

    def close(self, delay: int, extra: dict[str, Any] | None) -> None:
        res = self.res
        res.seconds = time.perf_counter() - self.t0
        res.frames_per_second = res.frames_scored / res.seconds if res.seconds > 0 else 0.0
        if self.fh is not None:
            self.fh.close()
        if self.annot is not None:
            self.annot.close()
        if self.out_dir is not None:
            res.files["summary"] = str(self.out_dir / "summary.json")
            _write_summary(res, self.out_dir / "summary.json", self.calibration, self.fpr,
                           delay, extra)  # fmt: skip
        if self.status is not None:
            self.status.update(_final_line(res), final=True)


def stall_message(source: str | int, res: WatchResult) -> str:
    """The one-line error of a source that stalled for good."""
    tries = f" and {res.reconnects} reconnect(s)" if res.reconnects else ""
    hint = "" if res.reconnects else "; --reconnect N opens it again after a stall"
    return (
        f"{source}: {res.stopped.removeprefix('stalled: ')} after {res.frames_read} frames"
        f"{tries}: the stream stalled{hint}"
    )


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
        "reconnects": res.reconnects,
        "delay_frames": delay,
        "calibrated": res.calibrated,
        "calibration": None if calibration is None else calibration.summary(fpr),
        "files": dict(res.files),
        "commit": git_commit(),
        **(extra or {}),
    }
    write_text_atomic(path, json.dumps(summary, indent=2, allow_nan=False, default=str) + "\n")
