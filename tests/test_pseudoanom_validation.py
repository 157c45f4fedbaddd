"""Bad input: every case raises a clear pseudoanom error naming the problem."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_clip

import pseudoanom
from pseudoanom import validation

E = pseudoanom


@pytest.mark.parametrize(
    "bad, exc, match",
    [
        (np.zeros((8, 16, 16), np.uint8), E.InvalidClipError, r"\(T, H, W, C\).*\(8, 16, 16\)"),
        (np.zeros((1, 2, 8, 16, 16, 1), np.uint8), E.InvalidClipError, "got shape"),
        (np.zeros((8, 16, 16, 2), np.uint8), E.InvalidClipError, "1 or 3 channels"),
        (np.zeros((0, 16, 16, 1), np.uint8), E.InvalidClipError, r"no frames \(T = 0"),
        (np.zeros((8, 0, 16, 1), np.uint8), E.InvalidClipError, r"empty axis \(H = 0"),
        (np.zeros((8, 16, 16, 1), np.float64), TypeError, "float64"),
        (np.zeros((8, 16, 16, 1), np.int16), TypeError, "uint8 or float32"),
        ([[0]], TypeError, "numpy.ndarray"),
    ],
)
def test_bad_clip(bad, exc, match):
    with pytest.raises(exc, match=match):
        pseudoanom.create("smoothmix_s")(bad, rng=0)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_inf(value):
    clip = make_clip()
    clip[3, 5, 7, 0] = value
    with pytest.raises(E.InvalidClipError, match="NaN or inf"):
        pseudoanom.create("cutmix")(clip, rng=0)
    video = make_clip((40, 8, 8, 1))
    video[2, 0, 0, 0] = value
    with pytest.raises(E.InvalidClipError, match="NaN or inf"):
        pseudoanom.create("skip_frame").from_video(video, 0, 16, rng=0)


def test_out_of_range_float():
    clip = make_clip(value_range=(0, 255))
    with pytest.raises(E.InvalidClipError, match="value_range"):
        pseudoanom.create("smoothmix_s")(clip, rng=0)  # default (-1, 1)
    assert pseudoanom.create("smoothmix_s", value_range=(0, 255))(clip, rng=0).label == 1


def test_skip_frame_steps_given_as_a_string_is_named_whole():
    with pytest.raises(E.InvalidParameterError, match="got 'abc'"):
        pseudoanom.create("skip_frame", steps="abc")
    with pytest.raises(E.InvalidParameterError, match="got 'abc'"):
        pseudoanom.Pipeline.from_dict(
            {"name": "pipeline", "params": {"transforms": [{"name": "skip_frame",
             "params": {"steps": "abc"}}]}}
        )  # fmt: skip


def test_skip_frame_on_an_empty_clip_says_it_is_empty():
    empty = np.zeros((0, 16, 16, 1), np.uint8)
    skip = pseudoanom.create("skip_frame")
    for call in (lambda: skip(empty, rng=0), lambda: skip.from_video(empty, 0, 8, rng=0)):
        with pytest.raises(E.InvalidClipError, match=r"is empty: no frames \([TK] = 0") as err:
            call()
        assert "beyond" not in str(err.value)
    with pytest.raises(ValueError, match="from_video"):  # a non-empty clip: the usual hint
        skip(np.zeros((8, 16, 16, 1), np.uint8), rng=0)


def test_float_clip_in_zero_one_warns_once_and_is_still_valid():
    import warnings

    clip = make_clip()
    unit = (clip + 1) / 2  # [0, 1], as frames / 255 are
    with pytest.warns(E.ValueRangeWarning, match=r"value_range=\(0.0, 1.0\)"):
        res = pseudoanom.create("cutmix")(unit, rng=0)
    assert res.label == 1 and res.clip.dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pseudoanom.create("cutmix", value_range=(0.0, 1.0))(unit, rng=0)  # the right range
        pseudoanom.create("cutmix")(clip, rng=0)  # [-1, 1] values
        pseudoanom.create("cutmix")(np.zeros((4, 8, 8, 1), np.float32), rng=0)  # constant


@pytest.mark.parametrize(
    "params, match",
    [
        ({"alpha": 0.0}, r"alpha must be in \(0, 1\]"),
        ({"alpha": 1.5}, r"alpha must be in \(0, 1\]"),
        ({"alpha": float("nan")}, "alpha must be finite"),
        ({"beta": -1}, "beta must be >= 0"),
        ({"min_size": 0}, "min_size must be >= 1"),
        ({"crop_scale": (0.0, 1.0)}, "crop_scale"),
        ({"value_range": (1, 1)}, "value_range"),
        ({"alpha": "big"}, "alpha must be a number"),
    ],
)
def test_bad_params(params, match):
    with pytest.raises(E.InvalidParameterError, match=match):
        pseudoanom.create("smoothmix_s", **params)


def test_bad_rng(clip):
    with pytest.raises(TypeError, match="Generator or an int seed"):
        pseudoanom.create("cutmix")(clip, rng=None)
    with pytest.raises(TypeError, match="Generator or an int seed"):
        pseudoanom.create("cutmix")(clip, rng=np.random.RandomState(0))
    with pytest.raises(TypeError):
        pseudoanom.create("cutmix")(clip)  # rng is required


def test_video_too_short_and_bad_start():
    video = make_clip((20, 8, 8, 1))
    with pytest.raises(E.InvalidClipError, match=r"K=20.*T=16.*s=2"):
        pseudoanom.create("skip_frame").from_video(video, 0, 16, rng=0)
    with pytest.raises(E.InvalidClipError, match="K=20.*start=10.*length=16"):
        pseudoanom.create("cutmix").from_video(video, 10, 16, rng=0)
    with pytest.raises(E.InvalidParameterError, match="start must be >= 0"):
        pseudoanom.create("cutmix").from_video(video, -1, 4, rng=0)


def test_bad_apply_params(clip):
    t = pseudoanom.create("cutmix")
    p = t.sample_params(clip.shape, np.random.default_rng(0))
    with pytest.raises(E.InvalidParameterError, match="centers"):
        t.apply(clip, **{**p, "centers": p["centers"][:2]})
    with pytest.raises(E.InvalidParameterError, match="intruder must be"):
        t.apply(clip, **{**p, "intruder": p["intruder"].astype(np.float32)})
    with pytest.raises(E.InvalidParameterError, match="intruder must be uint8 .*3\\)"):
        t.apply(clip, **{**p, "intruder": np.repeat(p["intruder"], 3, axis=-1)})
    obj = pseudoanom.create("cutmix", content="object")
    p = obj.sample_params(clip.shape, np.random.default_rng(0))
    with pytest.raises(E.InvalidParameterError, match="intruder must be"):
        obj.apply(clip, **{**p, "intruder": p["intruder"][:-1]})


def test_errors_are_library_errors():
    assert issubclass(E.InvalidClipError, ValueError)
    assert issubclass(E.IntruderNotFoundError, FileNotFoundError)
    for cls in (E.InvalidClipError, E.InvalidParameterError, E.UnknownTransformError):
        assert issubclass(cls, E.PseudoAnomError)
    assert validation.check_probability(0.5) == 0.5
