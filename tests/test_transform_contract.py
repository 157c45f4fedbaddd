"""The contract every registered transform keeps, built-in or user-registered.

In the spirit of scikit-learn's estimator checks: each check runs on every name in
``pseudoanom.available()`` (entry-point plug-ins included) and on a transform registered by
this test (:class:`InvertBox`, registered for the module's tests and removed afterwards).
A new transform gets all of these checks by being registered:

* the same seed gives the same output, and ``apply(data, **res.params)`` replays it;
* the input is not modified;
* shape, dtype and value range are kept (uint8, and float32 in [-1, 1]);
* the mask is float32 ``(T, H, W)`` in [0, 1] and 0 only where the clip equals its target;
* ``to_dict`` / ``from_dict``, YAML and pickle / deepcopy copies give the same outputs, and so
  does a worker process started with ``spawn`` (a PyTorch DataLoader worker on macOS/Windows);
* calls from several threads give what serial calls give.
"""

from __future__ import annotations

import copy
import multiprocessing
import pickle
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import yaml

import pseudoanom
from pseudoanom import registry

USER = "contract_invert_box"
NAMES = [*pseudoanom.available(), USER]
DTYPES = ("uint8", "float32")
SEEDS = (0, 1, 2)
SHAPE = (8, 32, 32, 1)  # (T, H, W, C) of the clips
VIDEO = (24, 32, 32, 1)  # (K, H, W, C) of the videos, for transforms that need the video
START, LENGTH = 5, 8


class InvertBox(pseudoanom.Transform):
    """User transform: one random box inverted on every frame from a random frame on."""

    def __init__(self, max_side: int = 12, value_range: tuple[float, float] = (-1.0, 1.0)):
        self.max_side = int(max_side)
        self.value_range = tuple(value_range)

    def sample_params(self, shape, rng):
        t, h, w, _ = shape
        side = int(rng.integers(1, self.max_side + 1))
        y, x = int(rng.integers(h)), int(rng.integers(w))
        return {"first": int(rng.integers(t)), "box": [y, x, side]}

    def apply(self, clip, first, box):
        y, x, side = box
        out = clip.copy()
        window = out[first:, y : y + side, x : x + side]
        if clip.dtype == np.uint8:
            window[...] = 255 - window
        else:
            lo, hi = self.value_range
            window[...] = np.float32(lo + hi) - window
        mask = np.zeros(clip.shape[:3], np.float32)
        mask[first:, y : y + side, x : x + side] = 1.0
        return out, mask


@pytest.fixture(scope="module", autouse=True)
def user_transform():
    """Register :class:`InvertBox` for this module only; the registry is restored after."""
    saved = dict(registry._registry)
    pseudoanom.register(USER)(InvertBox)
    yield
    registry._registry.clear()
    registry._registry.update(saved)
    InvertBox.name = ""


def small_intruders() -> pseudoanom.EmbeddedSource:
    return pseudoanom.EmbeddedSource(n=6, size=16)


def build(name: str, **kwargs: Any) -> pseudoanom.Transform:
    """``create(name)``, with small embedded intruders where the transform takes intruders."""
    if "intruders" in registry.init_arg_names(registry.get(name)):
        kwargs.setdefault("intruders", small_intruders())
    return pseudoanom.create(name, **kwargs)


def variants(name: str) -> list[pseudoanom.Transform]:
    """The transform as created, and with every ``content`` it accepts (patch transforms)."""
    if "content" not in registry.init_arg_names(registry.get(name)):
        return [build(name)]
    return [build(name, content=c) for c in pseudoanom.transforms.PATCH_CONTENTS]


def data(tr: pseudoanom.Transform, dtype: str) -> np.ndarray:
    """A clip, or a video for transforms that need one; uint8 or float32 in [-1, 1]."""
    shape = VIDEO if tr.needs_video else SHAPE
    r = np.random.default_rng(99)
    if dtype == "uint8":
        return r.integers(0, 256, shape, dtype=np.uint8)
    return r.uniform(-1.0, 1.0, shape).astype(np.float32)


def run(tr: pseudoanom.Transform, x: np.ndarray, rng: Any) -> pseudoanom.PseudoAnomaly:
    if tr.needs_video:
        return tr.from_video(x, START, LENGTH, rng=rng)
    return tr(x, rng=rng)


def same(a: pseudoanom.PseudoAnomaly, b: pseudoanom.PseudoAnomaly) -> bool:
    return (
        a.clip.tobytes() == b.clip.tobytes()
        and a.target.tobytes() == b.target.tobytes()
        and np.asarray(a.mask).tobytes() == np.asarray(b.mask).tobytes()
    )


def outputs(tr: pseudoanom.Transform, dtype: str) -> list[pseudoanom.PseudoAnomaly]:
    x = data(tr, dtype)
    return [run(tr, x, seed) for seed in SEEDS]


def test_the_user_transform_is_registered_for_these_tests_only():
    assert USER in pseudoanom.available() and InvertBox.name == USER
    assert set(NAMES) - {USER} <= set(registry._registry)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_output_and_params_replay(name, dtype):
    for tr in variants(name):
        x = data(tr, dtype)
        for seed in SEEDS:
            res = run(tr, x, seed)
            assert same(res, run(tr, x, seed))
            assert same(res, run(tr, x, np.random.default_rng(seed)))
            out, mask = tr.apply(x, **res.params)  # the public, pure replay
            assert out.tobytes() == res.clip.tobytes()
            assert mask.dtype == np.float32 and mask.tobytes() == res.mask.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_input_untouched_and_shape_dtype_range_mask_kept(name, dtype):
    for tr in variants(name):
        x = data(tr, dtype)
        before = x.copy()
        for seed in SEEDS:
            res = run(tr, x, seed)
            assert np.array_equal(x, before), "the input was modified"
            t = LENGTH if tr.needs_video else SHAPE[0]
            assert res.clip.shape == res.target.shape == (t, *x.shape[1:])
            assert res.clip.dtype == res.target.dtype == x.dtype
            assert res.label == 1
            if not tr.needs_video:
                assert res.target is x
            if x.dtype == np.float32:
                assert res.clip.min() >= -1.0 - 1e-5 and res.clip.max() <= 1.0 + 1e-5
            mask = res.mask
            assert mask.dtype == np.float32 and mask.shape == res.clip.shape[:3]
            assert mask.min() >= 0.0 and mask.max() <= 1.0
            zero = mask == 0
            assert np.array_equal(res.clip[zero], res.target[zero])
            assert mask.max() > 0 or np.array_equal(res.clip, res.target)


@pytest.mark.parametrize("name", NAMES)
def test_dict_and_yaml_round_trips_give_the_same_outputs(name, tmp_path):
    for tr in variants(name):
        d = tr.to_dict()
        assert d["name"] == name
        assert yaml.safe_load(yaml.safe_dump(d)) == d  # plain data only
        copies = [pseudoanom.from_dict(d), pseudoanom.from_dict(yaml.safe_load(yaml.safe_dump(d)))]
        path = tmp_path / "pipeline.yaml"
        pseudoanom.Pipeline([tr], p=1.0).to_yaml(path)
        copies.append(pseudoanom.Pipeline.from_yaml(path).transforms[0])
        for other in copies:
            assert type(other) is type(tr) and other.to_dict() == d
            for dtype in DTYPES:
                for a, b in zip(outputs(tr, dtype), outputs(other, dtype), strict=True):
                    assert same(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_pickle_and_deepcopy_give_the_same_outputs(name):
    for tr in variants(name):
        for dtype in DTYPES:
            want = outputs(tr, dtype)  # caches and per-thread state are filled now
            for other in (pickle.loads(pickle.dumps(tr)), copy.deepcopy(tr)):
                assert type(other) is type(tr) and other.to_dict() == tr.to_dict()
                for a, b in zip(want, outputs(other, dtype), strict=True):
                    assert same(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_threads_give_the_serial_outputs(name):
    for tr in variants(name):
        x = data(tr, "float32")
        seeds = list(range(12))

        def call(seed: int, tr=tr, x=x) -> pseudoanom.PseudoAnomaly:
            return run(tr, x, np.random.default_rng(seed))  # a Generator of its own per call

        want = [call(s) for s in seeds]
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(call, seeds))
        assert all(same(a, b) for a, b in zip(want, got, strict=True))


def _in_worker(job: tuple[bytes, np.ndarray, int]) -> list[bytes]:
    """Runs in the spawned process: unpickle the transform and apply it."""
    blob, x, seed = job
    tr = pickle.loads(blob)
    res = run(tr, x, seed)
    return [res.clip.tobytes(), res.target.tobytes(), np.asarray(res.mask).tobytes()]


def test_a_spawned_worker_gives_the_parents_outputs():
    """A fresh interpreter (the ``spawn`` start method) gets each transform pickled."""
    jobs, want = [], []
    for name in NAMES:
        for tr in variants(name):
            for dtype in DTYPES:
                x = data(tr, dtype)
                res = run(tr, x, 3)
                jobs.append((pickle.dumps(tr), x, 3))
                want.append([res.clip.tobytes(), res.target.tobytes(), res.mask.tobytes()])
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        got = pool.map(_in_worker, jobs)
    assert got == want
