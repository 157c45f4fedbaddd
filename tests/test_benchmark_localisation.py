"""benchmarks/ped2_localisation.py: run names, reuse of finished evaluations, aggregation."""

from __future__ import annotations

import importlib.util
import json
import statistics
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    path = REPO / "benchmarks/ped2_localisation.py"
    spec = importlib.util.spec_from_file_location("ped2_localisation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_run(root: Path, name: str, micro: float, rbdc: float, evaluated: bool = True) -> Path:
    """A finished run whose localisation evaluation exists already (so nothing is computed)."""
    run = root / name
    (run / "evaluation").mkdir(parents=True)
    own = {"micro_auc": micro, "commit": "abc1234"}
    (run / "evaluation" / "summary.json").write_text(json.dumps(own))
    if evaluated:
        (run / "localisation").mkdir()
        loc = {k: 0.5 for k in ("pixel_auc", "pixel_ap", "ucsd_pixel_auc", "ucsd_pixel_eer")}
        loc.update(rbdc=rbdc, tbdc=None, seconds=1.0, params={"iou": 0.1})
        mine = {"micro_auc": micro, "macro_auc": 0.7, "macro_auc_padded": 0.8, "commit": "def"}
        mine.update(localisation=loc, eval_seconds=2.0, backend={"backend": "tensorflow"})
        (run / "localisation" / "summary.json").write_text(json.dumps(mine))
    return run


def test_run_names(bench):
    assert bench.parse_name("patch_object-s4") == ("patch_object", 4)
    assert bench.parse_name("baseline-s1@torch") == ("baseline@torch", 1)
    with pytest.raises(ValueError, match="not <variant>-s<seed>"):
        bench.parse_name("baseline")


def test_table_from_finished_runs(bench, tmp_path, capsys):
    runs = [
        fake_run(tmp_path, "patch-s0", 0.80, 0.30),
        fake_run(tmp_path, "patch-s1", 0.82, 0.40),
        fake_run(tmp_path, "skip-s2", 0.79, 0.20),
    ]
    (tmp_path / "skip-s3").mkdir()  # still training: skipped
    results = tmp_path / "results"
    argv = [*map(str, runs), str(tmp_path / "skip-s3"), "--results", str(results)]
    assert bench.main(argv) == 0
    assert "skip-s3: not finished" in capsys.readouterr().out
    doc = json.loads((results / "localisation.json").read_text())
    assert [r["run"] for r in doc["runs"]] == ["patch-s0", "patch-s1", "skip-s2"]
    patch = doc["table"]["patch"]
    assert patch["seeds"] == [0, 1] and patch["rbdc"]["n"] == 2
    assert patch["rbdc"]["mean"] == pytest.approx(0.35)
    assert patch["rbdc"]["std"] == pytest.approx(statistics.stdev([0.3, 0.4]))
    assert doc["table"]["skip"]["rbdc"]["std"] is None  # one seed: no spread
    assert doc["table"]["skip"]["tbdc"] == {"mean": None, "std": None, "n": 0}
    md = (results / "localisation.md").read_text()
    assert "| patch | 0,1 | 81.00 ± 1.41 |" in md and "| skip | 2 | 79.00 |" in md
    assert "| patch-s0 | abc1234 | 80.00 |" in md


def test_a_run_without_localisation_metrics_is_an_error(bench, tmp_path):
    run = fake_run(tmp_path, "patch-s0", 0.8, 0.3)
    summary = run / "localisation" / "summary.json"
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "localisation": None}))
    with pytest.raises(SystemExit, match="no localisation metrics"):
        bench.main([str(run), "--results", str(tmp_path / "r")])
