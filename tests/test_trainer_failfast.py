"""Fail fast: a broken test split stops `train` before the first step (exit 2, one line naming
the file); a video that decodes fewer frames than its container states is reported."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from trainer.data import load_video

keras = pytest.importorskip("keras")

from trainer.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    from trainer.synthetic import make_synthetic_dataset

    root = tmp_path_factory.mktemp("data") / "tiny"
    return make_synthetic_dataset(root, n_train=2, n_test=2, frames=40, size=(32, 32))


@pytest.fixture
def dataset(pristine, tmp_path) -> Path:
    root = tmp_path / "tiny"
    shutil.copytree(pristine, root)
    return root


def train_fails(dataset: Path, tmp_path: Path, capsys) -> str:
    out = tmp_path / "run"
    args = ["train", "--preset", "smoke", "--data", str(dataset), "--out", str(out)]
    rc = main([*args, "--set", f"cache_dir={tmp_path / 'cache'}", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert not (out / "checkpoint").exists() and not (out / "config.yaml").exists()  # no step
    return err[-1]


def test_label_file_of_the_wrong_length(dataset, tmp_path, capsys):
    labels = dataset / "frame_labels_synthetic.npy"
    np.save(labels, np.zeros(79, np.int8))  # 2 test videos of 40 frames
    line = train_fails(dataset, tmp_path, capsys)
    assert line.startswith("error: ") and str(labels) in line
    assert "79 entries" in line and "80 frames" in line


def test_pickled_label_file(dataset, tmp_path, capsys):
    labels = dataset / "frame_labels_synthetic.npy"
    np.save(labels, np.array([[0] * 40, [1] * 40], dtype=object), allow_pickle=True)
    line = train_fails(dataset, tmp_path, capsys)
    assert str(labels) in line and "cannot read frame labels" in line


def test_unreadable_test_frame(dataset, tmp_path, capsys):
    frame = sorted((dataset / "testing" / "frames").glob("*/*"))[5]
    frame.write_bytes(b"not an image")
    line = train_fails(dataset, tmp_path, capsys)
    assert str(frame) in line


def test_no_test_split_still_trains(dataset, tmp_path, capsys):
    shutil.rmtree(dataset / "testing")
    (dataset / "frame_labels_synthetic.npy").unlink()
    out = tmp_path / "run"
    args = ["train", "--preset", "smoke", "--data", str(dataset), "--out", str(out)]
    assert main([*args, "--set", f"cache_dir={tmp_path / 'cache'}"]) == 0
    assert "no evaluation: no 'testing' split" in capsys.readouterr().out
    assert (out / "model.keras").is_file()


def test_truncated_video_warns_with_both_counts(tmp_path):
    path = tmp_path / "cut.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(30):
        writer.write(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    writer.release()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.warns(
        UserWarning, match=r"cut\.avi: decoded (\d+) frames but its container states 30"
    ):
        video = load_video(path, size=(32, 32))
    assert 0 < len(video) < 30
