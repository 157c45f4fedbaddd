"""The result object: masks built lazily on first read, equal to the eager ``apply`` masks."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import numpy as np
import pytest
from conftest import make_clip

import pseudoanom
from pseudoanom.result import LazyMask, mask_source

PATCHES = ["smoothmix_s", "smoothmix_c", "cutmix", "mixup_patch"]


@pytest.mark.parametrize("name", PATCHES)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_mask_is_built_on_first_read_and_kept(name, dtype):
    clip = make_clip((6, 40, 48, 1), dtype)
    tr = pseudoanom.create(name, alpha=0.5, beta=4.0)
    for seed in range(8):
        res = tr(clip, rng=seed)
        assert isinstance(mask_source(res), LazyMask)  # nothing built yet
        _, eager = tr.apply(clip, **res.params)
        mask = res.mask
        assert mask.dtype == np.float32 and mask.shape == (6, 40, 48) and mask.flags.writeable
        assert np.array_equal(mask, eager) and mask.tobytes() == eager.tobytes()
        assert res.mask is mask and mask_source(res) is mask


def test_mask_survives_pickle_copy_and_replace():
    clip = make_clip((4, 32, 32, 3), np.float32)
    tr = pseudoanom.create("smoothmix_s")
    res = tr(clip, rng=3)
    _, eager = tr.apply(clip, **res.params)
    for other in (pickle.loads(pickle.dumps(res)), copy.deepcopy(res), copy.copy(res)):
        assert np.array_equal(other.mask, eager) and np.array_equal(other.clip, res.clip)
    assert np.array_equal(dataclasses.replace(res, label=0).mask, eager)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.mask = eager  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(res)] == [
        "clip",
        "target",
        "mask",
        "label",
        "params",
    ]
    # A result built by hand with a plain array keeps that array.
    plain = pseudoanom.PseudoAnomaly(clip, clip, eager, 1, {})
    assert plain.mask is eager


def test_batch_mask_equals_per_item_masks():
    batch = make_clip((3, 5, 30, 36, 1), np.float32)
    tr = pseudoanom.create("smoothmix_c", alpha=1.0, beta=10.0)
    res = tr(batch, rng=7)
    assert isinstance(mask_source(res), LazyMask)
    want = np.stack([tr.apply(c, **p)[1] for c, p in zip(batch, res.params, strict=True)])
    assert res.mask.shape == (3, 5, 30, 36) and np.array_equal(res.mask, want)


def test_pipeline_batch_mixes_lazy_and_zero_masks():
    batch = make_clip((6, 4, 24, 24, 1), np.uint8)
    pipe = pseudoanom.Pipeline(["cutmix", "mixup_patch"], p=0.5)
    res = pipe(batch, rng=2)
    assert 0 < int(res.label.sum()) < 6
    for b, p in enumerate(res.params):
        if p["transform"] is None:
            assert not res.mask[b].any()
        else:
            t = pipe.transforms[p["index"]]
            assert np.array_equal(res.mask[b], t.apply(batch[b], **p["params"])[1])


def test_skip_frame_mask_is_lazy():
    video = make_clip((40, 12, 10, 1), np.float32)
    tr = pseudoanom.create("skip_frame")
    res = tr.from_video(video, 3, 8, rng=1)
    assert isinstance(mask_source(res), LazyMask)
    assert np.array_equal(res.mask, tr.apply(video, **res.params)[1])
    assert (res.mask[0] == 0).all() and (res.mask[1:] == 1).all()


def test_subclass_apply_is_still_used():
    class Flipped(pseudoanom.CutMix):
        def apply(self, clip, size, centers, intruder):
            out, mask = super().apply(clip, size, centers, intruder)
            return out[:, ::-1].copy(), mask[:, ::-1].copy()

    clip = make_clip((4, 20, 20, 1), np.uint8)
    tr = Flipped()
    res = tr(clip, rng=0)
    out, mask = tr.apply(clip, **res.params)
    assert np.array_equal(res.clip, out) and np.array_equal(res.mask, mask)


def test_lazy_mask_pieces():
    window = np.full((2, 2), 0.5, np.float32)
    m = LazyMask((2, 3, 4), 0.0, [((1, slice(0, 2), slice(1, 3)), window)])
    want = np.zeros((2, 3, 4), np.float32)
    want[1, :2, 1:3] = 0.5
    assert np.array_equal(m.build(), want)
    stacked = LazyMask((2, 2, 3, 4), None, [(0, m), (1, np.ones((2, 3, 4), np.float32))])
    assert np.array_equal(stacked.build(), np.stack([want, np.ones_like(want)]))
    assert pickle.loads(pickle.dumps(stacked)).build().tobytes() == stacked.build().tobytes()
