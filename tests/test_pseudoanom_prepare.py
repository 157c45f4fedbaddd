"""Intruders are decoded and checked when a pipeline is built, and an input error ends a run.

Library: ``IntruderSource.prepare`` / ``Transform.prepare`` / ``Pipeline.prepare`` decode every
intruder and raise the one-line ``IntruderSourceError`` that ``pseudoanom preview`` gives (a
corrupt PNG, a float TIFF with NaN). Trainer (subprocesses, generated data, ``--preset
smoke``): ``train`` stops with exit 2 and that line before the first step, and an error raised
inside the tf.data input pipeline mid-fit ends the process instead of leaving it hanging.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

import pseudoanom
from pseudoanom.__main__ import main as pseudoanom_main

REPO = Path(__file__).resolve().parents[1]


def _images(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        cv2.imwrite(str(folder / f"ok{i}.png"), rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
    return folder


def _corrupt_png(folder: Path) -> Path:
    bad = _images(folder) / "zz_bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"truncated")
    return bad


def _nan_tiff(folder: Path) -> Path:
    bad = _images(folder) / "zz_nan.tiff"
    img = np.full((12, 12, 3), np.nan, np.float32)
    assert cv2.imwrite(str(bad), img)
    return bad


@pytest.mark.parametrize("make_bad", [_corrupt_png, _nan_tiff])
def test_prepare_names_the_bad_file(tmp_path, make_bad):
    bad = make_bad(tmp_path / "intr")
    src = pseudoanom.ImageFolderSource(tmp_path / "intr")  # lists, decodes nothing yet
    tr = pseudoanom.create("smoothmix_s", intruders=src)
    pipe = pseudoanom.Pipeline([tr, "skip_frame"])
    for obj in (src, tr, pipe):
        with pytest.raises(pseudoanom.IntruderSourceError, match="cannot decode") as err:
            obj.prepare()
        assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_prepare_gives_the_line_of_preview(tmp_path, capsys):
    _corrupt_png(tmp_path / "intr")
    frames = _images(tmp_path / "frames", 20)
    rc = pseudoanom_main(
        ["preview", "--frames", str(frames), "--intruders", str(tmp_path / "intr"),
         "--out", str(tmp_path / "p.png"), "--size", "32", "--length", "8"]
    )  # fmt: skip
    assert rc == 2
    line = capsys.readouterr().err.strip()
    with pytest.raises(pseudoanom.IntruderSourceError) as err:
        pseudoanom.Pipeline([pseudoanom.create("cutmix", intruders=tmp_path / "intr")]).prepare()
    assert line == f"error: {err.value}"


def test_prepare_of_good_sources_returns_them_and_checks_once(tmp_path):
    src = pseudoanom.ImageFolderSource(_images(tmp_path / "intr"))
    pipe = pseudoanom.Pipeline(
        [pseudoanom.create(n, intruders=src) for n in ("cutmix", "mixup_patch")] + ["skip_frame"]
    )
    assert pipe.prepare() is pipe and src.prepare() is src
    assert len(src._cache) == 3  # decoded into the cache
    (tmp_path / "intr" / "ok0.png").write_bytes(b"gone bad after the check")
    assert pipe.prepare() is pipe  # checked already: not decoded again
    assert pseudoanom.create("smoothmix_s").prepare().intruders.prepare() is not None


# --- the trainer, in subprocesses -----------------------------------------------------------

keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from trainer.synthetic import make_synthetic_dataset

    root = tmp_path_factory.mktemp("data") / "tiny"
    return make_synthetic_dataset(root, n_train=2, n_test=2, frames=40, size=(32, 32))


def _train(tiny: Path, tmp_path: Path, pipeline: dict, imports=(), timeout: float = 300):
    cfg = {"pipeline": pipeline, "imports": list(imports), "cache_dir": str(tmp_path / "cache")}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "trainer", "train", "--preset", "smoke", "--data", str(tiny),
           "--config", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "run")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _pipeline(name: str, **params) -> dict:
    return {
        "name": "pipeline",
        "params": {"transforms": [{"name": name, "params": params}], "p": 0.5},
    }


def test_train_stops_before_the_first_step_on_a_corrupt_intruder(tiny, tmp_path):
    bad = _corrupt_png(tmp_path / "intr")
    proc = _train(tiny, tmp_path, _pipeline("smoothmix_s", intruders=str(tmp_path / "intr")))
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: config key 'pipeline'") and str(bad) in last
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "checkpoint").exists()


# A transform that fails on some samples, inside the tf.data map, after training started,
# while slow samples are still in flight: the process then hung at exit without the fix in
# trainer/__main__.py (1 run in 4 without the delay).
FAILING = """
    import time

    import numpy as np
    import pseudoanom

    @pseudoanom.register("fails_mid_fit")
    class FailsMidFit(pseudoanom.Transform):
        def __init__(self, value_range=(-1.0, 1.0)):
            self.value_range = value_range

        def sample_params(self, shape, rng):
            return {"fail": bool(rng.random() < 0.3)}

        def apply(self, clip, fail):
            if fail:
                raise RuntimeError("fails_mid_fit: a sample of the input pipeline failed")
            time.sleep(0.3)  # the other samples are still in flight when one fails
            return clip.copy(), np.zeros(clip.shape[:3], np.float32)
"""


@pytest.mark.slow
def test_an_error_inside_the_input_pipeline_ends_the_process(tiny, tmp_path):
    (tmp_path / "failing_transform.py").write_text(textwrap.dedent(FAILING))
    pipe = _pipeline("fails_mid_fit")
    pipe["params"]["p"] = 1.0
    try:
        proc = _train(tiny, tmp_path, pipe, imports=["failing_transform"], timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail("train hung after an error in the input pipeline")
    assert proc.returncode != 0
    assert "fails_mid_fit: a sample of the input pipeline failed" in proc.stderr
