"""The trainer's pseudo-anomaly pipeline of every preset and config is bit-identical over time.

For every preset, every ``configs/*.yaml``, every run config kept in ``results/ped2*/``, every
variant of ``benchmarks/ped2_table.py`` (the Fig. 5c cells are flags on top of a config) and
``examples/custom_transform.yaml``, the trainer's pipeline is built as ``train`` builds it and
its samples are hashed: the trainer's own samples (:class:`trainer.input.ClipSampler`) for
a few seeds, and pseudo anomalies forced with ``p = 1``. The expected digests and
``Pipeline.to_dict()`` are in ``tests/data/trainer_pipeline_digests.json``, written from the
code the published numbers were trained with; regenerate them only on purpose:

    python tests/test_trainer_pipeline_digest.py --write

A new run config under ``results/ped2*/`` (a new table or rerun) is recorded without touching
the existing entries by:

    python tests/test_trainer_pipeline_digest.py --add
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DIGESTS = REPO / "tests" / "data" / "trainer_pipeline_digests.json"
INTRUDERS = REPO.parent / "shared" / "datasets" / "intruders"
SEEDS = (0, 1, 2)
POSITIONS = 12  # samples per seed from the trainer's sampler
FORCED_STARTS = (0, 5, 9)  # clip starts of the forced (p = 1) pseudo anomalies per seed
HW = 48  # frame side of the synthetic videos (small: the digest is about the draws)


def _ped2_table():
    spec = importlib.util.spec_from_file_location("ped2_table", REPO / "benchmarks/ped2_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sources() -> dict[str, Any]:
    """Label -> a function returning the resolved ``TrainConfig``."""
    from trainer.config import PRESETS, TrainConfig, load_config, preset

    out: dict[str, Any] = {}
    for name in PRESETS:
        out[f"preset:{name}"] = lambda name=name: preset(name)
    for path in sorted((REPO / "configs").glob("*.yaml")):
        out[f"configs/{path.name}"] = lambda path=path: load_config(yaml_path=path)
    for path in sorted(REPO.glob("results/ped2*/*.config.yaml")):
        label = str(path.relative_to(REPO))
        out[label] = lambda path=path: TrainConfig.from_yaml(path)
    table = _ped2_table()
    args = table.parse_args([])
    for variant in table.VARIANTS:
        out[f"ped2_table:{variant}"] = lambda v=variant: TrainConfig.from_dict(
            table.expected_config(args, v, 0)
        )
    out["examples/custom_transform.yaml"] = lambda: load_config(
        yaml_path=REPO / "examples/custom_transform.yaml"
    )
    return out


def _videos(channels: int) -> list[np.ndarray]:
    rng = np.random.default_rng(12345)
    return [rng.integers(0, 256, (40, HW, HW, channels), dtype=np.uint8) for _ in range(2)]


def digest(config) -> dict[str, Any]:
    """``to_dict`` of the trainer's pipeline for ``config`` and sha256 of its samples."""
    import pseudoanom
    from trainer.input import ClipSampler, build_pseudo_pipeline

    pipe = build_pseudo_pipeline(config)
    vids = _videos(config.channels)
    h = hashlib.sha256()
    for seed in SEEDS:
        sampler = ClipSampler(vids, config.clip_length, pipe, seed)
        for pos in range(POSITIONS):
            x, y, flag = sampler.sample(0, pos)
            h.update(x.tobytes() + y.tobytes() + np.float32(flag).tobytes())
    forced = hashlib.sha256()
    if pipe is not None:
        always = pseudoanom.Pipeline(pipe.transforms, weights=pipe.weights, p=1.0)
        for seed in SEEDS:
            for start in FORCED_STARTS:
                rng = np.random.default_rng([seed, start])
                res = always.from_video(vids[0], start, config.clip_length, rng=rng)
                for arr in (res.clip, res.target, np.asarray(res.mask, np.float32)):
                    forced.update(np.ascontiguousarray(arr).tobytes())
    return {
        "pipeline": None if pipe is None else pipe.to_dict(),
        "samples_sha256": h.hexdigest(),
        "forced_sha256": forced.hexdigest() if pipe is not None else None,
    }


def _expected() -> dict[str, Any]:
    return json.loads(DIGESTS.read_text()) if DIGESTS.is_file() else {}


pytestmark = pytest.mark.skipif(
    not INTRUDERS.is_dir(), reason="needs ../shared/datasets/intruders (the configs' intruders)"
)


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    # The configs name their intruders relative to the repository root.
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize("label", sorted(_expected()))
def test_pipeline_output_is_unchanged(label):
    want = _expected()[label]
    got = json.loads(json.dumps(digest(sources()[label]())))
    assert got["pipeline"] == want["pipeline"]
    assert got["samples_sha256"] == want["samples_sha256"]
    assert got["forced_sha256"] == want["forced_sha256"]


def test_every_source_is_recorded():
    missing = sorted(set(sources()) - set(_expected()))
    stale = sorted(set(_expected()) - set(sources()))
    assert not missing, (
        f"not recorded in {DIGESTS.name}: {missing}; "
        "record them with `python tests/test_trainer_pipeline_digest.py --add`"
    )
    assert not stale, f"recorded in {DIGESTS.name} but no longer a source: {stale}"


if __name__ == "__main__":
    if sys.argv[1:] not in (["--write"], ["--add"]):
        raise SystemExit("usage: python tests/test_trainer_pipeline_digest.py --write | --add")
    import os

    os.chdir(REPO)
    sys.path.insert(0, str(REPO))
    table = _expected() if sys.argv[1] == "--add" else {}
    made = {
        label: json.loads(json.dumps(digest(make())))
        for label, make in sorted(sources().items())
        if label not in table
    }
    table.update(made)
    DIGESTS.parent.mkdir(parents=True, exist_ok=True)
    DIGESTS.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(made)} digests ({len(table)} in all) to {DIGESTS.relative_to(REPO)}")
