"""End to end through the CLI, in-process: train, resume, evaluate, score, errors.

Uses a tiny synthetic dataset (2 + 2 videos of 40 frames at 32x32) and the ``smoke`` preset.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("pseudoanom")

from trainer import checkpoint  # noqa: E402
from trainer.cli import main, parse_transform  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "tiny"
    args = ["make-synthetic", "--out", str(root), "--n-train", "2", "--n-test", "2"]
    assert main([*args, "--frames", "40", "--size", "32,32"]) == 0
    return root


@pytest.fixture
def cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.getbasetemp() / "cache")


def train_args(dataset: Path, out: Path, cache: str, *extra: str) -> list[str]:
    return [
        "train", "--preset", "smoke", "--data", str(dataset), "--out", str(out),
        "--set", f"cache_dir={cache}", "--quiet", *extra,
    ]  # fmt: skip


def weights(path: Path) -> list[np.ndarray]:
    return keras.saving.load_model(path, safe_mode=True).get_weights()


def state(run: Path) -> dict:
    return json.loads((run / "checkpoint" / "state.json").read_text())


def test_resume_continues_exactly_like_a_straight_run(dataset, cache, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(train_args(dataset, straight, cache, "--epochs", "2", "--no-eval")) == 0
    assert main(train_args(dataset, resumed, cache, "--epochs", "1", "--no-eval")) == 0
    assert state(resumed)["epoch"] == 1
    # A run killed while saving epoch 2: the model file is there but state.json still says 1.
    (resumed / "checkpoint" / "epoch-0002.keras").write_bytes(b"half a zip")
    assert main(["train", "--out", str(resumed), "--resume", "--epochs", "2", "--quiet"]) == 0

    s = state(resumed)
    assert s["epoch"] == 2 and s["seed"] == state(straight)["seed"]
    assert s["history"]["loss"] == state(straight)["history"]["loss"]  # same data order
    assert len(s["history"]["loss"]) == 2
    for a, b in zip(
        weights(straight / "model.keras"), weights(resumed / "model.keras"), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    # The training state (optimizer included) lives in the checkpoints; model.keras is the
    # plain-Keras inference copy.
    model = keras.saving.load_model(resumed / "checkpoint" / "epoch-0002.keras", safe_mode=True)
    assert int(model.optimizer.iterations) == 2 * 4  # smoke: 4 steps per epoch
    assert sorted(p.name for p in (resumed / "checkpoint").glob("epoch-*.keras")) == [
        "epoch-0002.keras"
    ]


def test_train_evaluate_score(dataset, cache, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args(dataset, run, cache, "--transform", "smoothmix_s:alpha=0.5,beta=4",
                           "--transform", "skip_frame:steps=[2,3]", "--weight", "3",
                           "--weight", "1", "--seed", "3")) == 0  # fmt: skip
    for name in ("config.yaml", "model.keras", "history.json", "checkpoint/state.json"):
        assert (run / name).is_file(), name
    ev = run / "evaluation"
    summary = json.loads((ev / "summary.json").read_text())
    assert 0.0 <= summary["micro_auc"] <= 1.0
    assert summary["seed"] == 3 and summary["commit"] and summary["time"]
    assert summary["config"]["pipeline"]["params"]["transforms"][1] == {
        "name": "skip_frame", "params": {"steps": [2, 3]},
    }  # fmt: skip
    assert summary["config"]["pipeline"]["params"]["weights"] == [3.0, 1.0]
    rows = list(csv.DictReader((ev / "scores.csv").open()))
    assert len(rows) == 2 * (40 - 15)  # the paper's protocol: T - 1 frames per video unscored
    assert (ev / "scores_all.png").is_file() and list(ev.glob("recon_*.png"))

    out = tmp_path / "eval"
    args = ["evaluate", "--model", str(run / "model.keras"), "--data", str(dataset)]
    extra = ["--localisation", "--smooth-sigma", "2"]
    assert main([*args, "--out", str(out), "--cache-dir", cache, "--quiet", *extra]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["micro_auc"] == pytest.approx(summary["micro_auc"])
    assert summary["localisation"] is None and summary["smoothing"] is None  # both opt-in
    assert 0 <= again["localisation"]["rbdc"] <= 1 and again["smoothing"]["causal"] is False
    metrics = dict(csv.reader((out / "metrics.csv").open()))
    assert {"pixel_auc", "tbdc", "smoothed_micro_auc", "macro_auc_padded"} <= set(metrics)
    assert (out / "localisation.csv").is_file() and list(out.glob("localisation_*.png"))
    assert summary["backend"]["backend"] == again["backend"]["backend"] == keras.config.backend()
    assert summary["backend"]["device"] and summary["backend"]["keras"] == keras.__version__

    video = dataset / "testing" / "frames" / "01"
    scored = tmp_path / "score"
    args = ["score", str(video), "--model", str(run / "model.keras"), "--out", str(scored)]
    capsys.readouterr()
    assert main(args) == 0  # not --quiet: the startup line, progress on stderr, the result
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith(f"keras backend {keras.config.backend()} ")
    assert "scored 40 frames" in out.splitlines()[-1]
    assert "scoring 1 video: 40 windows (a line every 10 s at most)" in err.splitlines()
    assert any(ln.startswith("scored 40 frames of 1 video in ") for ln in err.splitlines())
    rows = list(csv.DictReader((scored / "scores.csv").open()))
    assert len(rows) == 40  # edges padded: every frame scored
    assert all(r["label"] == "" for r in rows)
    assert list(scored.glob("scores_*.png"))


def test_main_job_without_data_uses_the_synthetic_dataset(tmp_path):
    run = tmp_path / "demo"
    cache = tmp_path / "cache"
    args = ["train", "--preset", "smoke", "--out", str(run), "--set", f"cache_dir={cache}"]
    assert main([*args, "--quiet"]) == 0
    assert (cache / "synthetic" / "synthetic.json").is_file()
    assert json.loads((run / "evaluation" / "summary.json").read_text())["micro_auc"] is not None


def test_overwrite_rules(dataset, cache, tmp_path, capsys):
    run = tmp_path / "run"
    args = train_args(dataset, run, cache, "--no-eval")
    assert main(args) == 0
    (run / "notes.txt").write_text("mine")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"run directory {run} already holds a run (" in err and "--overwrite" in err
    # --overwrite deletes only the files the run wrote: it refuses while anything else is there
    assert main([*args, "--overwrite", "--seed", "1"]) == 2
    assert "not a run's: notes.txt;" in capsys.readouterr().err
    assert (run / "notes.txt").read_text() == "mine" and state(run)["seed"] == 0
    (run / "notes.txt").unlink()
    assert main([*args, "--overwrite", "--seed", "1"]) == 0
    assert state(run)["seed"] == 1
    # a resume may not change what decides the data order
    assert main(["train", "--out", str(run), "--resume", "--seed", "2", "--quiet"]) == 2
    assert "seed" in capsys.readouterr().err


def one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--set", "epoch=3"], "unknown config key 'epoch'; valid keys: data,"),
        (["--set", "p=2"], "config key 'p'"),
        (["--epochs", "0"], "config key 'epochs'"),
        (["--data", "/no/such/dataset"], "/no/such/dataset does not exist"),
        (["--transform", "nope"], "unknown transform 'nope'"),
        (["--transform", "smoothmix_s", "--weight", "1", "--weight", "2"], "--weight"),
        (["--resume", "--out", "/no/such/run"], "no run to resume"),
    ],
)
def test_errors_exit_2_with_one_line(extra, expected, capsys, tmp_path):
    args = ["train", "--preset", "smoke", "--out", str(tmp_path / "r"), "--quiet", *extra]
    assert main(args) == 2
    assert expected in one_error(capsys)


def test_bad_model_path_and_missing_video(tmp_path, capsys):
    assert main(["evaluate", "--model", str(tmp_path / "none.keras")]) == 2
    assert "does not exist" in one_error(capsys)
    assert main(["score", str(tmp_path / "none.avi"), "--model", str(tmp_path / "m.keras")]) == 2
    one_error(capsys)


def test_parse_transform():
    assert parse_transform("smoothmix_c:alpha=0.3,beta=0", 2) == {
        "name": "smoothmix_c", "params": {"alpha": 0.3, "beta": 0}, "weight": 2.0,
    }  # fmt: skip
    assert parse_transform("skip_frame:steps=[2,3,4]")["params"] == {"steps": [2, 3, 4]}
    with pytest.raises(ValueError, match="key=value"):
        parse_transform("cutmix:alpha")


def test_latest_checkpoint_ignores_files_without_state(tmp_path):
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "epoch-0001.keras").write_bytes(b"partial")
    assert checkpoint.latest_checkpoint(tmp_path) is None


def test_time_limit_stops_at_an_epoch_boundary_and_resume_finishes(dataset, cache, tmp_path):
    run = tmp_path / "limited"
    args = train_args(dataset, run, cache, "--epochs", "3", "--no-eval")
    # Any epoch takes more than a microsecond, so the limit stops training after epoch 1.
    assert main([*args, "--set", "time_limit_s=0.000001"]) == 0
    assert state(run)["epoch"] == 1 and (run / "model.keras").exists()
    assert main(["train", "--out", str(run), "--resume", "--epochs", "3", "--quiet",
                 "--set", "time_limit_s=100000"]) == 0  # fmt: skip
    assert state(run)["epoch"] == 3 and len(state(run)["history"]["loss"]) == 3
