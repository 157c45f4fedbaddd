"""The optional ``intruder_transform`` plug point: any albumentations transform on intruders."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_clip

import pseudoanom

A = pytest.importorskip("albumentations")

PATCHES = ["smoothmix_s", "smoothmix_c", "cutmix", "mixup_patch"]


def _jitter_rotate():
    return A.Compose([A.ColorJitter(p=1), A.Rotate(limit=30, p=1)])


def _flat_folder(tmp_path: Path, value: int) -> Path:
    """An intruder folder holding one flat grey image of ``value``."""
    d = tmp_path / "flat"
    d.mkdir()
    cv2.imwrite(str(d / "a.png"), np.full((24, 24, 3), value, np.uint8))
    return d


@pytest.mark.parametrize("name", PATCHES)
def test_same_seed_same_output_different_seed_differs(name):
    clip = make_clip((4, 48, 48, 3), np.uint8)
    tr = pseudoanom.create(name, beta=3, intruder_transform=_jitter_rotate())
    a, b, c = tr(clip, rng=7), tr(clip, rng=7), tr(clip, rng=8)
    assert np.array_equal(a.clip, b.clip) and np.array_equal(a.mask, b.mask)
    assert np.array_equal(a.params["intruder"], b.params["intruder"])
    assert not np.array_equal(a.params["intruder"], c.params["intruder"])
    out, mask = tr.apply(clip, **a.params)  # the params replay without the transform
    assert np.array_equal(out, a.clip) and np.array_equal(mask, a.mask)


def test_augmentation_draws_come_from_the_seed():
    """One fixed image, no crop/flip: all variety between seeds comes from the augmentation."""
    img = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    src = pseudoanom.EmbeddedSource(n=1)
    src._bank = [img]
    kw = {"intruders": src, "crop_scale": (1, 1), "hflip": False, "beta": 0, "alpha": 0.3}
    clip = np.zeros((2, 64, 64, 3), np.uint8)
    # Same size for every seed (alpha * 64 < min_size), so the intruders are comparable.
    tr = pseudoanom.create("cutmix", min_size=19, **kw)
    tr_aug = pseudoanom.create("cutmix", min_size=19, intruder_transform=_jitter_rotate(), **kw)
    plain = [tr(clip, rng=s).params["intruder"] for s in range(3)]
    aug = [tr_aug(clip, rng=s).params["intruder"] for s in range(3)]
    assert len({p.tobytes() for p in plain}) == 1
    assert len({a.tobytes() for a in aug}) == 3
    assert np.array_equal(aug[1], tr_aug(clip, rng=1).params["intruder"])


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_invert_is_really_applied(tmp_path, dtype):
    folder = _flat_folder(tmp_path, 40)
    clip = make_clip((3, 40, 40, 1), dtype)
    kw = {"intruders": folder, "beta": 0}
    plain = pseudoanom.create("cutmix", **kw)(clip, rng=1)
    inv = pseudoanom.create("cutmix", intruder_transform=A.InvertImg(p=1), **kw)(clip, rng=1)
    assert np.all(plain.params["intruder"] == 40)
    assert np.all(inv.params["intruder"] == 255 - 40)
    inside = inv.mask == 1.0
    assert inside.any()
    want = 215 if dtype == np.uint8 else np.float32(215 * (2.0 / 255.0) - 1.0)
    assert np.allclose(inv.clip[..., 0][inside], want, atol=1e-6)


def test_dict_and_yaml_round_trip(tmp_path):
    tr = pseudoanom.create("smoothmix_s", beta=5, intruder_transform=_jitter_rotate())
    d = tr.to_dict()
    assert d["params"]["intruder_transform"]["transform"]["__class_fullname__"] == "Compose"
    back = pseudoanom.from_dict(d)
    assert isinstance(back.intruder_transform, A.Compose)
    assert back.to_dict() == d
    clip = make_clip((4, 32, 32, 1))
    assert np.array_equal(back(clip, rng=3).clip, tr(clip, rng=3).clip)

    pipe = pseudoanom.Pipeline([tr, "skip_frame"], weights=[2, 1], p=0.5)
    path = tmp_path / "pipe.yaml"
    text = pipe.to_yaml(path)
    assert "ColorJitter" in text and "Rotate" in text
    pipe2 = pseudoanom.Pipeline.from_yaml(path)
    assert pipe2.to_dict() == pipe.to_dict()
    video = make_clip((40, 32, 32, 1))
    for seed in range(4):
        r1 = pipe.from_video(video, 3, 8, rng=seed)
        r2 = pipe2.from_video(video, 3, 8, rng=seed)
        assert np.array_equal(r1.clip, r2.clip) and np.array_equal(r1.mask, r2.mask)


def test_without_the_parameter_the_dict_is_unchanged():
    d = pseudoanom.create("cutmix").to_dict()
    assert "intruder_transform" not in d["params"]
    assert pseudoanom.from_dict(d).intruder_transform is None


@pytest.mark.parametrize("bad", [object(), "Rotate", lambda img: img, 3])
def test_non_albumentations_object_is_a_type_error(bad):
    with pytest.raises(TypeError, match="intruder_transform must be an albumentations"):
        pseudoanom.create("smoothmix_s", intruder_transform=bad)


def test_bad_dict_and_float_output():
    with pytest.raises(pseudoanom.InvalidParameterError, match="intruder_transform dict"):
        pseudoanom.create("cutmix", intruder_transform={"transform": {"x": 1}})
    tr = pseudoanom.create("cutmix", intruder_transform=A.Normalize(p=1))
    with pytest.raises(pseudoanom.InvalidParameterError, match="uint8"):
        tr(make_clip((2, 32, 32, 1), np.uint8), rng=0)


def test_same_seed_same_output_across_threads():
    clip = make_clip((4, 32, 32, 3), np.uint8)
    tr = pseudoanom.create("smoothmix_s", beta=4, intruder_transform=_jitter_rotate())

    def run(seed):
        rng = np.random.default_rng(seed)
        return [tr(clip, rng=rng).clip for _ in range(6)]

    ref = run(0)
    out: dict[int, list[np.ndarray]] = {}
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, run(0))) for i in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for i in range(3):
        assert all(np.array_equal(a, b) for a, b in zip(ref, out[i], strict=True))


def test_video_intruder_gets_the_same_augmentation_per_frame(tmp_path):
    d = tmp_path / "00"
    d.mkdir()
    for f in range(4):
        cv2.imwrite(str(d / f"{f:03d}.png"), np.full((20, 20, 3), 100, np.uint8))
    src = pseudoanom.VideoFramesSource(tmp_path)
    tr = pseudoanom.create("cutmix", intruders=src, beta=0, intruder_transform=_jitter_rotate())
    intr = tr(np.zeros((4, 32, 32, 3), np.uint8), rng=2).params["intruder"]
    assert intr.shape[0] == 4
    assert all(np.array_equal(intr[0], intr[i]) for i in range(1, 4))  # same frames, same aug


def test_import_stays_light():
    code = (
        "import sys, pseudoanom; pseudoanom.create('smoothmix_s'); "
        "print('albumentations' in sys.modules)"
    )
    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "False"
