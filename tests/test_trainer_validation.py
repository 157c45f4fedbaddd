"""Validation from pseudo anomalies (trainer.holdout): the holdout, the set, the AUC per
epoch in history.json and TensorBoard, and keep_best, on a tiny synthetic dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import pseudoanom  # noqa: E402
from trainer import holdout as validation  # noqa: E402
from trainer.config import ConfigError, TrainConfig, default_val_pipeline, preset  # noqa: E402
from trainer.data import Video  # noqa: E402
from trainer.train import build_validation_set, train  # noqa: E402

T = 8  # clip length of the unit tests


def numbered_videos(lengths: list[int], hw: int = 16) -> list[Video]:
    """Videos whose frame j of video i is filled with a value no other frame has."""
    videos, value = [], 0
    for i, k in enumerate(lengths):
        frames = np.zeros((k, hw, hw, 1), np.uint8)
        for j in range(k):
            frames[j, 0, 0, 0], frames[j, 0, 1, 0] = divmod(value, 256)
            value += 1
        videos.append(Video(f"{i:02d}", frames, None, None))
    return videos


def frame_ids(videos: list[Video]) -> set[int]:
    return {int(f[0, 0, 0]) * 256 + int(f[0, 1, 0]) for v in videos for f in v.frames}


@pytest.mark.parametrize("mode", ["tail", "videos"])
def test_holdout_leaves_no_held_out_frame_in_training(mode):
    videos = numbered_videos([40, 60, 17, 50])
    train_part, held = validation.split_holdout(videos, 0.25, mode, T)
    train_ids, held_ids = frame_ids(train_part), frame_ids(held)
    assert held_ids and train_ids
    assert not train_ids & held_ids
    assert train_ids | held_ids == frame_ids(videos)  # nothing lost either
    if mode == "tail":  # the last max(ceil(0.25 K), 2T) frames; the 17-frame video stays whole
        assert [len(v) for v in held] == [16, 16, 16]
        assert [v.name for v in held] == ["00@24", "01@44", "03@34"]
    else:  # round(0.25 * 4) = 1 video, evenly spread: index 2
        assert [v.name for v in held] == ["02"]


def test_holdout_that_holds_nothing_or_everything_is_a_config_error():
    with pytest.raises(ConfigError, match="no video holds out"):
        validation.split_holdout(numbered_videos([20, 20]), 0.1, "tail", T)
    with pytest.raises(ConfigError, match="no training video is left"):
        validation.split_holdout(numbered_videos([20]), 0.5, "videos", T)


def test_validation_set_is_reproducible_from_val_seed_and_labelled():
    held = numbered_videos([40, 40], hw=32)
    pipe = pseudoanom.from_dict(default_val_pipeline())
    a = validation.make_validation_set(held, T, pipe, 24, seed=0)
    b = validation.make_validation_set(held, T, pipe, 24, seed=0)
    c = validation.make_validation_set(held, T, pipe, 24, seed=1)
    assert np.array_equal(a.clips, b.clips) and np.array_equal(a.labels, b.labels)
    assert a.origins == b.origins
    assert not np.array_equal(a.clips, c.clips)
    assert a.clips.shape == (24, T, 32, 32, 1) and a.clips.dtype == np.uint8
    assert set(a.labels.tolist()) == {0, 1}
    for clip, label, (name, start, kind) in zip(a.clips, a.labels, a.origins, strict=True):
        source = held[int(name)].frames[start : start + T]
        assert (kind is None) == (label == 0)
        assert np.array_equal(clip, source) == (label == 0)  # pseudo anomalies differ


def test_scores_follow_the_evaluation_protocol():
    """Each clip scores the PSNR of its frame T // 2, as evaluate scores a window."""
    held = numbered_videos([30], hw=16)
    pipe = pseudoanom.from_dict(default_val_pipeline())
    valset = validation.make_validation_set(held, T, pipe, 10, seed=3)
    psnr = validation.score_validation_set(valset, lambda b: np.zeros_like(b), batch_size=4)
    from trainer.evaluation import frame_psnr

    x = valset.clips[:, T // 2].astype(np.float32) / 127.5 - 1
    assert np.allclose(psnr, frame_psnr(x, np.zeros_like(x)))
    assert validation.validation_auc([0, 1, 0, 1], [30.0, 20.0, 31.0, 25.0]) == 1.0


def test_config_keys_default_off_and_checked():
    cfg = preset("cpu")
    assert not cfg.validation and cfg.keep_best == "last" and cfg.val_fraction == 0
    bad_p = default_val_pipeline()
    bad_p["params"]["p"] = 1.0
    with pytest.raises(ConfigError, match="val_pipeline"):
        TrainConfig(val_fraction=0.2, val_pipeline=bad_p)
    with pytest.raises(ConfigError, match="keep_best"):
        TrainConfig(keep_best="val_auc")
    with pytest.raises(ConfigError, match="val_holdout"):
        TrainConfig(val_holdout="head")


def test_bad_val_pipeline_names_its_key():
    cfg = preset("smoke").replace(
        val_fraction=0.3,
        val_pipeline={"name": "pipeline", "params": {"transforms": ["nope"], "p": 0.5}},
    )
    with pytest.raises(ConfigError, match="config key 'val_pipeline'"):
        build_validation_set(numbered_videos([64, 64], hw=32), cfg)


# ------------------------------------------------------------------ through train()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from trainer.synthetic import make_synthetic_dataset

    root = tmp_path_factory.mktemp("data") / "tiny"
    return make_synthetic_dataset(root, n_train=3, n_test=2, frames=64, size=(32, 32))


def run_config(dataset: Path, out: Path, **changes) -> TrainConfig:
    return preset("smoke").replace(
        data=str(dataset),
        out=str(out),
        cache_dir=str(out.parent / "cache"),
        val_fraction=0.3,
        val_clips=16,
        **changes,
    )


@pytest.mark.slow
def test_val_auc_each_epoch_in_history_and_tensorboard(dataset, tmp_path):
    run = train(run_config(dataset, tmp_path / "run", epochs=2), verbose=0)
    history = json.loads((run / "history.json").read_text())
    assert len(history["val_auc"]) == 2
    assert all(0 <= a <= 1 for a in history["val_auc"])
    assert history["val_best_epoch"] == [
        1,
        2 if history["val_auc"][1] > history["val_auc"][0] else 1,
    ]
    assert len(history["val_psnr_normal"]) == len(history["val_psnr_pseudo"]) == 2
    summary = json.loads((run / "evaluation" / "summary.json").read_text())
    assert summary["validation"]["keep_best"] == "last" and summary["validation"]["kept_epoch"] == 2
    events = list((run / "logs" / "validation").glob("events.out.tfevents.*"))
    if events:  # TensorBoard installed: the validation run holds the AUC scalar
        assert any(b"epoch_auc" in e.read_bytes() for e in events)
    # The same seeds give the same validation AUCs.
    again = train(run_config(dataset, tmp_path / "again", epochs=2), verbose=0)
    assert json.loads((again / "history.json").read_text())["val_auc"] == history["val_auc"]


@pytest.mark.slow
def test_keep_best_keeps_the_recorded_best_epoch(dataset, tmp_path, monkeypatch):
    """A validation AUC that falls after epoch 1: model.keras is epoch 1's model, which a
    one-epoch run of the same config reproduces."""
    aucs = iter([0.9, 0.5, 0.4])
    monkeypatch.setattr(validation, "validation_auc", lambda labels, psnr: next(aucs))
    best = train(run_config(dataset, tmp_path / "best", epochs=3, keep_best="val_auc"), verbose=0)
    monkeypatch.undo()
    one = train(run_config(dataset, tmp_path / "one", epochs=1), verbose=0, evaluate=False)
    history = json.loads((best / "history.json").read_text())
    assert history["val_auc"] == [0.9, 0.5, 0.4] and history["val_best_epoch"] == [1, 1, 1]
    summary = json.loads((best / "evaluation" / "summary.json").read_text())
    assert summary["validation"]["kept_epoch"] == 1
    assert summary["validation"]["val_best_auc"] == 0.9
    kept = keras.saving.load_model(best / "model.keras").get_weights()
    first = keras.saving.load_model(one / "model.keras").get_weights()
    last = keras.saving.load_model(best / "checkpoint" / "epoch-0003.keras").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(kept, first, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(kept, last[: len(kept)], strict=False))


@pytest.mark.slow
def test_training_with_a_holdout_calibrates_the_saved_model(dataset, tmp_path, capsys):
    """calibration.json next to model.keras: the saved model's PSNRs on the held-out normal
    videos (full causal windows), tied to the file by its SHA-256; no holdout, no file."""
    from trainer.calibration import Calibration, calibrate, file_sha256
    from trainer.datasets import load_split

    config = run_config(dataset, tmp_path / "run", epochs=1)
    run = train(config, verbose=1, evaluate=False)
    assert "calibrated on" in capsys.readouterr().out
    saved = Calibration.load(run / "calibration.json")
    assert saved.model_sha256 == file_sha256(run / "model.keras")
    clip = config.clip_length
    assert saved.delay == 0 and saved.input_shape == (clip, 32, 32, 1)

    videos = load_split(dataset, "training", size=(32, 32), channels=1, min_frames=clip)
    _, valset = build_validation_set(videos, config)
    assert len(valset.held_out) == 3  # val_holdout 'tail': the tail of each training video
    assert saved.n_frames == sum(len(v) - clip + 1 for v in valset.held_out)
    again = calibrate(keras.saving.load_model(run / "model.keras"), valset.held_out)
    np.testing.assert_allclose(saved.psnr, again.psnr, rtol=1e-5)

    # A calibration the user made from other videos is not overwritten by --resume.
    other = calibrate(keras.saving.load_model(run / "model.keras"), videos[:1])
    other.save(run / "calibration.json")
    train(config.replace(epochs=2), resume=True, evaluate=False)
    assert "kept" in capsys.readouterr().out
    assert Calibration.load(run / "calibration.json").sources == other.sources

    plain = train(config.replace(val_fraction=0.0, out=str(tmp_path / "plain")), evaluate=False)
    assert "not calibrated: no normal video was held out" in capsys.readouterr().out
    assert not (plain / "calibration.json").exists()
