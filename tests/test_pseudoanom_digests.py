"""Every built-in transform and a pipeline give bit-identical outputs over time.

Each case builds a transform (every registered built-in; patches with ``content="window"`` and
``"object"``, several parameter sets and intruder sources), runs it on small uint8 and float32
clips for a few seeds, and hashes the output clip and mask bytes. The expected digests are in
``tests/data/pseudoanom_digests.json``, recorded from the code before the library was split
into public classes and kernel functions; a refactor must keep them. Regenerate only on
purpose (a deliberate change of the outputs):

    python tests/test_pseudoanom_digests.py --write

A new case (a new transform) is recorded without touching the others by ``--add``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DIGESTS = REPO / "tests" / "data" / "pseudoanom_digests.json"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import pseudoanom  # noqa: E402
from pseudoanom.intruders import IntruderSource  # noqa: E402

PATCHES = ("smoothmix_s", "smoothmix_c", "cutmix", "mixup_patch")
SEEDS = (0, 1, 2)
DTYPES = ("uint8", "float32")
# (T, H, W, C): tiny frames, three channels, and float frames big enough for several
# chunks of the cache-sized copy (and for smoothmix_c's whole-frame path).
SHAPES = ((8, 32, 32, 1), (8, 32, 32, 3), (6, 24, 40, 1), (5, 160, 160, 1))


class MovingFrames(IntruderSource):
    """An in-memory video intruder (``temporal``): a different frame per time step."""

    kind = "test_moving_frames"
    temporal = True

    def __init__(self) -> None:
        rng = np.random.default_rng(7)
        self.frames = rng.integers(0, 256, (20, 14, 18, 3), dtype=np.uint8)

    def __len__(self) -> int:
        return len(self.frames)

    def _load(self, index: int) -> np.ndarray:
        return self.frames[index]

    def sample_sequence(self, rng: np.random.Generator, length: int) -> np.ndarray:
        start = int(rng.integers(len(self.frames) - length + 1))
        return self.frames[start : start + length]

    def _init_args(self) -> dict[str, Any]:
        return {}


def embedded() -> IntruderSource:
    return pseudoanom.EmbeddedSource(n=8, size=16)


def make_clip(shape: tuple[int, ...], dtype: str, value_range=(-1.0, 1.0), seed: int = 0):
    r = np.random.default_rng(seed)
    if dtype == "uint8":
        return r.integers(0, 256, shape, dtype=np.uint8)
    lo, hi = value_range
    return r.uniform(lo, hi, shape).astype(np.float32)


def _hash(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for arr in arrays:
        arr = np.asarray(arr)
        h.update(f"{arr.dtype}{arr.shape}".encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _digest(results: list[pseudoanom.PseudoAnomaly]) -> dict[str, str]:
    """sha256 of the output clips (with their targets) and of the masks."""
    return {
        "clip": _hash(*[a for r in results for a in (r.clip, r.target)]),
        "mask": _hash(*[r.mask for r in results]),
    }


def _patch_variants() -> Iterator[tuple[str, dict[str, Any], Callable[[], Any]]]:
    """(label, constructor kwargs without intruders, intruder source factory)."""
    for content in ("window", "object"):
        yield f"{content}", {"content": content}, embedded
        yield f"{content}-static", {"content": content, "beta": 0}, embedded
        yield f"{content}-far", {"content": content, "beta": 40, "alpha": 1.0}, embedded
        yield f"{content}-small", {"content": content, "alpha": 0.2, "min_size": 3}, embedded
        yield f"{content}-video", {"content": content}, MovingFrames
    yield (
        "window-cropflip",
        {"content": "window", "crop_scale": (0.5, 0.9), "hflip": True},
        embedded,
    )
    yield "object-nocrop", {"content": "object", "crop_scale": (1.0, 1.0), "hflip": False}, embedded


def cases() -> dict[str, Callable[[], dict[str, str]]]:
    """Label -> a function computing that case's digests."""
    out: dict[str, Callable[[], dict[str, str]]] = {}
    for name in PATCHES:
        for label, kwargs, source in _patch_variants():
            for shape in SHAPES:
                for dtype in DTYPES:
                    key = f"{name}/{label}/{dtype}/{'x'.join(map(str, shape))}"
                    out[key] = lambda n=name, k=kwargs, s=source, sh=shape, d=dtype: _patch_case(
                        n, k, s, sh, d
                    )
        out[f"{name}/window/float32-01/8x32x32x1"] = lambda n=name: _patch_case(
            n, {"value_range": (0.0, 1.0)}, embedded, (8, 32, 32, 1), "float32", (0.0, 1.0)
        )
        out[f"{name}/batch"] = lambda n=name: _batch_case(n)
        for content in ("window", "object"):
            for full in (False, True):
                for dtype in DTYPES:
                    key = f"{name}/apply/{content}{'-footprint' if full else ''}/{dtype}"
                    out[key] = lambda n=name, c=content, f=full, d=dtype: _apply_case(n, c, f, d)
    out["smoothmix_s/albumentations"] = _albumentations_case
    out["smoothmix_s/default-intruders"] = default_intruders_case
    for dtype in DTYPES:
        for steps in ((2, 3, 4, 5), (2,), (3, 7)):
            key = f"skip_frame/{'-'.join(map(str, steps))}/{dtype}"
            out[key] = lambda st=steps, d=dtype: _skip_case(st, d)
        out[f"pipeline/from_video/{dtype}"] = lambda d=dtype: _pipeline_video_case(d)
        for name, label, kwargs in BEYOND:
            for shape in SHAPES:
                key = f"{name}/{label}/{dtype}/{'x'.join(map(str, shape))}"
                out[key] = lambda n=name, k=kwargs, sh=shape, d=dtype: _beyond_case(n, k, sh, d)
            out[f"{name}/{label}/from_video/{dtype}"] = lambda n=name, k=kwargs, d=dtype: (
                _beyond_video_case(n, k, d)
            )
        out[f"pipeline/batch/{dtype}"] = lambda d=dtype: _pipeline_batch_case(d)
    return out


def _patch_case(name, kwargs, source, shape, dtype, value_range=(-1.0, 1.0)):
    tr = pseudoanom.create(name, intruders=source(), **kwargs)
    clip = make_clip(shape, dtype, value_range)
    return _digest([tr(clip, rng=seed) for seed in SEEDS])


def _full_footprint(name: str) -> type:
    """The transform without its separable profiles: blends from the full footprint."""
    cls = pseudoanom.registry.get(name)
    return type(f"Full{cls.__name__}", (cls,), {"profiles": lambda self, size, hw: None})


# Patch centres per frame that put some windows partly or wholly outside a 32 x 32 frame.
CENTERS = {
    "outside": [(-100, -100)] * 6,
    "mixed": [(-100, -100), (5, 5), (40, 40), (31, 0), (0, 31), (16, 16)],
    "edges": [(0, 0), (31, 31), (0, 31), (31, 0), (2, 30), (30, 2)],
}


def _apply_case(name: str, content: str, full: bool, dtype: str) -> dict[str, str]:
    """``sample_params`` then ``apply`` (the public replay), also at hand-picked centres."""
    cls = _full_footprint(name) if full else pseudoanom.registry.get(name)
    tr = cls(intruders=embedded(), content=content)
    clip = make_clip((6, 32, 32, 1), dtype)
    outs = []
    for seed in SEEDS:
        params = tr.sample_params(clip.shape, np.random.default_rng(seed))
        outs.append(tr.apply(clip, **params))
        for centers in CENTERS.values():
            outs.append(tr.apply(clip, **{**params, "centers": np.array(centers)}))
    return {"clip": _hash(*[c for c, _ in outs]), "mask": _hash(*[m for _, m in outs])}


def _batch_case(name: str) -> dict[str, str]:
    tr = pseudoanom.create(name, intruders=embedded())
    batch = make_clip((3, 6, 20, 28, 1), "float32")
    return _digest([tr(batch, rng=np.random.default_rng(11))])


def _albumentations_case() -> dict[str, str]:
    import albumentations as A

    aug = A.Compose([A.HorizontalFlip(p=0.5), A.RandomBrightnessContrast(p=1.0)])
    results = []
    for content, source in (("window", embedded), ("object", embedded), ("window", MovingFrames)):
        tr = pseudoanom.create(
            "smoothmix_s", intruders=source(), intruder_transform=aug, content=content
        )
        for dtype in DTYPES:
            clip = make_clip((8, 32, 32, 3), dtype)
            results += [tr(clip, rng=seed) for seed in SEEDS]
    return _digest(results)


def default_intruders_case() -> dict[str, str]:
    """20 seeded calls of ``smoothmix_s`` with the default (embedded) intruders, both contents.

    The same on every install: tests/test_pseudoanom_install.py runs it where scikit-learn
    cannot be imported and where it can.
    """
    results = []
    for content in ("window", "object"):
        tr = pseudoanom.create("smoothmix_s", content=content)
        for dtype in DTYPES:
            clip = make_clip((8, 48, 48, 1), dtype)
            results += [tr(clip, rng=seed) for seed in range(20)]
    return _digest(results)


# The transforms beyond the paper: (name, label, constructor kwargs).
BEYOND = (
    ("reverse", "whole", {}),
    ("reverse", "segment", {"segment": True, "min_frames": 3}),
    ("freeze", "default", {}),
    ("freeze", "short", {"hold": (2, 3)}),
    ("noise_patch", "default", {}),
    ("noise_patch", "static-1octave", {"beta": 0, "octaves": 1}),
    ("noise_patch", "far-fine", {"alpha": 1.0, "beta": 40, "octaves": 6, "noise_size": 24}),
)


def _beyond_case(name, kwargs, shape, dtype) -> dict[str, str]:
    tr = pseudoanom.create(name, **kwargs)
    clip = make_clip(shape, dtype)
    return _digest([tr(clip, rng=seed) for seed in SEEDS])


def _beyond_video_case(name, kwargs, dtype) -> dict[str, str]:
    tr = pseudoanom.create(name, **kwargs)
    video = make_clip((40, 16, 20, 1), dtype)
    return _digest([tr.from_video(video, s, 8, rng=seed) for seed in SEEDS for s in (0, 9, 32)])


def _skip_case(steps, dtype) -> dict[str, str]:
    tr = pseudoanom.create("skip_frame", steps=steps)
    video = make_clip((40, 16, 20, 1), dtype)
    return _digest([tr.from_video(video, s, 8, rng=seed) for seed in SEEDS for s in (0, 9, 24)])


def _pipeline() -> pseudoanom.Pipeline:
    transforms = [pseudoanom.create(n, intruders=embedded()) for n in PATCHES]
    transforms.append(pseudoanom.create("skip_frame"))
    return pseudoanom.Pipeline(transforms, weights=[1, 2, 1, 1, 3], p=0.7)


def _pipeline_video_case(dtype) -> dict[str, str]:
    pipe = _pipeline()
    video = make_clip((48, 24, 24, 1), dtype)
    results = []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        results += [pipe.from_video(video, s, 8, rng=rng) for s in range(0, 40, 4)]
    return _digest(results)


def _pipeline_batch_case(dtype) -> dict[str, str]:
    pipe = pseudoanom.Pipeline(_pipeline().transforms[:4], weights=[1, 2, 1, 1], p=0.6)
    batch = make_clip((6, 8, 24, 24, 1), dtype)
    return _digest([pipe(batch, rng=s) for s in SEEDS])


def _expected() -> dict[str, Any]:
    return json.loads(DIGESTS.read_text()) if DIGESTS.is_file() else {}


@pytest.mark.parametrize("label", sorted(_expected()))
def test_outputs_are_unchanged(label):
    assert cases()[label]() == _expected()[label]


def test_every_case_is_recorded():
    assert sorted(cases()) == sorted(_expected())


def test_every_built_in_transform_is_covered():
    names = {label.split("/")[0] for label in _expected()}
    builtins = {tr.name for tr in pseudoanom.transforms.BUILTINS}
    assert builtins | {"pipeline"} == names
    assert set(PATCHES) | {"skip_frame", "reverse", "freeze", "noise_patch"} == builtins
    assert builtins <= set(pseudoanom.available())


if __name__ == "__main__":
    if sys.argv[1:] not in (["--write"], ["--add"]):
        raise SystemExit("usage: python tests/test_pseudoanom_digests.py --write | --add")
    # --add records only the cases without a digest and leaves every recorded one as it is.
    table = _expected() if sys.argv[1] == "--add" else {}
    table.update({label: make() for label, make in sorted(cases().items()) if label not in table})
    table = dict(sorted(table.items()))
    DIGESTS.parent.mkdir(parents=True, exist_ok=True)
    DIGESTS.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(table)} digests to {DIGESTS.relative_to(REPO)}")
