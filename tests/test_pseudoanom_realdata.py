"""Real UCSD Ped2 frames with real intruder images (skipped when the datasets are absent)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import pseudoanom
from pseudoanom.__main__ import main
from pseudoanom.preview import load_frames

pytestmark = pytest.mark.realdata


def test_ped2_with_cifar_and_ped2_intruders(shared_datasets, tmp_path):
    frames = shared_datasets / "ped2" / "training" / "frames"
    cifar = shared_datasets / "intruders" / "cifar100"
    if not frames.is_dir() or not cifar.is_dir():
        pytest.skip("Ped2 frames or CIFAR-100 intruders missing")
    video = load_frames(frames / "01", (64, 64), 1, count=80)
    assert video.shape == (80, 64, 64, 1) and video.dtype == np.uint8
    floats = (video / 127.5 - 1.0).astype(np.float32)
    sources = [
        pseudoanom.ImageFolderSource(cifar),
        pseudoanom.VideoFramesSource(frames, cache_size=64),  # "Ped2 as intruder"
    ]
    rng = np.random.default_rng(0)
    for src in sources:
        for name in ("smoothmix_s", "smoothmix_c", "cutmix", "mixup_patch"):
            t = pseudoanom.create(name, intruders=src)
            for v in (video, floats):
                res = t.from_video(v, 10, 16, rng=rng)
                zero = res.mask == 0
                assert np.array_equal(res.clip[zero], res.target[zero])
                assert (res.mask > 0).any()
    pipe = pseudoanom.Pipeline(
        [pseudoanom.create("smoothmix_s", intruders=sources[0]), "skip_frame"], p=0.5
    )
    labels = [pipe.from_video(floats, 0, 16, rng=rng).label for _ in range(40)]
    assert 0 < sum(labels) < 40

    out = tmp_path / "grid.png"
    args = ["preview", "--frames", str(frames / "01"), "--intruders", str(cifar)]
    assert main([*args, "--out", str(out), "--seed", "1", "--size", "64", "--tile", "48"]) == 0
    grid = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    rows = 1 + len(pseudoanom.available())  # the normal clip, then every registered transform
    assert grid is not None and grid.shape[0] == 22 + rows * 48


def test_window_content_is_smoother_than_object_content(shared_datasets):
    """CIFAR-100 (32x32) stretched over a 256x256 frame (the paper's window) is a smooth blob;
    a crop resized to the patch (our "object" variant) is sharper. Mean |gradient| in grey
    levels per pixel of the content under the patch."""
    cifar = shared_datasets / "intruders" / "cifar100"
    if not cifar.is_dir():
        pytest.skip("CIFAR-100 intruders missing")
    src = pseudoanom.ImageFolderSource(cifar)
    clip = np.zeros((2, 256, 256, 1), np.float32)
    grads = {}
    for content in ("window", "object"):
        tr = pseudoanom.create("cutmix", intruders=src, beta=0, content=content)
        rng = np.random.default_rng(0)
        vals = []
        for _ in range(40):
            res = tr(clip, rng=rng)
            inside = res.mask[0] == 1
            img = (res.clip[0, ..., 0] + 1) * 127.5
            gy, gx = np.abs(np.diff(img, axis=0)), np.abs(np.diff(img, axis=1))
            both = inside[1:, :-1] & inside[:-1, :-1] & inside[:-1, 1:]
            vals.append(0.5 * (gy[:, :-1][both].mean() + gx[:-1][both].mean()))
        grads[content] = float(np.mean(vals))
    assert grads["window"] < 0.6 * grads["object"], grads
