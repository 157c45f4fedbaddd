"""Intruder sources: folders, CIFAR-100 archives, video frames, the embedded default."""

from __future__ import annotations

import io
import os
import pickle
import tarfile

import cv2
import numpy as np
import pytest

import pseudoanom
from pseudoanom import intruders
from pseudoanom.intruders import (
    Cifar100Source,
    EmbeddedSource,
    ImageFolderSource,
    VideoFramesSource,
    fit_intruder,
)


def write_images(folder, n=3, shape=(20, 30, 3)):
    folder.mkdir(parents=True, exist_ok=True)
    r = np.random.default_rng(0)
    for i in range(n):
        cv2.imwrite(str(folder / f"im{i}.png"), r.integers(0, 256, shape, dtype=np.uint8))
    return folder


def test_image_folder(tmp_path):
    d = write_images(tmp_path / "imgs")
    (d / "notes.txt").write_text("not an image")
    src = ImageFolderSource(d)
    assert len(src) == 3
    img = src.sample(np.random.default_rng(0))
    assert img.dtype == np.uint8 and img.shape == (20, 30, 3)
    assert intruders.from_dict(src.to_dict()).files == src.files


def test_image_folder_errors(tmp_path):
    with pytest.raises(pseudoanom.IntruderNotFoundError, match="nowhere"):
        ImageFolderSource(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(pseudoanom.IntruderSourceError, match="empty.*no images"):
        ImageFolderSource(empty)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"\x89PNG not really")
    src = ImageFolderSource(bad)
    with pytest.raises(pseudoanom.IntruderSourceError, match="broken.png"):
        src.sample(np.random.default_rng(0))
    with pytest.raises(pseudoanom.IntruderSourceError, match="broken.png"):
        pseudoanom.create("cutmix", intruders=src)(np.zeros((2, 16, 16, 1), np.uint8), rng=0)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads all")
def test_unreadable_folder(tmp_path):
    d = write_images(tmp_path / "locked")
    d.chmod(0)
    try:
        with pytest.raises(pseudoanom.IntruderSourceError, match="locked"):
            ImageFolderSource(d)
    finally:
        d.chmod(0o755)


def fake_cifar(n=5, protocol=2):
    r = np.random.default_rng(0)
    data = r.integers(0, 256, (n, 3072), dtype=np.uint8)
    obj = {b"data": data, b"fine_labels": list(range(n)), b"filenames": [b"x"] * n}
    return data, pickle.dumps(obj, protocol=protocol)


@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar_tar_and_folder(tmp_path, protocol):
    data, raw = fake_cifar(protocol=protocol)
    tar_path = tmp_path / "cifar-100-python.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-100-python/train")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    (folder / "train").write_bytes(raw)
    for path in (tar_path, folder, tmp_path):
        src = Cifar100Source(path)
        assert len(src) == 5
        img = src.images[2]
        assert img.shape == (32, 32, 3)
        # rows are R, G, B planes of 32x32
        assert img[0, 1, 0] == data[2, 1] and img[0, 1, 2] == data[2, 2048 + 1]
    assert isinstance(intruders.as_source(tar_path), Cifar100Source)
    assert intruders.from_dict(Cifar100Source(tar_path).to_dict()).path == tar_path


def test_cifar_missing_and_malicious(tmp_path):
    with pytest.raises(pseudoanom.IntruderNotFoundError, match="cs.toronto.edu"):
        Cifar100Source(tmp_path)
    evil = tmp_path / "evil"
    evil.mkdir()

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (evil / "train").write_bytes(pickle.dumps({b"data": Boom()}))
    with pytest.raises(pseudoanom.IntruderSourceError, match="refusing"):
        len(Cifar100Source(evil))
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "train").write_bytes(b"not a pickle")
    with pytest.raises(pseudoanom.IntruderSourceError, match="junk"):
        len(Cifar100Source(junk))


def test_video_frames(tmp_path):
    for v in ("01", "02"):
        write_images(tmp_path / v, n=4)
    src = VideoFramesSource(tmp_path)
    assert len(src) == 8 and src.temporal
    seq = src.sample_sequence(np.random.default_rng(0), 3)
    assert seq.shape == (3, 20, 30, 3)
    with pytest.raises(pseudoanom.IntruderSourceError, match="no video.*5 frames"):
        src.sample_sequence(np.random.default_rng(0), 5)
    still = VideoFramesSource(tmp_path / "01", sequence=False)
    assert len(still) == 4 and not still.temporal
    assert intruders.from_dict(src.to_dict()).to_dict() == src.to_dict()
    with pytest.raises(pseudoanom.IntruderSourceError, match="no frame images"):
        (tmp_path / "empty").mkdir()
        VideoFramesSource(tmp_path / "empty")


def test_embedded_is_seeded_and_varied():
    a = EmbeddedSource(n=8, size=32, seed=1)
    b = EmbeddedSource(n=8, size=32, seed=1)
    c = EmbeddedSource(n=8, size=32, seed=2)
    assert len(a) == 8
    assert all(np.array_equal(x, y) for x, y in zip(a.bank, b.bank, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a.bank, c.bank, strict=True))
    assert all(img.dtype == np.uint8 and img.shape == (32, 32, 3) for img in a.bank)
    assert len({float(img.std()) for img in a.bank}) == 8  # all different textures


def test_embedded_configs_of_older_versions_load_and_true_warns():
    # pseudoanom 0.1 wrote ``sklearn_images`` (and took scikit-learn's photos when True).
    old = {"kind": "embedded", "n": 8, "size": 16, "seed": 1, "sklearn_images": False}
    assert intruders.from_dict(old).to_dict() == {"kind": "embedded", "n": 8, "size": 16, "seed": 1}
    with pytest.warns(UserWarning, match=r"sklearn_images=True\) is ignored"):
        src = intruders.from_dict({**old, "sklearn_images": True})
    assert len(src) == 8 and len(src.bank) == 8


def test_fit_intruder_deterministic_and_shaped():
    img = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    a = fit_intruder(img, (17, 23), 1, np.random.default_rng(3))
    b = fit_intruder(img, (17, 23), 1, np.random.default_rng(3))
    assert a.shape == (17, 23, 1) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert fit_intruder(img[..., :1], (5, 6), 3, np.random.default_rng(0)).shape == (5, 6, 3)
    outs = {fit_intruder(img, (8, 8), 3, np.random.default_rng(s)).tobytes() for s in range(10)}
    assert len(outs) > 5  # crops/flips vary


def test_as_source_and_bad_kinds(tmp_path):
    assert isinstance(intruders.as_source(None), EmbeddedSource)
    assert isinstance(intruders.as_source(write_images(tmp_path / "i")), ImageFolderSource)
    with pytest.raises(pseudoanom.InvalidParameterError, match="known: cifar100"):
        intruders.from_dict({"kind": "flickr"})
    with pytest.raises(TypeError, match="colour"):
        intruders.from_dict({"kind": "embedded", "colour": 1})
    with pytest.raises(TypeError, match="intruders must be"):
        intruders.as_source(42)
