"""Trainer commands print no TensorFlow C++ log lines unless TF_CPP_MIN_LOG_LEVEL asks for them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.tf_logging import drop_info_lines

ROOT = Path(__file__).resolve().parents[1]
NOISE = re.compile(r"^(I0000|E0000|WARNING: All log messages)", re.M)


def run(*args: str, env_extra: dict[str, str] | None = None, cwd: Path = ROOT) -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"TF_CPP_MIN_LOG_LEVEL"}}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra or {})
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_drop_info_lines_keeps_everything_but_info() -> None:
    text = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on.\n"
        "I0000 00:00:1.0 1 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\n"
        "To enable the following instructions: AVX2 FMA, in other operations\n"
        "E0000 00:00:1.0 1 something.cc:1] a real error\n"
        "continued\n"
        "W0000 00:00:1.0 1 other.cc:2] a warning\n"
        "plain output\n"
    )
    assert drop_info_lines(text) == (
        "E0000 00:00:1.0 1 something.cc:1] a real error\ncontinued\n"
        "W0000 00:00:1.0 1 other.cc:2] a warning\nplain output\n"
    )


def test_user_level_wins() -> None:
    code = "import os, trainer; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    assert run("-c", code).strip() == "3"
    assert run("-c", code, env_extra={"TF_CPP_MIN_LOG_LEVEL": "1"}).strip() == "1"


def test_demo_help_is_quiet() -> None:
    out = run("-m", "trainer.demo", "--help")
    assert "usage: python -m trainer.demo" in out
    assert not NOISE.search(out), out


@pytest.mark.slow
def test_smoke_train_is_quiet(tmp_path: Path) -> None:
    out = run("-m", "trainer", "train", "--preset", "smoke", "--out", str(tmp_path / "run"))
    assert out.startswith("keras backend "), out[:2000]
    assert not NOISE.search(out), out


def test_progress_bar_only_on_a_terminal() -> None:
    """A log file gets one line per epoch, a terminal the live bar, --quiet nothing."""
    import io

    from trainer.train import fit_verbosity

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert fit_verbosity(1, Terminal()) == 1
    assert fit_verbosity(1, io.StringIO()) == 2
    assert fit_verbosity(0, Terminal()) == 0
