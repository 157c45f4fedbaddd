"""The transforms beyond the paper: ``reverse``, ``freeze`` and ``noise_patch``.

Their contract (seeds, replay, masks, copies) is checked with every registered transform in
tests/test_transform_contract.py and their outputs are in tests/data/pseudoanom_digests.json;
here: what each one does, and its parameter checks.
"""

from __future__ import annotations

import numpy as np
import pytest

import pseudoanom
from pseudoanom.transforms.patches import smooth_noise


def frames(t: int = 10) -> np.ndarray:
    """A clip whose frame i is filled with the value 10 * i (uint8), so order is visible."""
    return (np.arange(t, dtype=np.uint8) * 10)[:, None, None, None] * np.ones(
        (1, 6, 8, 1), np.uint8
    )


def order(clip: np.ndarray) -> list[int]:
    return [int(f[0, 0, 0]) // 10 for f in clip]


def frame_mask(res) -> list[float]:
    mask = np.asarray(res.mask)
    assert all(np.all(m == m.flat[0]) for m in mask)  # per frame: constant over the pixels
    return [float(m.flat[0]) for m in mask]


def test_reverse_plays_the_clip_backward():
    res = pseudoanom.create("reverse")(frames(), rng=0)
    assert order(res.clip) == list(range(9, -1, -1)) and res.params == {"start": 0, "stop": 10}
    assert frame_mask(res) == [1.0] * 10
    odd = pseudoanom.create("reverse")(frames(5), rng=0)
    assert frame_mask(odd) == [1, 1, 0, 1, 1]  # the middle frame stays in place


def test_reverse_segment_reverses_one_run_and_keeps_the_rest():
    t = pseudoanom.create("reverse", segment=True, min_frames=4)
    for seed in range(20):
        res = t(frames(), rng=seed)
        a, b = res.params["start"], res.params["stop"]
        assert b - a >= 4
        want = list(range(a)) + list(range(b - 1, a - 1, -1)) + list(range(b, 10))
        assert order(res.clip) == want
        assert frame_mask(res) == [float(w != i) for i, w in enumerate(want)]


def test_freeze_holds_one_frame_then_resumes_late():
    t = pseudoanom.create("freeze", hold=(3, 3))
    res = t(frames(), rng=4)
    i, k = res.params["frame"], res.params["hold"]
    assert k == 3
    want = list(range(i + 1)) + [i] * (k - 1) + list(range(i + 1, 10 - (k - 1)))
    assert order(res.clip) == want
    assert frame_mask(res) == [0.0] * (i + 1) + [1.0] * (10 - i - 1)
    short = pseudoanom.create("freeze")(frames(3), rng=0)  # hold capped at T
    assert short.params["hold"] <= 3
    with pytest.raises(pseudoanom.InvalidClipError, match="at least 2 frames"):
        pseudoanom.create("freeze")(frames(1), rng=0)


def test_temporal_ones_work_from_a_video_too():
    video = frames(20)
    for name in ("reverse", "freeze"):
        res = pseudoanom.create(name).from_video(video, 5, 8, rng=1)
        assert order(res.target) == list(range(5, 13))
        assert sorted(set(order(res.clip))) <= list(range(5, 13))


def test_noise_patch_blends_noise_in_a_smoothmix_square_that_moves():
    clip = np.full((6, 128, 128, 1), 128, np.uint8)
    noise = pseudoanom.create("noise_patch", beta=5)
    square = pseudoanom.create("smoothmix_s", beta=5, content="object")
    a, b = noise(clip, rng=3), square(clip, rng=3)
    # Same draws of size and walk: the same mask as smoothmix_s (per pixel, soft edges).
    assert np.array_equal(np.asarray(a.mask), np.asarray(b.mask))
    assert a.params["size"] == b.params["size"]
    assert np.array_equal(a.params["centers"], b.params["centers"])
    assert len(np.unique(np.asarray(a.mask))) > 2
    inside = np.asarray(a.mask) == 1
    assert inside.any() and a.clip[inside].std() > 5  # noise, not a flat fill
    assert "intruders" not in a.params and "intruders" not in noise.to_dict()["params"]


def test_smooth_noise_is_seeded_spans_the_range_and_is_smooth():
    a = smooth_noise(np.random.default_rng(0), 64, 4)
    assert a.dtype == np.uint8 and a.shape == (64, 64, 3)
    assert np.array_equal(a, smooth_noise(np.random.default_rng(0), 64, 4))
    assert a.min() == 0 and a.max() == 255
    step = np.abs(np.diff(a.astype(int), axis=0)).mean()
    white = np.random.default_rng(0).integers(0, 256, (64, 64, 3))
    assert step < np.abs(np.diff(white, axis=0)).mean() / 10


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("reverse", {"segment": "yes"}, "segment must be True or False"),
        ("reverse", {"min_frames": 1}, "min_frames must be >= 2"),
        ("freeze", {"hold": (1, 3)}, "hold"),
        ("freeze", {"hold": (5, 3)}, "lo <= hi"),
        ("freeze", {"hold": 4}, "pair"),
        ("freeze", {"hold": "ab"}, "hold"),
        ("noise_patch", {"octaves": 0}, "octaves must be >= 1"),
        ("noise_patch", {"octaves": 7}, "octaves must be in 1..6"),
        ("noise_patch", {"noise_size": 4}, "noise_size must be >= 8"),
        ("noise_patch", {"alpha": 0}, "alpha"),
        ("noise_patch", {"beta": -1}, "beta"),
    ],
)
def test_bad_parameters_are_named(name, params, match):
    with pytest.raises(pseudoanom.InvalidParameterError, match=match):
        pseudoanom.create(name, **params)


def test_replay_rejects_impossible_parameters():
    clip = frames()
    with pytest.raises(pseudoanom.InvalidParameterError, match="start <= stop"):
        pseudoanom.create("reverse").apply(clip, start=3, stop=12)
    with pytest.raises(pseudoanom.InvalidParameterError, match="frame < T"):
        pseudoanom.create("freeze").apply(clip, frame=10, hold=2)
