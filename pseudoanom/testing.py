"""The contract every transform keeps, as checks a plug-in author can run on their own.

In the spirit of scikit-learn's ``check_estimator`` / ``parametrize_with_checks``: a package
that registers a transform (through ``@pseudoanom.register`` or the ``pseudoanom.transforms``
entry point) checks it with::

    from pseudoanom.testing import check_transform
    check_transform(MyNoise())                       # raises AssertionError naming the check

or, one pytest test per check::

    from pseudoanom.testing import parametrize_with_checks

    @parametrize_with_checks([MyNoise(), MyNoise(strength=0.5)])
    def test_my_noise(transform, check):
        check(transform)

The checks (:data:`CHECKS`), each on a uint8 clip and a float32 clip in the transform's
``value_range`` (a video, through ``from_video``, for transforms with ``needs_video``):

* ``seed_and_replay``: the same seed gives the same output, and ``apply(data, **res.params)``
  replays it;
* ``output``: the input is not modified; shape, dtype and value range are kept; ``label`` is
  1; the mask is float32 ``(T, H, W)`` in [0, 1] and 0 only where the clip equals its target;
* ``round_trips``: ``to_dict`` / ``from_dict``, YAML and a pipeline YAML file give a transform
  with the same outputs (the transform must be registered);
* ``pickle``: pickle and deepcopy copies give the same outputs;
* ``threads``: calls from several threads give what serial calls give;
* ``spawn_worker``: a worker process started with ``spawn`` (a PyTorch DataLoader worker on
  macOS/Windows) gives the parent's outputs (the class must be importable by its module).

A registered transform whose package is not installed can be registered for the duration of a
test with :func:`pseudoanom.registry.registered`. This module imports pytest only inside
:func:`parametrize_with_checks`.
"""

from __future__ import annotations

import copy
import multiprocessing
import pickle
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from . import registry
from .pipeline import Pipeline
from .result import PseudoAnomaly
from .transforms import Transform

__all__ = [
    "CHECKS",
    "check_transform",
    "parametrize_with_checks",
    "check_seed_and_replay",
    "check_output",
    "check_round_trips",
    "check_pickle",
    "check_threads",
    "check_spawn_worker",
    "make_data",
    "run",
]

DTYPES = ("uint8", "float32")
SEEDS = (0, 1, 2)
CLIP_SHAPE = (8, 32, 32, 1)  # (T, H, W, C) of the clips
VIDEO_SHAPE = (24, 32, 32, 1)  # (K, H, W, C) of the videos, for transforms that need one
START, LENGTH = 5, 8  # the clip of a video that ``from_video`` makes a pseudo anomaly from


def make_data(transform: Transform, dtype: str, seed: int = 99) -> np.ndarray:
    """A random clip, or a video if the transform needs one: uint8, or float32 filling its
    ``value_range``."""
    shape = VIDEO_SHAPE if transform.needs_video else CLIP_SHAPE
    r = np.random.default_rng(seed)
    if dtype == "uint8":
        return r.integers(0, 256, shape, dtype=np.uint8)
    lo, hi = transform.value_range
    return r.uniform(lo, hi, shape).astype(np.float32)


def run(transform: Transform, data: np.ndarray, rng: Any) -> PseudoAnomaly:
    """One call: ``transform(data, rng=rng)``, or ``from_video`` for transforms that need it."""
    if transform.needs_video:
        return transform.from_video(data, START, LENGTH, rng=rng)
    return transform(data, rng=rng)


def _same(a: PseudoAnomaly, b: PseudoAnomaly) -> bool:
    return (
        a.clip.tobytes() == b.clip.tobytes()
        and a.target.tobytes() == b.target.tobytes()
        and np.asarray(a.mask).tobytes() == np.asarray(b.mask).tobytes()
    )


def _outputs(transform: Transform, dtype: str) -> list[PseudoAnomaly]:
    data = make_data(transform, dtype)
    return [run(transform, data, seed) for seed in SEEDS]


def _expect(ok: bool, transform: Transform, what: str) -> None:
    if not ok:
        raise AssertionError(f"{transform!r}: {what}")


def check_seed_and_replay(transform: Transform) -> None:
    """Same seed (int or Generator), same output; ``apply(data, **res.params)`` replays it."""
    for dtype in DTYPES:
        data = make_data(transform, dtype)
        for seed in SEEDS:
            res = run(transform, data, seed)
            _expect(_same(res, run(transform, data, seed)), transform, f"seed {seed} differs")
            again = run(transform, data, np.random.default_rng(seed))
            _expect(_same(res, again), transform, f"seed {seed} and its Generator differ")
            out, mask = transform.apply(data, **res.params)
            _expect(out.tobytes() == res.clip.tobytes(), transform, "apply does not replay")
            _expect(
                mask.dtype == np.float32 and mask.tobytes() == np.asarray(res.mask).tobytes(),
                transform,
                "apply's mask is not the call's float32 mask",
            )


def check_output(transform: Transform) -> None:
    """Untouched input; kept shape, dtype and range; label 1; a float32 mask in [0, 1] that
    is 0 only where the clip equals its target."""
    for dtype in DTYPES:
        data = make_data(transform, dtype)
        before = data.copy()
        t = LENGTH if transform.needs_video else data.shape[0]
        for seed in SEEDS:
            res = run(transform, data, seed)
            _expect(np.array_equal(data, before), transform, "the input was modified")
            _expect(
                res.clip.shape == res.target.shape == (t, *data.shape[1:]),
                transform,
                f"clip {res.clip.shape} / target {res.target.shape}, expected T = {t}",
            )
            _expect(res.clip.dtype == res.target.dtype == data.dtype, transform, "dtype changed")
            _expect(res.label == 1, transform, f"label {res.label}, expected 1")
            if not transform.needs_video:
                _expect(res.target is data, transform, "the target is not the input clip")
            if data.dtype == np.float32:
                lo, hi = transform.value_range
                tol = 1e-5 * (hi - lo)
                inside = res.clip.min() >= lo - tol and res.clip.max() <= hi + tol
                _expect(inside, transform, f"float clip leaves value_range {(lo, hi)}")
            _check_mask(transform, res)


def _check_mask(transform: Transform, res: PseudoAnomaly) -> None:
    mask = np.asarray(res.mask)
    _expect(
        mask.dtype == np.float32 and mask.shape == res.clip.shape[:3],
        transform,
        f"mask is {mask.dtype} {mask.shape}, expected float32 {res.clip.shape[:3]}",
    )
    _expect(mask.min() >= 0.0 and mask.max() <= 1.0, transform, "mask leaves [0, 1]")
    zero = mask == 0
    _expect(
        np.array_equal(res.clip[zero], res.target[zero]),
        transform,
        "the clip differs from its target where the mask is 0",
    )
    _expect(
        mask.max() > 0 or np.array_equal(res.clip, res.target),
        transform,
        "the mask is all 0 but the clip changed",
    )


def check_round_trips(transform: Transform) -> None:
    """``to_dict`` / ``from_dict``, YAML and a pipeline YAML file give the same outputs."""
    d = transform.to_dict()
    _expect(yaml.safe_load(yaml.safe_dump(d)) == d, transform, "to_dict is not plain data")
    copies = [registry.from_dict(d), registry.from_dict(yaml.safe_load(yaml.safe_dump(d)))]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pipeline.yaml"
        Pipeline([transform], p=1.0).to_yaml(path)
        copies.append(Pipeline.from_yaml(path).transforms[0])
    for other in copies:
        _expect(
            type(other) is type(transform) and other.to_dict() == d,
            transform,
            f"round trip gave {other!r}",
        )
        _expect_same_outputs(transform, other, "a dict/YAML copy")


def _expect_same_outputs(transform: Transform, other: Transform, what: str) -> None:
    for dtype in DTYPES:
        pairs = zip(_outputs(transform, dtype), _outputs(other, dtype), strict=True)
        _expect(all(_same(a, b) for a, b in pairs), transform, f"{what} gives other outputs")


def check_pickle(transform: Transform) -> None:
    """Pickle and deepcopy copies give the same outputs (after the original filled caches)."""
    for dtype in DTYPES:
        _outputs(transform, dtype)  # caches and per-thread state are filled now
    for other, what in (
        (pickle.loads(pickle.dumps(transform)), "a pickled copy"),
        (copy.deepcopy(transform), "a deep copy"),
    ):
        _expect(type(other) is type(transform), transform, f"{what} has another type")
        _expect_same_outputs(transform, other, what)


def check_threads(transform: Transform) -> None:
    """Calls from 4 threads, each with its own Generator, give the serial outputs."""
    data = make_data(transform, "float32")

    def call(seed: int) -> PseudoAnomaly:
        return run(transform, data, np.random.default_rng(seed))

    seeds = list(range(12))
    want = [call(s) for s in seeds]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(call, seeds))
    _expect(all(_same(a, b) for a, b in zip(want, got, strict=True)), transform, "threads differ")


def _in_worker(job: tuple[bytes, np.ndarray, int]) -> list[bytes]:
    """Runs in the spawned process: unpickle the transform and apply it."""
    blob, data, seed = job
    res = run(pickle.loads(blob), data, seed)
    return [res.clip.tobytes(), res.target.tobytes(), np.asarray(res.mask).tobytes()]


def check_spawn_worker(transforms: Transform | Sequence[Transform]) -> None:
    """A ``spawn`` worker process gives the parent's outputs (one process for all given)."""
    many = transforms if isinstance(transforms, Sequence) else [transforms]
    jobs, want, owners = [], [], []
    for tr in many:
        for dtype in DTYPES:
            data = make_data(tr, dtype)
            res = run(tr, data, 3)
            jobs.append((pickle.dumps(tr), data, 3))
            want.append([res.clip.tobytes(), res.target.tobytes(), np.asarray(res.mask).tobytes()])
            owners.append(tr)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        got = pool.map(_in_worker, jobs)
    for tr, a, b in zip(owners, want, got, strict=True):
        _expect(a == b, tr, "a spawned worker gives other outputs")


CHECKS: dict[str, Callable[[Transform], None]] = {
    "seed_and_replay": check_seed_and_replay,
    "output": check_output,
    "round_trips": check_round_trips,
    "pickle": check_pickle,
    "threads": check_threads,
    "spawn_worker": check_spawn_worker,
}
"""Every check, by name, in the order :func:`check_transform` runs them."""


def check_transform(transform: Transform, *, skip: Iterable[str] = ()) -> None:
    """Run every check of :data:`CHECKS` on ``transform`` except those named in ``skip``.

    Raises
    ------
    AssertionError
        The first failing check (the message names it and the transform).
    KeyError
        ``skip`` names an unknown check.
    """
    skip = set(skip)
    unknown = skip - set(CHECKS)
    if unknown:
        raise KeyError(f"unknown checks {sorted(unknown)}; known: {', '.join(CHECKS)}")
    for name, check in CHECKS.items():
        if name in skip:
            continue
        try:
            check(transform)
        except AssertionError as e:
            raise AssertionError(f"check {name!r} failed: {e}") from e


def _label(transform: Transform) -> str:
    name = transform.name or type(transform).__name__
    content = getattr(transform, "content", None)
    return f"{name}[{content}]" if isinstance(content, str) else name


def parametrize_with_checks(transforms: Sequence[Transform], *, skip: Iterable[str] = ()) -> Any:
    """A ``pytest.mark.parametrize`` of ``(transform, check)`` over every transform and check.

    The test takes the arguments ``transform`` and ``check`` and calls ``check(transform)``;
    ids read ``<name>-<check>`` (``<name>[<content>]`` for patch transforms). Checks named in
    ``skip`` are left out.
    """
    import pytest  # only here: importing pseudoanom.testing does not need pytest

    skip = set(skip)
    params = [
        pytest.param(tr, check, id=f"{_label(tr)}-{name}")
        for tr in transforms
        for name, check in CHECKS.items()
        if name not in skip
    ]
    return pytest.mark.parametrize(("transform", "check"), params)
