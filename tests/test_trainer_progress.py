"""trainer.progress.LiveLine: the status line that scoring and watch share."""

from __future__ import annotations

import io
import sys

from trainer.progress import LiveLine


class Clock:
    def __init__(self, step: float) -> None:
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def test_in_a_log_a_line_per_interval_and_always_the_final_one():
    stream = io.StringIO()
    line = LiveLine(stream, interval=10, clock=Clock(4))
    for i in range(6):  # at 4, 8, ..., 24 s
        line.update(f"step {i}")
    line.update("done", final=True)  # at 28 s, though not due
    assert stream.getvalue().splitlines() == line.lines == ["step 0", "step 3", "done"]


def test_on_a_terminal_the_line_is_rewritten_and_blanks_a_longer_one():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    line = LiveLine(stream, refresh=0, clock=Clock(1))
    line.update("a longer line")
    line.update("short", final=True)
    assert stream.getvalue() == "\ra longer line" + "\rshort" + " " * 8 + "\n"


def test_no_stream_means_stderr_at_the_time_of_writing(monkeypatch):
    line = LiveLine(tty=False, clock=Clock(1))
    later = io.StringIO()
    monkeypatch.setattr(sys, "stderr", later)
    line.update("now", final=True)
    assert later.getvalue() == "now\n"
