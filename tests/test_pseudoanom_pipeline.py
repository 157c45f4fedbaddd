"""Tests of Pipeline: frequency of pseudo anomalies, mixing, batches, dict/YAML round trips."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import yaml
from conftest import make_clip

import pseudoanom
from pseudoanom import Pipeline


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_frequency_close_to_p(p):
    clip = make_clip((2, 8, 8, 1), np.uint8)
    pipe = Pipeline([pseudoanom.create("cutmix", beta=0)], p=p)
    rng = np.random.default_rng(0)
    n = 2000
    hits = sum(pipe(clip, rng=rng).label for _ in range(n))
    assert abs(hits - n * p) <= 4 * math.sqrt(n * p * (1 - p))


def test_p_zero_and_one_and_normal_result(clip):
    never = Pipeline(["cutmix"], p=0.0)
    res = never(clip, rng=0)
    assert res.label == 0 and res.clip is clip and res.target is clip
    assert res.mask.shape == clip.shape[:3] and not res.mask.any()
    assert res.params == {"transform": None}
    always = Pipeline(["cutmix"], p=1.0)
    assert all(always(clip, rng=s).label == 1 for s in range(20))


def test_weights_choose_transforms(clip):
    pipe = Pipeline(["cutmix", "smoothmix_s"], weights=[3, 1], p=1.0)
    rng = np.random.default_rng(1)
    names = [pipe(clip, rng=rng).params["transform"] for _ in range(800)]
    frac = names.count("cutmix") / len(names)
    assert abs(frac - 0.75) <= 4 * math.sqrt(0.75 * 0.25 / 800)
    only = Pipeline(["cutmix", "smoothmix_s"], weights=[0, 1], p=1.0)
    assert {only(clip, rng=s).params["transform"] for s in range(30)} == {"smoothmix_s"}


def test_mixing_patch_and_skip_frame():
    video = make_clip((64, 16, 16, 1), np.uint8)
    pipe = Pipeline(["smoothmix_s", "skip_frame"], p=1.0)
    names = set()
    for s in range(40):
        res = pipe.from_video(video, 10, 16, rng=s)
        names.add(res.params["transform"])
        inner = res.params["params"]
        if res.params["transform"] == "skip_frame":
            n = inner["start"]
            assert np.array_equal(res.target, video[n : n + 16])
            assert np.array_equal(res.clip, video[n : n + 16 * inner["step"] : inner["step"]])
        else:
            assert np.array_equal(res.target, video[10:26])
    assert names == {"smoothmix_s", "skip_frame"}
    with pytest.raises(ValueError, match="from_video"):
        pipe(video[:16], rng=0)


def test_pipeline_from_video_normal():
    video = make_clip((30, 8, 8, 1))
    res = Pipeline(["skip_frame"], p=0.0).from_video(video, 4, 16, rng=0)
    assert res.label == 0 and np.array_equal(res.clip, video[4:20])


def test_pipeline_batch():
    batch = make_clip((64, 2, 8, 8, 1), np.uint8)
    res = Pipeline(["cutmix"], p=0.5)(batch, rng=3)
    assert res.clip.shape == batch.shape and res.label.shape == (64,)
    assert res.label.dtype == np.int8 and 0 < res.label.sum() < 64
    normal = res.label == 0
    assert np.array_equal(res.clip[normal], batch[normal]) and not res.mask[normal].any()


def test_pipeline_deterministic(clip):
    pipe = Pipeline(["smoothmix_s", "cutmix"], p=0.5)
    a = [pipe(clip, rng=np.random.default_rng(9)).clip for _ in range(2)]
    assert np.array_equal(a[0], a[1])


def _intruder_dir(tmp_path):
    d = tmp_path / "intruders"
    d.mkdir()
    r = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(d / f"img{i}.png"), r.integers(0, 256, (20, 24, 3), dtype=np.uint8))
    return d


def test_pipeline_yaml_round_trip(tmp_path):
    src = pseudoanom.ImageFolderSource(_intruder_dir(tmp_path))
    pipe = Pipeline(
        [
            pseudoanom.create("smoothmix_s", intruders=src, beta=5, value_range=(0, 1)),
            pseudoanom.create("cutmix", alpha=0.25, value_range=(0, 1)),
        ],
        weights=[2, 1],
        p=0.7,
    )
    path = tmp_path / "pipe.yaml"
    text = pipe.to_yaml(path)
    assert "image_folder" in text and str(src.path) in text
    back = Pipeline.from_yaml(path)
    assert back.to_dict() == pipe.to_dict()
    assert isinstance(pseudoanom.from_dict(yaml.safe_load(text)), Pipeline)
    clip = make_clip((4, 24, 24, 1), value_range=(0, 1))
    for s in range(5):
        assert np.array_equal(pipe(clip, rng=s).clip, back(clip, rng=s).clip)


def test_pipeline_bad_inputs(tmp_path, clip):
    with pytest.raises(pseudoanom.InvalidParameterError, match="p must be in"):
        Pipeline(["cutmix"], p=1.5)
    with pytest.raises(pseudoanom.InvalidParameterError, match="p must be in"):
        Pipeline(["cutmix"], p=-0.1)
    with pytest.raises(pseudoanom.InvalidParameterError, match="weights"):
        Pipeline(["cutmix"], weights=[1, 2])
    with pytest.raises(pseudoanom.InvalidParameterError, match="weights"):
        Pipeline(["cutmix"], weights=[-1])
    with pytest.raises(pseudoanom.InvalidParameterError, match="at least one"):
        Pipeline([])
    with pytest.raises(pseudoanom.InvalidParameterError, match="value_range"):
        Pipeline([pseudoanom.create("cutmix"), pseudoanom.create("cutmix", value_range=(0, 1))])
    with pytest.raises(pseudoanom.UnknownTransformError, match="smoothmix_s"):
        Pipeline(["nope"])
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        Pipeline.from_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: pipeline\nparams: {p: 0.2, transforms: [], wieghts: [1]}\n")
    with pytest.raises(TypeError, match="wieghts"):
        Pipeline.from_yaml(bad)
    nan = clip.copy()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(pseudoanom.InvalidClipError, match="NaN"):
        Pipeline(["cutmix"], p=0.0)(nan, rng=0)  # raised even when no anomaly is drawn


def test_check_dict_checks_the_form_without_building_and_from_dict_names_the_entry():
    d = {"name": "pipeline", "params": {"transforms": ["not_registered_yet", "cutmix"], "p": 1}}
    assert Pipeline.check_dict(d) == {
        "name": "pipeline",
        "params": {
            "transforms": [
                {"name": "not_registered_yet", "params": {}},
                {"name": "cutmix", "params": {}},
            ],
            "weights": [1.0, 1.0],
            "p": 1.0,
        },
    }
    with pytest.raises(pseudoanom.UnknownTransformError, match=r"^params.transforms\[0\] \(not_"):
        Pipeline.from_dict(d)
    with pytest.raises(TypeError, match=r"transforms\[1\] \(cutmix\): .*bogus"):
        Pipeline(["cutmix", {"name": "cutmix", "params": {"bogus": 1}}])
    with pytest.raises(pseudoanom.InvalidParameterError, match=r"params.weights has 1 entries"):
        Pipeline.check_dict(
            {"name": "pipeline", "params": {"transforms": ["a", "b"], "weights": [1]}}
        )
