"""The training input pipeline: pseudo-anomaly rate, targets, seeding, tf.data == NumPy."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pseudoanom

pytest.importorskip("pseudoanom")

from trainer.config import ConfigError, TrainConfig  # noqa: E402
from trainer.data import to_model_range  # noqa: E402
from trainer.input import (  # noqa: E402
    ClipSampler,
    build_pseudo_pipeline,
    iterate_batches,
    iterate_epochs,
    make_dataset,
)

T = 8


def videos(n: int = 3, k: int = 30, hw: int = 32, seed: int = 0) -> list[np.ndarray]:
    """Videos whose frame values encode (video, frame), so a clip's origin is checkable."""
    rng = np.random.default_rng(seed)
    out = []
    for v in range(n):
        base = rng.integers(0, 200, (1, hw, hw, 1), dtype=np.uint8)
        ramp = np.arange(k, dtype=np.uint8).reshape(k, 1, 1, 1)
        out.append((base + ramp + 10 * v).astype(np.uint8))
    return out


def config(**kw) -> TrainConfig:
    base = {"size": (32, 32), "clip_length": T, "seed": 7, "p": 0.2}
    return TrainConfig.from_dict({**base, **kw})


def sampler(cfg: TrainConfig | None = None, vids=None) -> ClipSampler:
    cfg = cfg or config()
    vids = videos() if vids is None else vids
    return ClipSampler(vids, cfg.clip_length, build_pseudo_pipeline(cfg), cfg.seed)


def test_every_valid_start_is_a_clip_once_per_epoch():
    s = sampler(vids=videos(n=2, k=20))
    assert len(s) == 2 * (20 - T + 1)
    for epoch in (0, 1):
        order = s.epoch_order(epoch)
        assert sorted(order) == list(range(len(s)))
    assert not np.array_equal(s.epoch_order(0), s.epoch_order(1))  # reshuffled each epoch


def test_short_videos_are_skipped_and_all_short_is_an_error():
    s = sampler(vids=[*videos(n=1, k=20), np.zeros((T - 1, 32, 32, 1), np.uint8)])
    assert len(s) == 20 - T + 1
    with pytest.raises(ValueError, match="clip_length"):
        sampler(vids=[np.zeros((T - 1, 32, 32, 1), np.uint8)])


def test_pseudo_rate_is_p_within_a_binomial_bound():
    cfg = config(p=0.2)
    s = sampler(cfg, vids=videos(n=4, k=60))
    flags = np.concatenate([f for _, _, f in iterate_batches(s, 0, 8)])
    n, p = len(flags), cfg.p
    assert n >= 200
    # 5 standard deviations: fails by chance with probability < 1e-6.
    assert abs(flags.sum() - n * p) <= 5 * math.sqrt(n * p * (1 - p))
    assert set(np.unique(flags)) <= {0.0, 1.0}


def test_p_zero_gives_plain_clips_and_p_one_only_pseudo():
    s0 = sampler(config(p=0.0))
    assert s0.pseudo is None
    x, y, f = next(iterate_batches(s0, 0, 4))
    assert not f.any() and np.array_equal(x, y)
    s1 = sampler(config(p=1.0))
    x, y, f = next(iterate_batches(s1, 0, 4))
    assert f.all()


def test_targets_are_the_normal_clip_and_inputs_differ_only_for_pseudo():
    s = sampler(config(p=0.5))
    vids = s.videos
    plan = s.epoch_plan(0, 4, steps=10)
    seen = {0: 0, 1: 0}
    for epoch, pos, clip_id in plan:
        x, y, flag = s.sample_clip(epoch, pos, clip_id)
        assert x.dtype == y.dtype == np.float32 and x.shape == (T, 32, 32, 1)
        assert x.min() >= -1 and x.max() <= 1
        vi, start = s.clips[clip_id]
        np.testing.assert_array_equal(y, to_model_range(vids[vi][start : start + T]))
        assert np.array_equal(x, y) == (flag == 0)
        seen[int(flag)] += 1
    assert seen[0] and seen[1]


def test_skip_frame_uses_the_whole_video():
    cfg = config(p=1.0, transforms=[{"name": "skip_frame", "params": {"steps": [2]}}])
    s = sampler(cfg, vids=videos(n=1, k=40))
    # Frame values are base + frame index, so x's frames must step by 2 against y's by 1.
    for pos in range(5):
        x, y, flag = s.sample(0, pos)
        assert flag == 1
        dx = np.diff(x[:, 0, 0, 0]) * 127.5
        dy = np.diff(y[:, 0, 0, 0]) * 127.5
        np.testing.assert_allclose(dx, 2.0, atol=1e-3)
        np.testing.assert_allclose(dy, 1.0, atol=1e-3)


def test_weighted_mix_uses_both_transforms():
    cfg = config(
        p=1.0,
        transforms=[
            {"name": "smoothmix_s", "params": {"alpha": 0.5, "beta": 2.0}, "weight": 1.0},
            {"name": "skip_frame", "params": {"steps": [2, 3]}, "weight": 1.0},
        ],
    )
    s = sampler(cfg, vids=videos(n=2, k=40))
    kinds = set()
    for pos in range(30):
        x, y, _ = s.sample(0, pos)
        # skip_frame keeps every pixel of frame 0; a patch changes part of every frame
        kinds.add("skip" if np.array_equal(x[0], y[0]) else "patch")
    assert kinds == {"skip", "patch"}


def test_unknown_transform_is_a_config_error():
    cfg = config(transforms=[{"name": "no_such_transform"}])
    with pytest.raises(ConfigError, match="no_such_transform"):
        build_pseudo_pipeline(cfg)
    cfg = config(transforms=[{"name": "smoothmix_s", "params": {"bogus": 1}}])
    with pytest.raises(ConfigError, match="bogus"):
        build_pseudo_pipeline(cfg)


def test_same_seed_same_batches_other_seed_or_epoch_other_batches():
    def epoch(seed, e):
        return list(iterate_batches(sampler(config(seed=seed)), e, 4, steps=3))

    a, b = epoch(7, 0), epoch(7, 0)
    for (xa, ya, fa), (xb, yb, fb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(fa, fb)
    assert not np.array_equal(a[0][1], epoch(8, 0)[0][1])
    assert not np.array_equal(a[0][1], epoch(7, 1)[0][1])


def test_sample_does_not_depend_on_what_was_drawn_before():
    s = sampler(config(p=0.5))
    x1, y1, f1 = s.sample(2, 5)
    for pos in range(10):  # draw other samples in between
        s.sample(2, pos)
    x2, y2, f2 = s.sample(2, 5)
    np.testing.assert_array_equal(x1, x2)
    assert f1 == f2


@pytest.mark.slow
def test_tf_dataset_equals_numpy_batches_and_resumes_mid_run():
    tf = pytest.importorskip("tensorflow")
    s = sampler(config(p=0.5))
    steps = 3
    ds = make_dataset(s, 4, epochs=3, steps_per_epoch=steps, num_parallel_calls=2)
    assert ds.element_spec[0].shape.as_list() == [4, T, 32, 32, 1]
    assert ds.element_spec[2].dtype == tf.float32
    got = [tuple(np.asarray(t) for t in batch) for batch in ds]
    want = [b for e in range(3) for b in iterate_batches(s, e, 4, steps=steps)]
    assert len(got) == len(want) == 3 * steps
    for g, w in zip(got, want, strict=True):
        for a, b in zip(g, w, strict=True):
            np.testing.assert_array_equal(a, b)
    # A run resumed at epoch 1 sees exactly the batches of epochs 1 and 2.
    resumed = [
        np.asarray(b[1]) for b in make_dataset(s, 4, 3, initial_epoch=1, steps_per_epoch=steps)
    ]
    for g, w in zip(resumed, got[steps:], strict=True):
        np.testing.assert_array_equal(g, w[1])


@pytest.mark.parametrize("workers", [1, 3])
def test_threaded_generator_equals_numpy_batches_across_epochs(workers):
    # The input of non-TensorFlow backends: same batches, same order, whatever the threads.
    s = sampler(config(p=0.5))
    got = list(iterate_epochs(s, 4, epochs=3, initial_epoch=1, steps_per_epoch=5, workers=workers))
    want = [b for e in (1, 2) for b in iterate_batches(s, e, 4, steps=5)]
    assert len(got) == len(want) == 10
    for g, w in zip(got, want, strict=True):
        for a, b in zip(g, w, strict=True):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="initial_epoch"):
        next(iterate_epochs(s, 4, epochs=2, initial_epoch=2))


def test_config_imports_register_a_users_transform(tmp_path, monkeypatch):
    (tmp_path / "user_transforms_mod.py").write_text(
        "import pseudoanom\n"
        "@pseudoanom.register('user_reverse', override=True)\n"
        "class Reverse(pseudoanom.Transform):\n"
        "    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = config(transforms=[{"name": "user_reverse", "params": {}, "weight": 1.0}])
    with pseudoanom.registry.preserved():  # the user's transform is not left registered
        with pytest.raises(ConfigError, match="user_reverse"):
            build_pseudo_pipeline(cfg)  # not imported yet: unknown name
        pipe = build_pseudo_pipeline(cfg.replace(imports=["user_transforms_mod"]))
        assert type(pipe.transforms[0]).__name__ == "Reverse"
        with pytest.raises(ConfigError, match="cannot import 'no_such_module_xyz'"):
            build_pseudo_pipeline(cfg.replace(imports=["no_such_module_xyz"]))


def test_old_intruders_key_reads_cifar100_by_prefix(tmp_path):
    """The old ``intruders: cifar100:<path>`` becomes ``{kind: cifar100, path}``, read locally."""
    import pickle

    import pseudoanom

    data = np.random.default_rng(0).integers(0, 256, (3, 3072), dtype=np.uint8)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    (folder / "train").write_bytes(pickle.dumps({b"data": data}, protocol=2))
    for path in (tmp_path, folder):
        cfg = config(intruders=f"cifar100:{path}")
        spec = cfg.pipeline["params"]["transforms"][0]["params"]["intruders"]
        assert spec == {"kind": "cifar100", "path": str(path)}
        src = build_pseudo_pipeline(cfg).transforms[0].intruders
        assert isinstance(src, pseudoanom.Cifar100Source) and len(src) == 3
        assert src.sample(np.random.default_rng(0)).shape == (32, 32, 3)
    cfg = config(intruders=f"cifar100:{tmp_path / 'missing'}")
    with pytest.raises(ConfigError, match=r"transforms\[0\] \(smoothmix_s\): CIFAR-100 not found"):
        build_pseudo_pipeline(cfg)


def _pipeline_config(**params) -> TrainConfig:
    return TrainConfig.from_dict(
        {
            "size": (32, 32),
            "clip_length": T,
            "seed": 7,
            "pipeline": {"name": "pipeline", "params": params},
        }
    )


def _samples(pipe, n: int = 12) -> list[np.ndarray]:
    s = ClipSampler(videos(n=2, k=40), T, pipe, seed=3)
    return [a for pos in range(n) for a in s.sample(0, pos)]


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_the_pipeline_key_is_the_librarys_own_form(tmp_path):
    """pseudoanom builds what the config holds, and the config reads what pseudoanom writes."""
    import cv2

    import pseudoanom

    folder = tmp_path / "intruders"
    folder.mkdir()
    for i in range(3):
        img = np.random.default_rng(i).integers(0, 256, (20, 20, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"{i}.png"), img)
    cfg = _pipeline_config(
        transforms=[
            {
                "name": "smoothmix_s",
                "params": {"alpha": 0.5, "beta": 2.0, "intruders": str(folder)},
            },
            {"name": "cutmix", "params": {"intruders": str(folder)}},
            "skip_frame",
        ],
        weights=[2, 1, 1],
        p=0.7,
    )
    built = build_pseudo_pipeline(cfg)
    assert built.p == 0.7 and built.weights == [2.0, 1.0, 1.0]
    # one source for the transforms that name the same intruders (decoded once)
    assert built.transforms[0].intruders is built.transforms[1].intruders
    library = pseudoanom.from_dict(cfg.pipeline)
    want = _samples(built)
    assert _same(_samples(library), want)
    # the library's to_dict / to_yaml output, pasted into a config, gives the same samples
    pasted = TrainConfig.from_dict({"pipeline": built.to_dict()}, base=cfg)
    assert _same(_samples(build_pseudo_pipeline(pasted)), want)
    path = tmp_path / "pipeline.yaml"
    built.to_yaml(path)
    from_file = cfg.replace(pipeline=str(path))
    assert from_file.pipeline == pasted.pipeline  # stored inline: the run keeps it
    assert _same(_samples(build_pseudo_pipeline(from_file)), want)


def test_old_and_new_form_give_the_same_samples():
    old = config(
        p=0.5,
        transforms=[
            {"name": "smoothmix_s", "params": {"alpha": 0.5, "beta": 2.0}, "weight": 3.0},
            {"name": "skip_frame", "params": {"steps": [2, 3]}, "weight": 1.0},
        ],
    )
    new = _pipeline_config(
        transforms=[
            {"name": "smoothmix_s", "params": {"alpha": 0.5, "beta": 2.0}},
            {"name": "skip_frame", "params": {"steps": [2, 3]}},
        ],
        weights=[3.0, 1.0],
        p=0.5,
    )
    assert old.pipeline == new.pipeline
    assert _same(_samples(build_pseudo_pipeline(old)), _samples(build_pseudo_pipeline(new)))


def test_a_bad_transform_in_the_pipeline_names_its_index():
    cfg = _pipeline_config(transforms=["skip_frame", {"name": "cutmix", "params": {"bogus": 1}}])
    with pytest.raises(
        ConfigError, match=r"'pipeline': params.transforms\[1\] \(cutmix\): .*bogus"
    ):
        build_pseudo_pipeline(cfg)
    cfg = _pipeline_config(
        transforms=[{"name": "smoothmix_s", "params": {"intruders": "/no/such"}}]
    )
    with pytest.raises(ConfigError, match=r"transforms\[0\] \(smoothmix_s\): .*/no/such"):
        build_pseudo_pipeline(cfg)
