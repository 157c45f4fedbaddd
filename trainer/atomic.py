"""Files written whole or not at all: a temporary beside the file, then ``os.replace``.

A reader (or a process killed mid-write) sees the old file or the new one, never half of one.
Every writer in ``trainer`` that replaces a file goes through :func:`write_atomic`, so the
temporaries have one name pattern, which :mod:`trainer.rundir` recognises as half-written.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["temporary_path", "write_atomic", "write_text_atomic"]

_calls = itertools.count()


def temporary_path(path: str | os.PathLike) -> Path:
    """``.<name>.tmp-<pid>-<n>`` beside ``path``, unique per process and call.

    A ``.keras`` file gets ``.<stem>.tmp-<pid>-<n>.keras``: Keras saves only to that suffix.
    """
    path = Path(path)
    tag = f"tmp-{os.getpid()}-{next(_calls)}"
    if path.suffix == ".keras":
        return path.with_name(f".{path.stem}.{tag}.keras")
    return path.with_name(f".{path.name}.{tag}")


def write_atomic(
    path: str | os.PathLike,
    write: Callable[[Path], object],
    *,
    tmp: Path | None = None,
) -> Path:
    """Call ``write(tmp)`` on a temporary beside ``path``, then move it onto ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its parent folders are created.
    write : callable
        Writes the whole file to the path it is given.
    tmp : pathlib.Path or None
        The temporary (default :func:`temporary_path`), for callers that name it in errors.

    Returns
    -------
    pathlib.Path
        ``path``. When ``write`` or the move raises, the temporary is removed, ``path`` is as
        it was, and the error propagates.
    """
    path = Path(path)
    tmp = temporary_path(path) if tmp is None else tmp
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """:func:`write_atomic` of ``text`` (UTF-8)."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
