"""What scoring shows while it runs: a status line that rewrites itself on a terminal.

:class:`LiveLine` is that line: rewritten in place on a terminal, a line now and then in a log.
:class:`Progress` is the ``progress`` callback of :func:`trainer.evaluation.evaluate` (windows
done per video, frames/s, time left, on stderr) and writes through one; ``watch``
(:mod:`trainer.stream`) writes its own line through another.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import numpy as np

from trainer.data import Video
from trainer.evaluation import window_counts

__all__ = ["LiveLine", "Progress", "write_status"]


def _seconds(s: float) -> str:
    s = max(0.0, s)
    if s < 100:
        return f"{s:.0f} s"
    m, s = divmod(int(round(s)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def write_status(
    stream: TextIO, line: str, *, tty: bool, width: int = 0, final: bool = False
) -> int:
    """Write a status line: on a terminal (``tty``) over the previous one, which was ``width``
    characters long (``final``: then end the line); elsewhere as a line of its own.

    Returns
    -------
    int
        The width to pass next time (0 after a final or non-terminal line).
    """
    if tty:
        pad = " " * max(0, width - len(line))
        stream.write("\r" + line + pad + ("\n" if final else ""))
        width = 0 if final else len(line)
    else:
        stream.write(line + "\n")
        width = 0
    stream.flush()
    return width


class LiveLine:
    """A status line: rewritten in place on a terminal (at most every ``refresh`` seconds),
    elsewhere (a log file, a pipe, a CI job) a line of its own at most every ``interval``
    seconds, so a long job shows it is alive without flooding the log.

    Parameters
    ----------
    stream : text stream or None
        Where to write; ``None`` = ``sys.stderr`` at the time of each write.
    interval : float
        Seconds between lines when ``stream`` is not a terminal.
    refresh : float
        Seconds between rewrites of the line on a terminal.
    tty : bool or None
        Whether ``stream`` is a terminal; ``None`` = ask it (``isatty()``).
    clock : callable
        Seconds, monotonic (for tests).

    Attributes
    ----------
    lines : list of str
        Every line written, for tests and logs.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        interval: float = 10.0,
        refresh: float = 0.25,
        tty: bool | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._stream = stream
        self.interval = float(interval)
        self.refresh = float(refresh)
        self._tty = tty
        self.clock = clock
        self._last = -math.inf
        self._width = 0  # length of the line now on the terminal
        self.lines: list[str] = []

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    @property
    def tty(self) -> bool:
        if self._tty is None:
            try:
                self._tty = bool(self.stream.isatty())
            except (AttributeError, ValueError):
                self._tty = False
        return self._tty

    def due(self, now: float) -> bool:
        """Whether a line written at ``now`` (the clock's seconds) would be shown."""
        return now - self._last >= (self.refresh if self.tty else self.interval)

    def write(self, text: str, now: float, final: bool = False) -> None:
        """Show ``text`` now (``final``: and end the line on a terminal)."""
        self._last = now
        self.lines.append(text)
        self._width = write_status(self.stream, text, tty=self.tty, width=self._width, final=final)

    def update(self, text: str, final: bool = False) -> None:
        """Show ``text`` if a line is :meth:`due` (always when ``final``)."""
        now = self.clock()
        if final or self.due(now):
            self.write(text, now, final)


class Progress:
    """How far :func:`evaluate` is: windows done per video, frames/s, time left.

    Pass it as ``evaluate(..., progress=Progress(names, counts))``. Every window scores one
    frame, so windows/s is frames/s. The first batch includes the model's warm-up (tracing or
    compiling), so the first rates are low.

    On a terminal, one line is rewritten in place (at most every ``refresh`` seconds) and
    replaced by a summary at the end. Elsewhere (a log file, a pipe, a CI job) a line is
    written at the start, then at most one every ``interval`` seconds, and a summary at the
    end: a long evaluation shows it is alive without flooding the log.

    Parameters
    ----------
    names : sequence of str
        Video names, in the order :func:`evaluate` scores them.
    counts : sequence of int
        Windows of each video (:func:`window_counts`; 0 = not scored).
    stream, interval, refresh, tty, clock
        Those of the :class:`LiveLine` it writes through.
    """

    def __init__(
        self,
        names: Sequence[str],
        counts: Sequence[int],
        stream: TextIO | None = None,
        *,
        interval: float = 10.0,
        refresh: float = 0.25,
        tty: bool | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if len(names) != len(counts):
            raise ValueError(f"{len(names)} names but {len(counts)} window counts")
        self.names = [str(n) for n in names]
        self.counts = [int(c) for c in counts]
        self._ends = np.cumsum(self.counts) if self.counts else np.zeros(0, np.int64)
        self._line = LiveLine(stream, interval=interval, refresh=refresh, tty=tty, clock=clock)
        self._t0 = 0.0
        self._video = -1  # index of the video being scored
        self._video_t0 = 0.0  # when, and after how many windows, its rate started counting
        self._video_done0 = 0
        self._prev = (0.0, 0)  # time and windows done at the previous call

    @classmethod
    def for_videos(
        cls, videos: Sequence[Video], clip_len: int, pad_edges: bool, **kwargs: Any
    ) -> Progress:
        """A :class:`Progress` for ``evaluate(videos, clip_len=clip_len, pad_edges=...)``."""
        counts = window_counts((len(v.frames) for v in videos), clip_len, pad_edges)
        return cls([v.name for v in videos], counts, **kwargs)

    @property
    def lines(self) -> list[str]:
        """Every line written, for tests and logs."""
        return self._line.lines

    @property
    def tty(self) -> bool:
        return self._line.tty

    def _video_at(self, done: int) -> int:
        """Index of the video the next window belongs to (the last one when all are done)."""
        i = int(np.searchsorted(self._ends, done, side="right"))
        return min(i, len(self.counts) - 1)

    def __call__(self, done: int, total: int) -> None:
        if total <= 0 or not self.counts:
            return
        now = self._line.clock()
        if done == 0 or self._video < 0:
            self._t0 = self._video_t0 = now
            self._video = self._video_at(0)
            self._video_done0 = 0
            self._prev = (now, 0)
            scored = sum(1 for c in self.counts if c)
            self._line.write(
                f"scoring {scored} video{'s' if scored != 1 else ''}: {total} windows"
                + ("" if self.tty else f" (a line every {self._line.interval:g} s at most)"),
                now,
            )
            if done == 0:
                return
        if done >= total:
            elapsed = now - self._t0
            rate = done / elapsed if elapsed > 0 else float("inf")
            scored = sum(1 for c in self.counts if c)
            self._line.write(
                f"scored {total} frames of {scored} video{'s' if scored != 1 else ''} in "
                f"{_seconds(elapsed)} ({rate:.1f} frames/s)",
                now,
                final=True,
            )
            return
        video = self._video_at(done)
        if video != self._video:  # another video started in the batch that just ended
            self._video = video
            self._video_t0, self._video_done0 = self._prev
        self._prev = (now, done)
        if not self._line.due(now):
            return
        start = int(self._ends[video] - self.counts[video])
        v_done, v_total = done - start, self.counts[video]
        v_elapsed = now - self._video_t0
        v_rate = (done - self._video_done0) / v_elapsed if v_elapsed > 0 else 0.0
        elapsed = now - self._t0
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (total - done) / rate if rate > 0 else float("inf")
        eta = _seconds(left) if math.isfinite(left) else "?"
        self._line.write(
            f"video {video + 1}/{len(self.counts)} {self.names[video]}: {v_done}/{v_total} "
            f"windows, {v_rate:.1f} frames/s; all videos {done}/{total} "
            f"({100 * done / total:.0f}%), {rate:.1f} frames/s, {eta} left",
            now,
        )
