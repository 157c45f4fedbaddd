"""Property-based tests of the patch pseudo anomalies (smoothmix_s/c, cutmix, mixup_patch)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import make_clip
from hypothesis import given, settings
from hypothesis import strategies as st

import pseudoanom
from pseudoanom import masks

PATCHES = ["smoothmix_s", "smoothmix_c", "cutmix", "mixup_patch"]
RANGES = [(-1.0, 1.0), (0.0, 1.0), (0.0, 255.0)]


@st.composite
def cases(draw):
    """A patch transform, a small clip and a seed."""
    name = draw(st.sampled_from(PATCHES))
    t = draw(st.integers(1, 6))
    h = draw(st.integers(4, 40))
    w = draw(st.integers(4, 40))
    c = draw(st.sampled_from([1, 3]))
    dtype = draw(st.sampled_from([np.uint8, np.float32]))
    vr = draw(st.sampled_from(RANGES))
    alpha = draw(st.sampled_from([0.1, 0.5, 1.0]))
    beta = draw(st.sampled_from([0.0, 1.0, 2.5, 10.0]))
    seed = draw(st.integers(0, 2**31))
    clip = make_clip((t, h, w, c), dtype, vr, seed=seed)
    tr = pseudoanom.create(name, alpha=alpha, beta=beta, value_range=vr)
    return tr, clip, seed


@settings(max_examples=60, deadline=None)
@given(cases())
def test_patch_invariants(case):
    tr, clip, seed = case
    before = clip.copy()
    res = tr(clip, rng=seed)
    t, h, w, c = clip.shape
    # shapes, dtypes, label; the input is not modified and is the target
    assert res.clip.shape == clip.shape and res.clip.dtype == clip.dtype
    assert res.target is clip and np.array_equal(clip, before)
    assert res.mask.shape == (t, h, w) and res.mask.dtype == np.float32
    assert res.label == 1
    # mask in [0, 1]; pixels where it is 0 unchanged (exactly)
    assert res.mask.min() >= 0.0 and res.mask.max() <= 1.0
    zero = res.mask == 0
    assert np.array_equal(res.clip[zero], clip[zero])
    # outputs stay in the value range
    if clip.dtype == np.float32:
        lo, hi = tr.value_range
        eps = 1e-5 * (hi - lo)
        assert res.clip.min() >= lo - eps and res.clip.max() <= hi + eps
    # patch size inside its bounds
    (hl, hh), (wl, wh) = tr.size_bounds((h, w))
    ph, pw = res.params["size"]
    assert hl <= ph <= hh and wl <= pw <= wh
    assert hh <= max(1, math.floor(tr.alpha * h)) and (hl >= min(10, hh))
    # per-frame movement within beta, centres inside the frame
    centers = res.params["centers"]
    assert centers.shape == (t, 2)
    assert (centers >= 0).all() and (centers[:, 0] < h).all() and (centers[:, 1] < w).all()
    if t > 1:
        assert np.abs(np.diff(centers, axis=0)).max() <= tr.beta
    if tr.beta == 0:
        assert (centers == centers[0]).all()
    # replay through the pure apply gives the same result
    out2, mask2 = tr.apply(clip, **res.params)
    assert np.array_equal(out2, res.clip) and np.array_equal(mask2, res.mask)


@settings(max_examples=50, deadline=None)
@given(
    name=st.sampled_from(["smoothmix_s", "cutmix", "mixup_patch"]),
    hw=st.tuples(st.integers(24, 48), st.integers(24, 48)),
    beta=st.sampled_from([0.0, 3.0]),
    seed=st.integers(0, 2**31),
)
def test_box_matches_size_and_centre(name, hw, beta, seed):
    """Where the patch is fully inside the frame, the full-weight box is exactly size h x w."""
    clip = make_clip((4, *hw, 1), np.uint8, seed=seed)
    tr = pseudoanom.create(name, beta=beta)
    res = tr(clip, rng=seed)
    ph, pw = res.params["size"]
    top = tr.blend
    for t_idx, (cy, cx) in enumerate(res.params["centers"]):
        y0, x0 = cy - ph // 2, cx - pw // 2
        if y0 < 0 or x0 < 0 or y0 + ph > hw[0] or x0 + pw > hw[1]:
            continue
        full = res.mask[t_idx] == np.float32(top)
        rows, cols = np.nonzero(full)
        assert (rows.min(), rows.max(), cols.min(), cols.max()) == (
            y0,
            y0 + ph - 1,
            x0,
            x0 + pw - 1,
        )
        if name == "smoothmix_s":  # ramp reaches at most 10 % of the half-size past the box
            rows, cols = np.nonzero(res.mask[t_idx])
            ry, rx = math.ceil(0.1 * ph / 2), math.ceil(0.1 * pw / 2)
            assert rows.min() >= y0 - ry and rows.max() <= y0 + ph - 1 + ry
            assert cols.min() >= x0 - rx and cols.max() <= x0 + pw - 1 + rx
        else:  # hard-edged: nothing outside the box
            assert np.count_nonzero(res.mask[t_idx]) == ph * pw


def test_cutmix_pastes_intruder_and_mixup_halves_it():
    clip = np.full((2, 40, 40, 1), 100, np.uint8)
    cut = pseudoanom.create("cutmix", beta=0, content="object")
    res = cut(clip, rng=3)
    ph, pw = res.params["size"]
    ys, xs, fys, fxs = masks.paste_window(
        tuple(res.params["centers"][0]), (ph // 2, pw // 2), (ph, pw), (40, 40)
    )
    intr = res.params["intruder"][fys, fxs, 0]
    assert np.array_equal(res.clip[0, ys, xs, 0], intr)
    assert np.count_nonzero(res.mask[0]) == intr.size
    mix = pseudoanom.create("mixup_patch", beta=0, content="object")
    out, mask = mix.apply(clip, **res.params)
    assert set(np.unique(mask)) == {0.0, 0.5}
    want = np.round(0.5 * intr.astype(float) + 50)
    assert np.abs(out[0, ys, xs, 0] - want).max() <= 1


def test_smoothmix_square_ramp_is_linear():
    m, (oy, ox) = masks.smoothmix_square(40, 100)  # ramp: 0.1 * 50 = 5 px horizontally
    row = m[oy]
    assert np.allclose(row[:4], [0.2, 0.4, 0.6, 0.8]) and row[4:104].min() == 1.0
    assert m.shape == (40 + 2 * 1, 100 + 2 * 4)
    assert np.allclose(m, np.outer(m[:, ox], m[oy]))  # separable


def test_smoothmix_circle_is_gaussian():
    m, (oy, ox) = masks.smoothmix_circle(5.0, 8.0, (1000, 1000))
    assert m[oy, ox] == 1.0
    assert np.isclose(m[oy, ox + 8], math.exp(-0.5), rtol=1e-5)
    assert np.isclose(m[oy + 5, ox], math.exp(-0.5), rtol=1e-5)
    assert m[0].max() < 1 / 255 and m[:, 0].max() < 1 / 255  # smooth cut
    small, _ = masks.smoothmix_circle(50.0, 50.0, (9, 9))
    assert small.shape == (19, 19)  # capped at the frame


def test_patch_moves_with_content():
    """content="object", beta > 0: the content travels with the patch (same pixels, shifted)."""
    clip = np.zeros((6, 64, 64, 1), np.uint8)
    tr = pseudoanom.create("cutmix", beta=4, alpha=0.3, content="object")
    res = tr(clip, rng=7)
    (cy0, cx0), (cy1, cx1) = res.params["centers"][0], res.params["centers"][1]
    ph, pw = res.params["size"]
    a = res.clip[0, cy0 - ph // 2 : cy0 - ph // 2 + ph, cx0 - pw // 2 : cx0 - pw // 2 + pw]
    b = res.clip[1, cy1 - ph // 2 : cy1 - ph // 2 + ph, cx1 - pw // 2 : cx1 - pw // 2 + pw]
    if a.shape == b.shape == (ph, pw, 1):
        assert np.array_equal(a, b)


def test_no_global_random_state(clip):
    np.random.seed(0)  # noqa: NPY002 - the legacy global state is what is being checked
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    pseudoanom.create("smoothmix_s")(clip, rng=1)
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_batch(dtype):
    batch = make_clip((3, 4, 24, 24, 1), dtype)
    res = pseudoanom.create("smoothmix_s")(batch, rng=5)
    assert res.clip.shape == batch.shape and res.clip.dtype == dtype
    assert res.mask.shape == (3, 4, 24, 24)
    assert res.label.dtype == np.int8 and res.label.tolist() == [1, 1, 1]
    assert isinstance(res.params, list) and len(res.params) == 3
    rng = np.random.default_rng(5)
    tr = pseudoanom.create("smoothmix_s")
    singles = [tr(b, rng=rng) for b in batch]
    assert all(np.array_equal(s.clip, res.clip[i]) for i, s in enumerate(singles))


def test_from_video_patch(clip):
    video = make_clip((20, 16, 16, 1))
    res = pseudoanom.create("cutmix").from_video(video, 5, 8, rng=0)
    assert np.shares_memory(res.target, video) and np.array_equal(res.target, video[5:13])


def test_video_intruder_changes_per_frame(tmp_path):
    import cv2

    for v in range(2):
        d = tmp_path / f"{v:02d}"
        d.mkdir()
        for f in range(6):
            cv2.imwrite(str(d / f"{f:03d}.png"), np.full((20, 20, 3), 40 * f + v, np.uint8))
    src = pseudoanom.VideoFramesSource(tmp_path)
    tr = pseudoanom.create("cutmix", intruders=src, beta=0)
    res = tr(np.zeros((5, 32, 32, 1), np.uint8), rng=1)
    intr = res.params["intruder"]
    assert intr.shape[0] == 5
    means = intr.reshape(5, -1).mean(axis=1)
    assert np.all(np.diff(means) > 30)  # consecutive frames: +40 grey levels each


@pytest.mark.parametrize("name", ["cutmix", "mixup_patch"])
@pytest.mark.parametrize("value_range", [(-1.0, 1.0), (0.0, 255.0)])
@pytest.mark.parametrize("shape", [(6, 40, 30, 1), (4, 24, 36, 3)])
def test_constant_weight_boxes_match_the_general_blend(monkeypatch, name, value_range, shape):
    """cutmix / mixup_patch skip the weight array (cutmix copies the intruder into its box):
    bit for bit what the general ``dst * (1 - w) + w * src`` blend gives, -0.0 pixels included."""
    from pseudoanom.transforms import functional

    clip = make_clip(shape, value_range=value_range, seed=4)
    r = np.random.default_rng(5)
    clip[r.random(shape) < 0.2] = -0.0
    clip[r.random(shape) < 0.1] = 0.0
    tr = pseudoanom.create(name, alpha=0.9, beta=6.0, value_range=value_range)
    fast = [tr(clip, rng=s) for s in range(8)]
    monkeypatch.setattr(functional, "constant_weight", lambda *args: None)
    for s, res in enumerate(fast):
        ref = tr(clip, rng=s)
        assert res.clip.tobytes() == ref.clip.tobytes()
        assert res.mask.tobytes() == ref.mask.tobytes()


def test_content_defaults_are_the_papers():
    for name in PATCHES:
        tr = pseudoanom.create(name)
        assert (tr.content, tr.crop_scale, tr.hflip) == ("window", (1.0, 1.0), False)
        obj = pseudoanom.create(name, content="object")
        assert (obj.crop_scale, obj.hflip) == ((0.5, 1.0), True)
        back = pseudoanom.from_dict(obj.to_dict())
        assert back.to_dict() == obj.to_dict() and back.content == "object"
    with pytest.raises(pseudoanom.InvalidParameterError, match="content must be one of"):
        pseudoanom.create("smoothmix_s", content="moving")


@pytest.mark.parametrize("name", PATCHES)
@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
@pytest.mark.parametrize("shape", [(6, 48, 40, 1), (4, 32, 48, 3), (3, 64, 64, 1)])
def test_window_content_is_the_frame_sized_intruder_under_the_mask(name, dtype, shape):
    """content="window": out = clip * (1 - m) + m * I, I the intruder stretched to the frame."""
    from pseudoanom.intruders import frame_content

    clip = make_clip(shape, dtype, (-1.0, 1.0), seed=5)
    rng = np.random.default_rng(11)
    for alpha, beta in [(0.5, 10.0), (0.9, 30.0), (0.3, 0.0)]:
        tr = pseudoanom.create(name, alpha=alpha, beta=beta)
        for _ in range(4):
            res = tr(clip, rng=rng)
            m = res.mask[..., None].astype(np.float64)
            intr = res.params["intruder"]
            assert intr.dtype == np.uint8 and intr.shape[-1] == shape[-1]
            if dtype == np.float32:
                pic = frame_content(intr, shape[1:3], (-1.0, 1.0))
                want = clip * (1 - m) + m * pic
                assert np.abs(res.clip - want).max() < 1e-5
            else:
                pic = np.rint(frame_content(intr, shape[1:3], None))
                want = clip * (1 - m) + m * pic
                assert np.abs(res.clip - want).max() <= 1.0  # rounding to uint8
            out, mask = tr.apply(clip, **res.params)  # replay
            assert np.array_equal(out, res.clip) and np.array_equal(mask, res.mask)


def test_frame_content_is_the_authors_interpolation():
    """The stretched intruder equals F.interpolate(bilinear, align_corners=True) of [-1, 1]."""
    torch = pytest.importorskip("torch")
    from pseudoanom.intruders import frame_content

    rng = np.random.default_rng(0)
    for hw_in, hw in [((32, 32), (256, 256)), ((32, 32), (64, 64)), ((75, 50), (64, 48))]:
        img = rng.integers(0, 256, (*hw_in, 1), dtype=np.uint8)
        ref = torch.from_numpy(img[..., 0].astype(np.float32) / 255.0)
        ref = torch.nn.functional.interpolate(
            ((ref - 0.5) / 0.5)[None, None], size=hw, mode="bilinear", align_corners=True
        )[0, 0].numpy()
        ours = frame_content(img, hw, (-1.0, 1.0))
        assert np.abs(ours[..., 0] - ref).max() < 1e-4
        part = frame_content(img, hw, (-1.0, 1.0), rows=(3, hw[0] - 2), cols=(5, 9))
        assert np.array_equal(part, ours[3 : hw[0] - 2, 5:9])


def test_window_slides_over_a_picture_that_stays_put():
    """content="window", beta > 0: a pixel covered in two frames shows the same intruder value
    (the picture does not move); content="object" shifts the content with the centre."""
    clip = np.zeros((8, 64, 64, 1), np.float32)
    tr = pseudoanom.create("cutmix", alpha=0.4, beta=6)
    res = tr(clip, rng=2)
    covered = res.mask == 1.0
    both = covered[0] & covered[1]
    assert both.any() and (res.params["centers"][0] != res.params["centers"][1]).any()
    assert np.array_equal(res.clip[0][both], res.clip[1][both])
