"""One process per run directory, and a record of the files a run wrote.

:class:`RunLock` is an exclusive lock on a run directory (``<run>/.lock``), held by ``train``
(``--resume`` too) and by ``evaluate`` when it writes into a run directory. A second process
gets :class:`RunDirBusy`, whose message names the holder's PID. On Linux and macOS the lock is
``fcntl.flock`` on the lock file: the kernel releases it when the holder exits in any way,
``kill -9`` included, so a lock left by a dead process is simply taken over (with a note on
stderr naming that process). Where ``fcntl`` does not exist (Windows) the lock is a file
created with ``O_EXCL`` that holds the PID; it is released on a normal exit, but a lock left
by a killed process is never taken over automatically: the error names the file to delete
(this path is not tested).

``run-files.json`` in the run directory lists the files the run wrote (paths relative to the
run directory). ``--overwrite`` deletes exactly those and refuses, naming them, when the folder
holds anything else. A run directory without that list (made by an older version) is judged
by the names a run writes (:data:`RUN_FILE_PATTERNS`).

This module never imports Keras or TensorFlow.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fnmatch
import json
import os
import re
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from trainer.atomic import write_text_atomic

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LOCK_FILE",
    "MANIFEST",
    "RUN_FILE_PATTERNS",
    "RunDirBusy",
    "RunDirError",
    "RunLock",
    "RunSaveError",
    "RunSession",
    "clean_temporary_files",
    "clear_run_files",
    "find_run_dir",
    "lock_output",
    "lock_until_exit",
    "record_run_files",
    "run_files",
]

LOCK_FILE = ".lock"
MANIFEST = "run-files.json"
MANIFEST_FORMAT = "pseudoanom-run-files/1"

RUN_FILE_PATTERNS: tuple[str, ...] = (
    "config.yaml",
    "history.json",
    "model.keras",
    "calibration.json",
    "checkpoint/state.json",
    "checkpoint/epoch-*.keras",
    "checkpoint/best.keras",
    "logs/*events.out.tfevents.*",
    "evaluation/scores.csv",
    "evaluation/metrics.csv",
    "evaluation/summary.json",
    "evaluation/localisation.csv",
    "evaluation/localisation_curves.json",
    "evaluation/scores_*.png",
    "evaluation/recon_*.png",
    "evaluation/localisation_*.png",
)
"""The files a run writes (``fnmatch`` patterns of paths relative to the run directory)."""

_TEMPORARY = (
    # trainer.atomic.temporary_path
    re.compile(r"^\.(?P<name>.+)\.tmp-\d+(?:-\d+)?$"),
    re.compile(r"^\.(?P<stem>.+)\.tmp-\d+(?:-\d+)?(?P<ext>\.keras)$"),
    re.compile(r"^(?P<name>.+)\.tmp$"),  # a plain ".tmp" suffix
)
"""Half-written temporaries of the atomic writes; one is the run's when the file it was
going to become is."""

DISK_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EIO", "EROFS")
    if hasattr(errno, name)
)  # fmt: skip


class RunDirError(ValueError):
    """The run directory holds a run that would be overwritten, or nothing to resume."""


class RunDirBusy(RunDirError):
    """Another process holds the run directory's lock."""


class RunSaveError(RunDirError):
    """Writing a run's file failed (disk full, I/O error); the message says what is safe."""


# ---------------------------------------------------------------------- the lock


class RunLock:
    """Exclusive lock on ``run_dir`` for this process (created if needed).

    Parameters
    ----------
    run_dir : str or os.PathLike
    command : str
        What holds it (``"train"``, ``"evaluate"``), recorded in the lock file for the error
        message of a second process.
    stream : text stream or None
        Where the note about taking over a dead process's lock goes (default stderr).
    """

    def __init__(
        self, run_dir: str | os.PathLike, command: str = "train", stream: TextIO | None = None
    ) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.command = command
        self.stream = stream
        self._fd: int | None = None
        self._key: Path | None = None
        self._created_dir = False
        self.took_over: dict[str, Any] | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RunDirBusy` naming the holder's PID. Re-entrant
        within a process: a lock this process holds already is shared, and released with its
        last holder."""
        key = self.path.resolve()
        if key in _HELD:
            _HELD[key] += 1
            self._key = key
            return self
        if not self.run_dir.exists():
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._created_dir = True
        self._fd = _flock(self.path) if fcntl is not None else _exclusive_create(self.path)
        previous = _read_holder(self._fd)
        if previous.get("pid") not in (None, os.getpid()):
            self.took_over = previous
            print(
                f"note: {self.run_dir} was locked by process {previous['pid']} "
                f"({previous.get('command', '?')}), which is no longer running; taking it over",
                file=self.stream or sys.stderr,
                flush=True,
            )
        holder = {"pid": os.getpid(), "command": self.command, "host": socket.gethostname(),
                  "since": time.strftime("%Y-%m-%dT%H:%M:%S")}  # fmt: skip
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(holder).encode(), 0)
        os.fsync(self._fd)
        self._key = key
        _HELD[key] = 1
        return self

    def release(self) -> None:
        """Give the lock back (removing the lock file, and the run directory when this lock
        created it and it is still empty)."""
        if self._key is None:
            return
        key, self._key = self._key, None
        _HELD[key] -= 1
        if _HELD[key] > 0 or self._fd is None:
            return
        del _HELD[key]
        try:
            self.path.unlink(missing_ok=True)  # while still holding it: see _flock
        finally:
            os.close(self._fd)
            self._fd = None
        if self._created_dir:
            try:
                self.run_dir.rmdir()
            except OSError:
                pass

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


_HELD: dict[Path, int] = {}
"""Lock files this process holds -> how many :class:`RunLock` objects share each."""


def lock_until_exit(run_dir: str | os.PathLike, command: str = "train") -> RunLock:
    """Take the lock of ``run_dir`` for the rest of this process (a command line run): it is
    released at exit, and by the kernel if the process is killed."""
    lock = RunLock(run_dir, command).acquire()
    atexit.register(lock.release)
    return lock


def _flock(path: Path) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd, wait=True)
            os.close(fd)
            raise RunDirBusy(_busy_message(path, holder)) from None
        # The previous holder unlinks the file before it unlocks: if that happened between our
        # open and flock we hold a lock on a deleted file, and must lock the new one instead.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _exclusive_create(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        fd = os.open(path, os.O_RDONLY)
        holder = _read_holder(fd, wait=True)
        os.close(fd)
        raise RunDirBusy(
            _busy_message(path, holder) + f" (if that process is no longer running, delete {path})"
        ) from None


def _read_holder(fd: int, wait: bool = False) -> dict[str, Any]:
    """The holder recorded in the lock file; ``wait``: give a holder that has just taken the
    lock a moment to write its PID."""
    for _ in range(20 if wait else 1):
        data = os.pread(fd, 4096, 0)
        if data:
            try:
                holder = json.loads(data)
            except ValueError:
                return {}
            return holder if isinstance(holder, dict) else {}
        if wait:
            time.sleep(0.05)
    return {}


def _busy_message(path: Path, holder: dict[str, Any]) -> str:
    run_dir = path.parent
    if "pid" not in holder:
        return f"run directory {run_dir} is in use by another process; wait for it to finish"
    host = holder.get("host")
    where = f" on {host}" if host not in (None, socket.gethostname()) else ""
    return (
        f"run directory {run_dir} is in use by process {holder['pid']}{where} "
        f"({holder.get('command', '?')} since {holder.get('since', '?')}); wait for it to finish "
        f"or choose another --out"
    )


def find_run_dir(path: str | os.PathLike) -> Path | None:
    """The run directory that ``path`` (an output folder) is in or is, if any: the nearest of
    ``path`` and its two parents that holds a ``run-files.json``, or a ``config.yaml`` and a
    ``checkpoint`` folder."""
    p = Path(path).resolve()
    for d in (p, *list(p.parents)[:2]):
        if (d / MANIFEST).is_file() or (
            (d / "config.yaml").is_file() and (d / "checkpoint").is_dir()
        ):
            return d
    return None


def lock_output(out: str | os.PathLike, command: str) -> RunLock | contextlib.nullcontext:
    """The lock of the run directory that the output folder ``out`` is in (see
    :func:`find_run_dir`), to hold while writing there; a no-op elsewhere."""
    run_dir = find_run_dir(out)
    return RunLock(run_dir, command) if run_dir is not None else contextlib.nullcontext()


# ---------------------------------------------------------------------- the run's files


def _all_files(run_dir: Path) -> list[str]:
    """Every file under ``run_dir`` (relative POSIX paths), except the lock and the list."""
    out = []
    for dirpath, _, names in os.walk(run_dir):
        for name in names:
            rel = (Path(dirpath) / name).relative_to(run_dir).as_posix()
            if rel not in (LOCK_FILE, MANIFEST):
                out.append(rel)
    return sorted(out)


def _is_run_file(rel: str) -> bool:
    return any(fnmatch.fnmatchcase(rel, p) for p in RUN_FILE_PATTERNS)


def _is_temporary(rel: str) -> bool:
    folder, _, name = rel.rpartition("/")
    for pattern in _TEMPORARY:
        m = pattern.match(name)
        if m:
            final = m.group("name") if "name" in m.groupdict() else m["stem"] + m["ext"]
            final = f"{folder}/{final}" if folder else final
            if final == MANIFEST or _is_run_file(final):
                return True
    return False


def _read_manifest(run_dir: Path) -> list[str] | None:
    path = run_dir / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        files = data["files"] if data.get("format") == MANIFEST_FORMAT else None
    except (ValueError, KeyError, AttributeError, TypeError):
        files = None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise RunDirError(f"{path} is not a list of run files; move it away to continue")
    return files


def run_files(run_dir: str | os.PathLike) -> tuple[list[str], list[str]]:
    """``(ours, others)``: the files under ``run_dir`` that its run wrote (by its
    ``run-files.json``, else by :data:`RUN_FILE_PATTERNS`; half-written temporaries count as
    the run's), and every other file."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return [], []
    listed = _read_manifest(run_dir)
    known = set(listed) if listed is not None else None
    ours, others = [], []
    for rel in _all_files(run_dir):
        mine = rel in known if known is not None else _is_run_file(rel)
        (ours if mine or _is_temporary(rel) else others).append(rel)
    return ours, others


def record_run_files(run_dir: str | os.PathLike, since: float | None = None) -> Path:
    """Add the run files now in ``run_dir`` to its ``run-files.json`` (and drop the ones that
    are gone). ``since``: only files modified at or after this time (``time.time()``) are
    new run files, so a file of the user's with a run file's name (say a ``calibration.json``
    made by ``calibrate``) is not taken for the run's."""
    run_dir = Path(run_dir)
    present = _all_files(run_dir)
    listed = set(_read_manifest(run_dir) or ())
    files = []
    for rel in present:
        if rel in listed:
            files.append(rel)
        elif _is_run_file(rel) and not _is_temporary(rel):
            if since is None or (run_dir / rel).stat().st_mtime >= since - 1.0:
                files.append(rel)
    data = json.dumps({"format": MANIFEST_FORMAT, "files": files}, indent=1) + "\n"
    path = run_dir / MANIFEST
    try:
        write_text_atomic(path, data)
    except OSError as e:
        raise RunSaveError(_write_failure(path, e)) from None
    return path


def _short_list(files: list[str], n: int = 6) -> str:
    more = f" and {len(files) - n} more" if len(files) > n else ""
    return ", ".join(files[:n]) + more


def check_no_run(run_dir: Path) -> None:
    """Raise :class:`RunDirError` when ``run_dir`` already holds a run's files."""
    ours, _ = run_files(run_dir)
    ours = [f for f in ours if not _is_temporary(f)]
    if ours:
        raise RunDirError(
            f"run directory {run_dir} already holds a run ({_short_list(ours, 4)}); pass "
            f"--overwrite to replace it, --resume to continue it, or choose another --out"
        )


def clear_run_files(run_dir: str | os.PathLike) -> list[str]:
    """``--overwrite``: delete the files the run in ``run_dir`` wrote, and the folders that
    leaves empty; returns what was deleted.

    Raises
    ------
    RunDirError
        The folder also holds other files (named in the message); nothing is deleted then.
    """
    run_dir = Path(run_dir)
    ours, others = run_files(run_dir)
    if others:
        raise RunDirError(
            f"--overwrite: {run_dir} also holds files that are not a run's: "
            f"{_short_list(others)}; move them away or choose another --out (nothing was deleted)"
        )
    for rel in ours:
        (run_dir / rel).unlink(missing_ok=True)
    (run_dir / MANIFEST).unlink(missing_ok=True)
    _remove_empty_dirs(run_dir, {str(Path(rel).parent) for rel in ours})
    return ours


def _remove_empty_dirs(run_dir: Path, rel_dirs: set[str]) -> None:
    candidates = set()
    for rel in rel_dirs:
        p = Path(rel)
        while str(p) not in (".", ""):
            candidates.add(p)
            p = p.parent
    for rel in sorted(candidates, key=lambda p: len(p.parts), reverse=True):
        try:
            (run_dir / rel).rmdir()
        except OSError:  # not empty, or already gone
            pass


def clean_temporary_files(run_dir: str | os.PathLike, stream: TextIO | None = None) -> list[str]:
    """Delete the half-written temporaries a crashed or full-disk run left (call it holding
    the lock: no other process can be writing them); says so on ``stream``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    gone = [rel for rel in _all_files(run_dir) if _is_temporary(rel)]
    for rel in gone:
        (run_dir / rel).unlink(missing_ok=True)
    if gone:
        print(
            f"removed {len(gone)} half-written file(s) of an earlier run in {run_dir}: "
            f"{_short_list(gone)}",
            file=stream or sys.stderr,
            flush=True,
        )
    return gone


# ---------------------------------------------------------------------- errors while saving


def _write_failure(path: str | os.PathLike | None, e: OSError) -> str:
    what = e.strerror or str(e)
    return f"cannot write {path}: {what}" if path else f"cannot write: {what}"


def _last_epoch(run_dir: Path) -> int | None:
    try:
        return int(json.loads((run_dir / "checkpoint" / "state.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_error(run_dir: str | os.PathLike, e: OSError, path: str | os.PathLike | None = None):
    """The one-line :class:`RunSaveError` for an OS error while the run in ``run_dir``
    saved ``path`` (default: the error's file name): what failed, what is safe, how to go on."""
    run_dir = Path(run_dir)
    path = path or e.filename
    epoch = _last_epoch(run_dir)
    if epoch is None:
        safe = (
            "no epoch was complete yet; fix that and start again with "
            f"`python -m trainer train ... --out {run_dir} --overwrite`"
        )
    else:
        safe = (
            f"the last complete epoch ({epoch}) is safe in {run_dir / 'checkpoint'}; fix that "
            f"(free disk space) and continue with `python -m trainer train --out {run_dir} "
            f"--resume`"
        )
    return RunSaveError(f"{_write_failure(path, e)}. {safe[0].upper()}{safe[1:]}")


class SaveFailed(OSError):
    """An OS error while writing ``path`` (raised by the run's own writers, turned into a
    :class:`RunSaveError` by :class:`RunSession`)."""

    def __init__(self, path: str | os.PathLike, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause), str(path))


def _is_save_failure(e: BaseException, run_dir: Path) -> bool:
    if isinstance(e, SaveFailed):
        return True
    if not isinstance(e, OSError) or isinstance(e, (FileNotFoundError, NotADirectoryError)):
        return False
    if e.errno in DISK_ERRNOS:
        return True
    if e.filename is None:
        return False
    try:
        Path(e.filename).resolve().relative_to(run_dir.resolve())
    except ValueError:
        return False
    return True


class RunSession:
    """What ``train`` holds around a run: the lock, the stale-temporary clean-up, the
    ``run-files.json`` record on the way out, and disk errors turned into a
    :class:`RunSaveError` that says what is safe.

    Parameters
    ----------
    run_dir : str or os.PathLike
    command : str
        For the lock file (see :class:`RunLock`).
    enabled : bool
        False: do nothing (a multi-worker run's non-chief workers, which write nothing).
    """

    def __init__(self, run_dir: str | os.PathLike, command: str = "train", enabled: bool = True):
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.lock = RunLock(self.run_dir, command)
        self.started = time.time()

    def __enter__(self) -> RunSession:
        if not self.enabled:
            return self
        self.lock.acquire()
        _SESSIONS[self.run_dir.resolve()] = self.started
        clean_temporary_files(self.run_dir)
        if (self.run_dir / MANIFEST).exists() is False and run_files(self.run_dir)[0]:
            record_run_files(self.run_dir)  # an older version's run: its files, by name
        return self

    def __exit__(
        self, kind: type | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.enabled:
            return
        _SESSIONS.pop(self.run_dir.resolve(), None)
        try:
            if self.run_dir.is_dir() and run_files(self.run_dir)[0]:
                record_run_files(self.run_dir, self.started)
        except RunSaveError:
            if e is None:
                raise
        finally:
            self.lock.release()
        if e is not None and _is_save_failure(e, self.run_dir):
            raise save_error(self.run_dir, e) from None


_SESSIONS: dict[Path, float] = {}


def record_during_run(run_dir: str | os.PathLike) -> None:
    """:func:`record_run_files` for a run in progress (after each epoch): with the start time
    of this process's :class:`RunSession` on ``run_dir`` when there is one."""
    run_dir = Path(run_dir)
    record_run_files(run_dir, _SESSIONS.get(run_dir.resolve()))
