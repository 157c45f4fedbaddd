"""Tests of the skip-frame pseudo anomaly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pseudoanom


def indexed_video(k: int, dtype=np.uint8) -> np.ndarray:
    """Video whose frame k is filled with k (so frame indices can be read back)."""
    v = np.broadcast_to(np.arange(k).reshape(k, 1, 1, 1), (k, 4, 5, 1))
    if dtype == np.float32:
        return (v / 127.5 - 1.0).astype(np.float32)
    return v.astype(np.uint8).copy()


@settings(max_examples=80, deadline=None)
@given(
    k=st.integers(2, 100),
    t=st.integers(2, 16),
    steps=st.lists(st.integers(2, 6), min_size=1, max_size=4),
    start_frac=st.floats(0, 1),
    seed=st.integers(0, 2**31),
)
def test_skip_frame_indices(k, t, steps, start_frac, seed):
    if t > k:
        return
    video = indexed_video(k)
    start = int(start_frac * (k - t))
    tr = pseudoanom.create("skip_frame", steps=steps)
    smallest = min(steps)
    if (t - 1) * smallest + 1 > k:
        with pytest.raises(pseudoanom.InvalidClipError, match=rf"K={k}.*T={t}.*s={smallest}"):
            tr.from_video(video, start, t, rng=seed)
        return
    res = tr.from_video(video, start, t, rng=seed)
    n, s = res.params["start"], res.params["step"]
    idx = res.clip[:, 0, 0, 0].astype(int)
    assert s in steps and res.params["length"] == t
    assert idx.tolist() == [n + i * s for i in range(t)]  # exactly n + t*s
    assert res.target[:, 0, 0, 0].astype(int).tolist() == list(range(n, n + t))  # n + t
    assert len(set(idx.tolist())) == t and idx.max() <= k - 1  # never repeats, never overruns
    if n != start:  # the start only moves when the drawn step does not fit after it
        assert start + (t - 1) * s > k - 1
    assert (t - 1) * s + 1 <= k  # only steps that fit somewhere are drawn
    assert res.mask.shape == (t, 4, 5) and res.mask.dtype == np.float32
    assert (res.mask[0] == 0).all() and (res.mask[1:] == 1).all()
    assert res.label == 1


def test_skip_frame_keeps_the_step_and_moves_the_start():
    video = indexed_video(60)
    tr = pseudoanom.create("skip_frame", steps=(2, 5))
    seen = set()
    for seed in range(60):
        # At start 30, s=5 needs frame 75: the step is kept and the start moves instead.
        res = tr.from_video(video, 30, 10, rng=seed)
        n, s = res.params["start"], res.params["step"]
        assert n + 9 * s <= 59
        assert n == 30 if s == 2 else 0 <= n <= 59 - 45
        seen.add(s)
    assert seen == {2, 5}


def test_skip_frame_never_draws_a_step_that_fits_nowhere():
    video = indexed_video(40)  # T=10: s=5 needs 46 frames
    tr = pseudoanom.create("skip_frame", steps=(2, 3, 5))
    got = {tr.from_video(video, 0, 10, rng=s).params["step"] for s in range(60)}
    assert got == {2, 3}


# Frames per video of the UCSD Ped2 training set.
PED2_TRAIN_LENGTHS = (
    120,
    150,
    150,
    180,
    180,
    150,
    150,
    120,
    180,
    180,
    180,
    180,
    180,
    150,
    150,
    150,
)


def test_skip_frame_step_is_uniform_on_ped2_like_videos():
    """Starts as the trainer draws them (every clip start of every video, uniformly): s must
    be uniform over (2, 3, 4, 5). A fallback to smaller steps gave about .33/.28/.22/.17."""
    tr = pseudoanom.create("skip_frame")
    t = 16
    starts = [(k, n) for k in PED2_TRAIN_LENGTHS for n in range(k - t + 1)]
    rng = np.random.default_rng(0)
    draws = 20000
    counts = dict.fromkeys(tr.steps, 0)
    moved = 0
    for i in rng.integers(len(starts), size=draws):
        k, n = starts[i]
        params = tr.sample_params((k, 4, 4, 1), rng, start=n, length=t)
        counts[params["step"]] += 1
        moved += params["start"] != n
        assert params["start"] + (t - 1) * params["step"] <= k - 1
    freq = {s: c / draws for s, c in counts.items()}
    # binomial sd at p = .25 over 20000 draws is 0.003: 0.015 is 5 sd
    assert all(abs(f - 0.25) < 0.015 for f in freq.values()), freq
    assert 0.15 < moved / draws < 0.4  # the draws that did not fit after n moved their start


def test_skip_frame_draws_every_step():
    video = indexed_video(200)
    tr = pseudoanom.create("skip_frame")
    got = {tr.from_video(video, 0, 16, rng=s).params["step"] for s in range(60)}
    assert got == {2, 3, 4, 5}


def test_skip_frame_replay_and_float():
    video = indexed_video(64, np.float32)
    tr = pseudoanom.create("skip_frame")
    res = tr.from_video(video, 3, 16, rng=1)
    clip, mask = tr.apply(video, **res.params)
    assert np.array_equal(clip, res.clip) and np.array_equal(mask, res.mask)
    assert res.clip.dtype == np.float32


def test_skip_frame_needs_video(clip):
    with pytest.raises(ValueError, match="from_video"):
        pseudoanom.create("skip_frame")(clip, rng=0)


def test_skip_frame_bad_steps():
    with pytest.raises(pseudoanom.InvalidParameterError, match="steps"):
        pseudoanom.create("skip_frame", steps=(1, 2))
    with pytest.raises(pseudoanom.InvalidParameterError, match="steps"):
        pseudoanom.create("skip_frame", steps=())
