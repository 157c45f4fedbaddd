"""A run that cannot lose results: the run-directory lock, ``--overwrite`` that deletes only
the run's files, disk errors while saving, model files that are not models, and calibrations
too small for the default ``--fpr`` (trainer.rundir, trainer.checkpoint).

The lock is raced by light subprocesses that import only :mod:`trainer.rundir`; the rest runs
``python -m trainer`` in subprocesses on tiny generated data and asserts exit code and message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from trainer import rundir

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}

# Takes the lock, says so, holds it until the file `stop` appears next to the run dir.
HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from trainer.rundir import RunDirBusy, RunLock
    run, start = Path(sys.argv[1]), float(sys.argv[2])
    while time.time() < start:
        time.sleep(0.001)
    try:
        lock = RunLock(run, "race").acquire()
    except RunDirBusy as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print("won", flush=True)
    while not (run.parent / "stop").exists():
        time.sleep(0.01)
    lock.release()
    """
)


def _race(tmp: Path, i: int, start: float) -> list[subprocess.Popen]:
    run = tmp / f"pair{i}" / "run"
    run.parent.mkdir()
    return [
        subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(run), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )  # fmt: skip
        for _ in range(2)
    ]


def test_twenty_pairs_racing_for_a_run_dir_never_both_win(tmp_path):
    """Both processes of a pair start at the same instant; the winner holds the lock until
    the loser has exited. Both winning would leave both waiting: the wait times out."""
    start = time.time() + 1.5  # every process is up by then
    pairs = [_race(tmp_path, i, start) for i in range(20)]
    for i, pair in enumerate(pairs):
        deadline = time.time() + 30
        while all(p.poll() is None for p in pair) and time.time() < deadline:
            time.sleep(0.01)
        (tmp_path / f"pair{i}" / "stop").touch()
        outs = [(p.wait(timeout=30), *p.communicate()) for p in pair]
        codes = sorted(rc for rc, _, _ in outs)
        assert codes == [0, 2], outs
        (winner,) = [p for p, (rc, _, _) in zip(pair, outs, strict=True) if rc == 0]
        (loser_err,) = [err for rc, _, err in outs if rc == 2]
        assert loser_err.count("\n") == 1 and loser_err.startswith("error: run directory")
        assert f"in use by process {winner.pid} " in loser_err
        assert not (tmp_path / f"pair{i}" / "run" / rundir.LOCK_FILE).exists()


def test_a_lock_left_by_kill_9_is_taken_over_and_says_so(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run), "0"], stdout=subprocess.PIPE, text=True, env=ENV
    )
    assert holder.stdout.readline() == "won\n"
    holder.kill()  # SIGKILL: no clean-up runs
    holder.wait()
    assert json.loads((run / rundir.LOCK_FILE).read_text())["pid"] == holder.pid
    took = subprocess.run(
        [sys.executable, "-c", "import sys; from trainer.rundir import RunLock; "
         "RunLock(sys.argv[1], 'train').acquire().release()", str(run)],
        capture_output=True, text=True, env=ENV, timeout=60,
    )  # fmt: skip
    assert took.returncode == 0, took.stderr
    assert f"locked by process {holder.pid} (race), which is no longer running" in took.stderr
    assert not (run / rundir.LOCK_FILE).exists()


# ---------------------------------------------------------------------- --overwrite


def _fake_run(run: Path, manifest: bool) -> None:
    for rel in ("config.yaml", "model.keras", "history.json", "checkpoint/state.json",
                "checkpoint/epoch-0001.keras", "logs/train/events.out.tfevents.1.host",
                "evaluation/scores.csv", "evaluation/summary.json"):  # fmt: skip
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_text("x")
    if manifest:
        rundir.record_run_files(run)


@pytest.mark.parametrize("manifest", [True, False], ids=["manifest", "older-run"])
def test_overwrite_refuses_to_delete_a_users_files(tmp_path, manifest):
    run = tmp_path / "run"
    _fake_run(run, manifest)
    (run / "logs" / "server.log").write_text("mine")
    (run / "evaluation" / "my_results.csv").write_text("mine")
    before = sorted(p for p in run.rglob("*"))
    with pytest.raises(rundir.RunDirError) as e:
        rundir.clear_run_files(run)
    assert "logs/server.log" in str(e.value) and "evaluation/my_results.csv" in str(e.value)
    assert "nothing was deleted" in str(e.value) and "holds results" not in str(e.value)
    assert sorted(p for p in run.rglob("*")) == before


def test_overwrite_deletes_exactly_the_listed_files(tmp_path):
    run = tmp_path / "run"
    _fake_run(run, manifest=True)
    (run / "checkpoint" / ".epoch-0002.tmp-123.keras").write_text("half")
    (run / "model.keras").unlink()
    deleted = rundir.clear_run_files(run)
    assert "config.yaml" in deleted and "checkpoint/.epoch-0002.tmp-123.keras" in deleted
    assert list(run.iterdir()) == []  # the folders it emptied are gone too


def test_a_user_file_named_like_a_run_file_is_not_listed_when_older(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "calibration.json").write_text("{}")  # made by `calibrate` before this run
    old = time.time() - 60
    os.utime(run / "calibration.json", (old, old))
    (run / "config.yaml").write_text("x")
    rundir.record_run_files(run, since=time.time())
    ours, others = rundir.run_files(run)
    assert ours == ["config.yaml"] and others == ["calibration.json"]
