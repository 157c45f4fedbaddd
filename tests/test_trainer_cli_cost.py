"""``train`` says what a paper-sized run costs on a CPU before it starts (no training here).

Keras, the framework and the training itself are replaced by stubs, so these tests take
milliseconds: they check which config ``train`` would run and what it prints first.
"""

from __future__ import annotations

import sys
import types

import pytest

from trainer import backend, cli
from trainer.config import TrainConfig, preset


@pytest.fixture
def fake_run(monkeypatch):
    """Stub the backend probe and ``trainer.train.train``; returns the configs it was given."""
    calls: list[TrainConfig] = []
    device = {"accelerator": False}

    def info() -> dict:
        return {"backend": "tensorflow", "version": "x", "device": "cpu", "source": "test",
                "accelerator": device["accelerator"]}  # fmt: skip

    monkeypatch.setattr(backend, "info", info)
    monkeypatch.setattr(backend, "check_installed", lambda: "tensorflow")
    fake_train = types.ModuleType("trainer.train")
    fake_train.train = lambda config, **kwargs: calls.append(config)
    monkeypatch.setitem(sys.modules, "trainer.train", fake_train)
    fake_dist = types.ModuleType("trainer.distribute")
    fake_dist.make_distribution = lambda strategy, replicas: None
    monkeypatch.setitem(sys.modules, "trainer.distribute", fake_dist)
    return calls, device


def test_warning_only_for_paper_sized_models():
    text = cli.cpu_cost_warning(preset("paper"), implicit_preset=True)
    assert text.startswith("warning: ") and "\n" not in text
    assert "no --preset given" in text and "use --preset cpu" in text
    assert "94 min per epoch" in text and "3.9 days for 60 epochs" in text
    assert "no --preset" not in cli.cpu_cost_warning(preset("paper"))
    assert cli.cpu_cost_warning(preset("cpu")) is None
    assert cli.cpu_cost_warning(preset("smoke")) is None
    assert cli.cpu_cost_warning(preset("paper").replace(size=(128, 128))) is None


def test_train_without_preset_warns_before_it_starts(fake_run, tmp_path, capsys):
    calls, _ = fake_run
    assert cli.main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr()
    assert calls and calls[0].size == (256, 256) and calls[0].epochs == 60
    assert "no --preset given: 'paper' is the default" in out.err
    assert out.out.startswith("keras backend tensorflow")


@pytest.mark.parametrize(
    ("args", "accelerator", "expected"),
    [
        (["--preset", "paper", "--quiet"], False, "a CPU. On 2 CPU cores"),  # named: no note
        (["--preset", "cpu"], False, None),
        ([], True, None),  # a GPU: nothing to warn about
    ],
)
def test_train_warning_depends_on_preset_and_device(
    fake_run, tmp_path, capsys, args, accelerator, expected
):
    calls, device = fake_run
    device["accelerator"] = accelerator
    assert cli.main(["train", "--out", str(tmp_path / "r"), *args]) == 0
    err = capsys.readouterr().err
    assert len(calls) == 1
    if expected is None:
        assert "warning" not in err
    else:
        assert expected in err and "no --preset" not in err


def test_a_config_file_that_names_its_preset_is_not_implicit(fake_run, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("preset: paper\np: 0.0\n")
    assert cli.main(["train", "--config", str(config), "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "warning: this trains a 16x256x256 model" in err and "no --preset" not in err
