"""The ``pseudoanom`` command line: bad input is one ``error: ...`` line and exit code 2."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pseudoanom.__main__ import EXIT_USAGE, build_parser, main


def _frames(folder, n: int = 20) -> str:
    folder.mkdir()
    for i in range(n):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((24, 32), 8 * i, np.uint8))
    return str(folder)


@pytest.mark.parametrize("what", ["frames", "intruders"])
def test_preview_missing_folder_is_one_line_error(tmp_path, capsys, monkeypatch, what):
    monkeypatch.delenv("PSEUDOANOM_DEBUG", raising=False)
    frames = str(tmp_path / "nope") if what == "frames" else _frames(tmp_path / "f")
    args = ["preview", "--frames", frames, "--out", str(tmp_path / "p.png"), "--size", "32"]
    if what == "intruders":
        args += ["--intruders", str(tmp_path / "no_intruders")]
    assert main(args) == EXIT_USAGE
    err = capsys.readouterr().err
    missing = "nope" if what == "frames" else "no_intruders"
    assert err.startswith("error: ") and "not found" in err and missing in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "p.png").exists()


def test_preview_debug_env_keeps_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("PSEUDOANOM_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        main(["preview", "--frames", str(tmp_path / "nope"), "--out", str(tmp_path / "p.png")])


def test_preview_writes_the_grid(tmp_path, capsys):
    frames = _frames(tmp_path / "f")
    out = tmp_path / "p.png"
    args = ["preview", "--frames", frames, "--out", str(out), "--size", "16", "--tile", "16"]
    assert main([*args, "--length", "8", "--transforms", "cutmix", "skip_frame"]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out


def test_build_parser_parses_the_documented_commands():
    args = build_parser().parse_args(["preview", "--frames", "f", "--out", "o.png", "--seed", "1"])
    assert (args.cmd, args.frames, args.seed, args.content) == ("preview", "f", 1, ["window"])
