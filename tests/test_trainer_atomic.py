"""trainer.atomic: a file is replaced whole or left as it was, and its temporaries are the
ones trainer.rundir recognises."""

from __future__ import annotations

import os

import pytest

from trainer import rundir
from trainer.atomic import temporary_path, write_atomic, write_text_atomic


def test_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "summary.json"
    assert write_text_atomic(path, "new\n") == path
    assert path.read_text() == "new\n"
    assert [p.name for p in path.parent.iterdir()] == ["summary.json"]


def test_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("old")

    def half(tmp):
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomic(path, half)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_interrupted_write_removes_the_temporary(tmp_path):
    path = tmp_path / "history.json"

    def interrupted(tmp):
        tmp.write_text("{")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, interrupted)
    assert not any(tmp_path.iterdir())


def test_temporaries_are_unique_hidden_and_keep_the_keras_suffix(tmp_path):
    a, b = temporary_path(tmp_path / "history.json"), temporary_path(tmp_path / "history.json")
    assert a != b and a.parent == tmp_path
    assert a.name.startswith(f".history.json.tmp-{os.getpid()}-")
    model = temporary_path(tmp_path / "checkpoint" / "epoch-0002.keras")
    assert model.name.startswith(".epoch-0002.tmp-") and model.suffix == ".keras"


@pytest.mark.parametrize(
    "final", ["history.json", "checkpoint/epoch-0002.keras", "evaluation/scores.csv"]
)
def test_rundir_knows_each_temporary_for_the_file_it_becomes(final):
    folder, _, name = final.rpartition("/")
    tmp = temporary_path(name).name
    rel = f"{folder}/{tmp}" if folder else tmp
    assert rundir._is_temporary(rel)
    assert not rundir._is_temporary(f"{folder}/notes.tmp-x" if folder else "notes.tmp-x")
