"""One CLI vocabulary: the same thing has the same option name, type and help in every command
of ``python -m trainer`` and ``pseudoanom``."""

from __future__ import annotations

import argparse

import pytest

from pseudoanom.__main__ import build_parser as pseudoanom_parser
from trainer.cli import build_parser as trainer_parser


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Visible options by each of their spellings (``-h`` and suppressed aliases left out)."""
    return {
        s: a
        for a in parser._actions
        if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)
        for s in a.option_strings
    }


TRAINER = _subcommands(trainer_parser())
PSEUDOANOM = _subcommands(pseudoanom_parser())
ALL = {**{f"trainer {k}": v for k, v in TRAINER.items()},
       **{f"pseudoanom {k}": v for k, v in PSEUDOANOM.items()}}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_option_and_argument_has_help(name):
    undocumented = [
        "/".join(a.option_strings) or a.dest
        for a in ALL[name]._actions
        if not a.help and not isinstance(a, argparse._HelpAction)
    ]
    assert not undocumented, f"{name}: no help text for {undocumented}"


@pytest.mark.parametrize("name", sorted(TRAINER))
def test_every_trainer_command_has_a_description(name):
    assert TRAINER[name].description, f"python -m trainer {name} has no description"


def test_one_name_per_thing():
    """No command spells a shared option another way (--batch for --batch-size, ...)."""
    synonyms = {"--batch": "--batch-size", "--bs": "--batch-size", "--no-pad": "--no-pad-edges"}
    for name, parser in ALL.items():
        for spelling in _options(parser):
            assert spelling not in synonyms, f"{name}: {spelling}, say {synonyms[spelling]}"


def test_shared_options_have_one_type():
    seen: dict[str, tuple[str, object]] = {}
    for name, parser in TRAINER.items():
        for spelling, action in _options(parser).items():
            kind = (action.type, type(action).__name__ == "_StoreTrueAction")
            first = seen.setdefault(spelling, (name, kind))
            assert first[1] == kind, f"{spelling}: {first[0]} and {name} take different values"


def test_batch_size_everywhere_a_model_scores():
    for name in ("evaluate", "score", "calibrate", "watch"):
        assert "--batch-size" in _options(TRAINER[name]), name


def test_pad_edges_takes_both_spellings_with_each_commands_default():
    defaults = {"evaluate": False, "score": True}
    for name, default in defaults.items():
        options = _options(TRAINER[name])
        assert options["--pad-edges"] is options["--no-pad-edges"], name
        assert options["--pad-edges"].default is default, name
        for flag, value in (("--pad-edges", True), ("--no-pad-edges", False)):
            args = trainer_parser().parse_args([name, *_required(name), flag])
            assert args.pad_edges is value


def test_watch_keeps_the_old_batch_spelling():
    args = trainer_parser().parse_args(["watch", "0", "--model", "m.keras", "--batch", "2"])
    assert args.batch_size == 2
    args = trainer_parser().parse_args(["watch", "0", "--model", "m.keras"])
    assert args.batch_size == 4


def _required(name: str) -> list[str]:
    return {"evaluate": ["--model", "m.keras"], "score": ["v.avi", "--model", "m.keras"]}[name]


def test_preview_reads_a_video_file(tmp_path):
    import cv2
    import numpy as np

    from pseudoanom.preview import load_frames

    path = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 32))
    for i in range(12):
        writer.write(np.full((32, 48, 3), 20 * i, np.uint8))
    writer.release()
    frames = load_frames(path, size=(16, 16), start=2, count=5)
    assert frames.shape == (5, 16, 16, 1)
    assert abs(int(frames[0].mean()) - 40) <= 3  # frame 2, not frame 0
    assert load_frames(path, size=(16, 16)).shape[0] == 12


def test_every_command_that_loads_a_model_takes_model():
    for name in ("evaluate", "score", "calibrate", "watch"):
        assert "--model" in _options(TRAINER[name]), name


def test_calibrate_takes_the_model_either_way(tmp_path, capsys):
    from trainer.cli import main

    normal = str(tmp_path / "none")
    for args in (["m.keras"], ["--model", "m.keras"]):
        assert main(["calibrate", *args, "--normal", normal, "--quiet"]) == 2
        assert "normal video" in capsys.readouterr().err  # got as far as the videos
    assert main(["calibrate", "--normal", normal]) == 2
    assert "calibrate needs the model" in capsys.readouterr().err
    assert main(["calibrate", "a.keras", "--model", "b.keras", "--normal", normal]) == 2
    assert "differ" in capsys.readouterr().err
