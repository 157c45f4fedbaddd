"""Transforms, intruder sources and pipelines pickle and deep-copy (spawn workers need it)."""

from __future__ import annotations

import copy
import multiprocessing
import pickle

import numpy as np
import pytest
from conftest import make_clip

import pseudoanom


def _sources(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    frames = tmp_path / "frames" / "01"
    frames.mkdir(parents=True)
    rng = np.random.default_rng(0)
    import cv2

    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 256, (12, 9, 3), dtype=np.uint8))
    for i in range(20):
        cv2.imwrite(str(frames / f"{i:03d}.png"), rng.integers(0, 256, (10, 8), dtype=np.uint8))
    cifar = tmp_path / "cifar-100-python"
    cifar.mkdir()
    data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
    (cifar / "train").write_bytes(pickle.dumps({b"data": data}, protocol=2))
    return [
        pseudoanom.EmbeddedSource(n=8, size=16),
        pseudoanom.ImageFolderSource(folder),
        pseudoanom.VideoFramesSource(tmp_path / "frames"),
        pseudoanom.Cifar100Source(tmp_path),
    ]


@pytest.mark.parametrize("content", ["window", "object"])
def test_every_source_pickles_and_copies_to_the_same_output(tmp_path, content):
    """Each intruder source, its caches filled, inside a transform (the contract test,
    tests/test_transform_contract.py, pickles every transform with the embedded source)."""
    clip = make_clip((16, 24, 24, 1))
    for src in _sources(tmp_path):
        src.sample(np.random.default_rng(0))  # decode something first: caches hold images now
        tr = pseudoanom.create("smoothmix_s", intruders=src, content=content)
        want = tr(clip, rng=5)
        for other in (pickle.loads(pickle.dumps(tr)), copy.deepcopy(tr)):
            assert other(clip, rng=5).clip.tobytes() == want.clip.tobytes()
            assert other.to_dict() == tr.to_dict()
        copied = pickle.loads(pickle.dumps(src))
        assert copied.to_dict() == src.to_dict() and len(copied) == len(src)


def _call_in_worker(pipe: pseudoanom.Pipeline, video: np.ndarray) -> bytes:
    return pipe.from_video(video, 2, 16, rng=3).clip.tobytes()


def test_pipeline_runs_in_a_spawned_process():
    """The start method of PyTorch DataLoader workers on macOS and Windows."""
    pipe = pseudoanom.Pipeline(
        [pseudoanom.create("smoothmix_s", beta=5), pseudoanom.create("skip_frame")], p=1.0
    )
    video = make_clip((40, 24, 24, 1))
    assert pickle.loads(pickle.dumps(pipe)).to_dict() == pipe.to_dict()
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        got = pool.apply(_call_in_worker, (pipe, video))
    assert got == _call_in_worker(pipe, video)
