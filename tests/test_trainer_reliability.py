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

import cv2
import numpy as np
import pytest

from trainer import rundir
from trainer.stream import stall_message, watch

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


# ---------------------------------------------------------------------- watch: stalled streams


class StallingCapture:
    """``n`` frames, then a read that blocks for ``block`` s (a stalled stream) and fails."""

    def __init__(self, n: int, block: float, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.frames = [rng.integers(0, 256, (24, 40, 3), dtype=np.uint8) for _ in range(n)]
        self.block, self.i, self.released = block, 0, False

    def read(self):
        if self.i >= len(self.frames):
            time.sleep(self.block)
            return False, None
        self.i += 1
        return True, self.frames[self.i - 1]

    def get(self, prop: int) -> float:
        return 10.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        self.released = True


def mean_model(batch: np.ndarray) -> np.ndarray:
    return np.broadcast_to(batch.mean(axis=1, keepdims=True), batch.shape).copy()


SHAPE = (4, 8, 8, 1)


def test_watch_tells_a_stalled_stream_from_its_end(tmp_path):
    res = watch(StallingCapture(9, block=30), mean_model, SHAPE, out=tmp_path, stall_timeout=0.3)
    assert res.stalled and res.stopped == "stalled: no frame for 0.3 s"
    assert res.frames_read == res.frames_scored == 9
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stopped"] == "stalled: no frame for 0.3 s" and summary["reconnects"] == 0
    ended = watch(StallingCapture(9, block=0), mean_model, SHAPE, stall_timeout=0.3)
    assert not ended.stalled and ended.stopped == "end of stream" and ended.frames_scored == 9


def test_watch_reconnects_after_a_stall(tmp_path):
    opened = [StallingCapture(5, block=0, seed=1)]
    res = watch(StallingCapture(7, block=30), mean_model, SHAPE, out=tmp_path, stall_timeout=0.3,
                reconnect=2, reopen=lambda: opened[0], delay=2)  # fmt: skip
    assert (res.stopped, res.reconnects, res.frames_read, res.frames_scored) == (
        "end of stream", 1, 12, 12,
    )  # fmt: skip
    assert opened[0].released
    with open(tmp_path / "scores.csv") as fh:
        assert [int(r.split(",")[0]) for r in fh.read().splitlines()[1:]] == list(range(12))

    def never() -> StallingCapture:
        raise ValueError("OpenCV cannot open video source 'rtsp://cam'")

    gone = watch(StallingCapture(3, block=30), mean_model, SHAPE, stall_timeout=0.2,
                 reconnect=1, reopen=never)  # fmt: skip
    assert gone.stalled and gone.reconnects == 0 and gone.frames_scored == 3
    assert "no frame for 0.2 s after 3 frames" in stall_message("rtsp://cam", gone)


# ---------------------------------------------------------------------- end to end (CLI)


def trainer(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args],
        capture_output=True, text=True, env=ENV, timeout=timeout,
    )  # fmt: skip


def errors(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [ln for ln in err.splitlines() if ln.startswith("error:")]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reliability") / "data"
    made = trainer("make-synthetic", "--out", str(root), "--n-train", "3", "--n-test", "2",
                   "--frames", "40", "--size", "32,32")  # fmt: skip
    assert made.returncode == 0, made.stderr
    return root


def train_cmd(data: Path, out: Path, *extra: str) -> list[str]:
    cache = out.parent / "cache"
    return [sys.executable, "-m", "trainer", "train", "--preset", "smoke", "--data", str(data),
            "--out", str(out), "--set", f"cache_dir={cache}", "--quiet", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def raced(data) -> dict:
    """Two trainings on one --out: the second starts once the first holds the lock. The
    first holds out one of three videos (too few frames for the default --fpr)."""
    run = data.parent / "run"
    extra = ("--epochs", "2", "--no-eval", "--set", "val_fraction=0.34",
             "--set", "val_holdout=videos")  # fmt: skip
    first = subprocess.Popen(train_cmd(data, run, *extra), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=ENV)  # fmt: skip
    deadline = time.time() + 120
    while not (run / rundir.LOCK_FILE).is_file() or not (run / rundir.LOCK_FILE).stat().st_size:
        assert first.poll() is None and time.time() < deadline, first.communicate()
        time.sleep(0.05)
    second = subprocess.run(train_cmd(data, run, *extra, "--seed", "1"), capture_output=True,
                            text=True, env=ENV, timeout=600)  # fmt: skip
    resume = subprocess.run(train_cmd(data, run, "--resume", "--epochs", "3"),
                            capture_output=True, text=True, env=ENV, timeout=600)  # fmt: skip
    out, err = first.communicate(timeout=600)
    return {"run": run, "first": first, "first_err": err, "second": second, "resume": resume}


@pytest.mark.slow
def test_a_second_train_on_a_busy_run_dir_exits_2_naming_the_pid(raced):
    run, first, second = raced["run"], raced["first"], raced["second"]
    assert second.returncode == 2
    assert errors(second.stderr) == [
        f"error: run directory {run} is in use by process {first.pid} "
        + errors(second.stderr)[0].split(f"{first.pid} ", 1)[1]
    ]
    assert "(train since" in second.stderr and "choose another --out" in second.stderr
    resume = raced["resume"]  # --resume while the run still trains is stopped the same way
    assert resume.returncode == 2
    assert errors(resume.stderr)[0].startswith(f"error: run directory {run} is in use by process "
                                               f"{first.pid} ")  # fmt: skip
    assert first.returncode == 0, raced["first_err"]
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2 and state["seed"] == 0  # the first run, complete
    assert (run / "model.keras").is_file() and not (run / rundir.LOCK_FILE).exists()
    listed = json.loads((run / rundir.MANIFEST).read_text())["files"]
    assert {"config.yaml", "model.keras", "checkpoint/epoch-0002.keras"} <= set(listed)
    assert "checkpoint/epoch-0001.keras" not in listed  # deleted when epoch 2 was saved


@pytest.mark.slow
def test_evaluate_into_a_busy_run_dir_exits_2(raced, data):
    run = raced["run"]
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run), "0"],
                              stdout=subprocess.PIPE, text=True, env=ENV)  # fmt: skip
    try:
        assert holder.stdout.readline() == "won\n"
        ev = trainer("evaluate", "--model", str(run / "model.keras"), "--data", str(data),
                     "--cache-dir", str(run.parent / "cache"), "--quiet")  # fmt: skip
    finally:
        (run.parent / "stop").touch()
        holder.wait(timeout=30)
        (run.parent / "stop").unlink()
    assert ev.returncode == 2
    (line,) = errors(ev.stderr)
    assert line.startswith(f"error: run directory {run} is in use by process {holder.pid} ")


@pytest.fixture(scope="module")
def avi(data) -> Path:
    path = data.parent / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 32))
    rng = np.random.default_rng(0)
    for _ in range(20):
        writer.write(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    writer.release()
    return path


def fpr_advice(text: str) -> str:
    """The rate a too-small calibration's message suggests."""
    return text.split("pass --fpr ", 1)[1].split()[0]


@pytest.mark.slow
def test_small_holdout_warns_and_score_and_watch_say_what_they_can_do(raced, avi):
    run = raced["run"]
    (warning,) = [ln for ln in raced["first_err"].splitlines() if ln.startswith("warning:")]
    n = json.loads((run / "calibration.json").read_text())["n_frames"]
    assert warning.startswith(f"warning: {run / 'calibration.json'} has {n} normal frames, too "
                              "few for the default --fpr 0.01 of score and watch")  # fmt: skip
    rate = fpr_advice(warning)
    assert float(rate) >= 1 / (n + 1) > float(rate) - 0.001
    model = str(run / "model.keras")
    for cmd in (["score", str(avi)], ["watch", str(avi), "--no-video"]):
        failed = trainer(*cmd, "--model", model, "--out", str(run.parent / cmd[0]), "--quiet")
        assert failed.returncode == 2
        (line,) = errors(failed.stderr)
        assert f"the calibration has {n}, so the smallest rate it supports is --fpr {rate}" in line
        assert "calibrate on more normal video (python -m trainer calibrate" in line
    scored = trainer("score", str(avi), "--model", model, "--fpr", rate, "--quiet",
                     "--out", str(run.parent / "score"))  # fmt: skip
    assert scored.returncode == 0, scored.stderr


@pytest.mark.slow
def test_watch_exits_3_when_the_stream_stalls(raced, tmp_path):
    script = textwrap.dedent(
        """
        import sys, time
        import numpy as np
        import trainer.stream as stream

        class Stalls:
            i = 0
            def read(self):
                self.i += 1
                if self.i > 6:
                    time.sleep(60)
                    return False, None
                return True, np.full((32, 32, 3), 9 * self.i, np.uint8)
            def get(self, prop):
                return 0.0
            def release(self):
                pass

        stream.open_source = lambda source: (Stalls(), True)
        from trainer.cli import main
        sys.exit(main(sys.argv[1:]))
        """
    )
    args = ["watch", "0", "--model", str(raced["run"] / "model.keras"), "--fpr", "0.5",
            "--stall-timeout", "0.5", "--out", str(tmp_path), "--quiet"]  # fmt: skip
    res = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                         env=ENV, timeout=300)  # fmt: skip
    assert res.returncode == 3, res.stderr
    assert errors(res.stderr) == [
        "error: 0: no frame for 0.5 s after 6 frames: the stream stalled; --reconnect N opens "
        "it again after a stall"
    ]
    assert json.loads((tmp_path / "summary.json").read_text())["frames_scored"] == 6


@pytest.fixture(scope="module")
def bad_models(raced) -> dict[str, Path]:
    folder = raced["run"].parent / "bad"
    folder.mkdir()
    (folder / "text.keras").write_text("this is not a model\n")
    whole = (raced["run"] / "model.keras").read_bytes()
    (folder / "cut.keras").write_bytes(whole[: len(whole) * 2 // 3])
    return {"not a Keras model file": folder / "text.keras", "is truncated": folder / "cut.keras"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "problem"),
    [("score", "not a Keras model file"), ("calibrate", "not a Keras model file"),
     ("watch", "not a Keras model file"), ("evaluate", "not a Keras model file"),
     ("score", "is truncated"), ("watch", "is truncated")],
)  # fmt: skip
def test_a_bad_model_file_is_named_as_such(command, problem, bad_models, data, avi):
    model = str(bad_models[problem])
    args = {
        "score": ["score", str(avi), "--model", model],
        "calibrate": ["calibrate", model, "--normal", str(data / "training" / "frames" / "01")],
        "watch": ["watch", str(avi), "--model", model],
        "evaluate": ["evaluate", "--model", model, "--data", str(data)],
    }[command]
    res = trainer(*args, "--quiet")
    assert res.returncode == 2
    (line,) = errors(res.stderr)
    assert problem in line and model in line and "File not found" not in res.stderr


DISK_FULL = textwrap.dedent(
    """
    import errno, sys
    import trainer
    import keras

    real_save = keras.Model.save

    def save(self, path, *args, **kwargs):  # the disk fills up while epoch 2 is saved
        if "epoch-0002" in str(path):
            with open(path, "wb") as fh:
                fh.write(b"PK\\x03\\x04 half a zip")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, path, *args, **kwargs)

    keras.Model.save = save
    from trainer.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.slow
def test_disk_full_while_saving_says_what_is_safe_and_resume_cleans_up(data, tmp_path):
    run = tmp_path / "run"
    cmd = train_cmd(data, run, "--epochs", "2", "--no-eval")
    full = subprocess.run([sys.executable, "-c", DISK_FULL, *cmd[3:]], capture_output=True,
                          text=True, env=ENV, timeout=600)  # fmt: skip
    assert full.returncode == 2
    (line,) = errors(full.stderr)
    assert line.startswith(f"error: cannot write {run / 'checkpoint'}/.epoch-0002.tmp-")
    assert line.endswith(
        ".keras: No space left on device. The last complete epoch (1) is safe in "
        f"{run / 'checkpoint'}; fix that (free disk space) and continue with `python -m "
        f"trainer train --out {run} --resume`"
    )
    assert json.loads((run / "checkpoint" / "state.json").read_text())["epoch"] == 1
    assert not list((run / "checkpoint").glob(".epoch-0002.tmp-*"))  # removed at once
    # What a killed run leaves behind is removed by the next process that takes the run.
    stale = [run / "checkpoint" / ".epoch-0002.tmp-424242.keras", run / ".history.json.tmp-7"]
    for path in stale:
        path.write_bytes(b"PK\x03\x04 half")
    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, env=ENV,
                             timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert f"removed 2 half-written file(s) of an earlier run in {run}" in resumed.stderr
    assert not any(p.exists() for p in stale)
    assert json.loads((run / "checkpoint" / "state.json").read_text())["epoch"] == 2
