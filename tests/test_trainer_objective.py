"""``pseudo_objective: push_away`` (STEAL) through a whole ``train`` run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer.config import TrainConfig, preset
from trainer.train import train


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from trainer.synthetic import make_synthetic_dataset

    root = tmp_path_factory.mktemp("data") / "tiny"
    return make_synthetic_dataset(root, n_train=3, n_test=2, frames=64, size=(32, 32))


def test_push_away_config_round_trips(tmp_path):
    cfg = preset("smoke").replace(pseudo_objective="push_away", push_away_margin=0.5)
    again = TrainConfig.from_yaml(cfg.to_yaml(tmp_path / "c.yaml"))
    assert (again.pseudo_objective, again.push_away_margin) == ("push_away", 0.5)
    assert preset("paper").pseudo_objective == "reconstruct_normal"


@pytest.mark.slow
def test_push_away_smoke_run_finishes_and_logs_both_losses(dataset, tmp_path):
    pipeline = {"name": "pipeline", "params": {"transforms": ["skip_frame"], "p": 0.5}}
    cfg = preset("smoke").replace(
        data=str(dataset),
        out=str(tmp_path / "run"),
        cache_dir=str(tmp_path / "cache"),
        epochs=1,
        pipeline=pipeline,
        pseudo_objective="push_away",
    )
    train(cfg, verbose=0, evaluate=False)
    # resumed from the checkpoint, which keeps no objective: the config's applies again
    run = train(cfg.replace(epochs=2), resume=True, verbose=0)
    history = json.loads((run / "history.json").read_text())
    assert len(history["normal_loss"]) == len(history["pseudo_loss"]) == 2
    assert all(v > 0 for v in history["normal_loss"])
    assert all(v < 0 for v in history["pseudo_loss"])  # -MSE(AE(X^P), X^P)
    summary = json.loads((run / "evaluation" / "summary.json").read_text())
    assert 0 <= summary["micro_auc"] <= 1


CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# New Ped2 config -> (its twin, what may differ besides `out` and the pipeline's transforms).
TWINS = {
    "cpu_ped2_reverse.yaml": ("cpu_ped2_skip.yaml", {}),
    "cpu_ped2_freeze.yaml": ("cpu_ped2_skip.yaml", {}),
    "cpu_ped2_noise_patch.yaml": ("cpu_ped2_patch.yaml", {}),
    "cpu_ped2_steal.yaml": ("cpu_ped2_skip.yaml", {"pseudo_objective": "push_away", "p": 0.01}),
    "cpu_ped2_skip_push_away.yaml": ("cpu_ped2_skip.yaml", {"pseudo_objective": "push_away"}),
}


@pytest.mark.parametrize("name", sorted(TWINS))
def test_ped2_configs_are_twins_of_the_paper_rows(name, monkeypatch):
    from trainer.config import load_config

    monkeypatch.chdir(CONFIGS.parent)  # intruder paths are relative to the repository
    twin, differs = TWINS[name]
    mine, theirs = (load_config(yaml_path=CONFIGS / n).to_dict() for n in (name, twin))
    assert mine["out"] == f"runs/{name.removesuffix('.yaml')}"
    assert mine["pipeline"]["params"]["p"] == differs.get("p", 0.2)
    if name == "cpu_ped2_steal.yaml":  # STEAL's transform is the skip frame itself
        transforms = [d["pipeline"]["params"]["transforms"] for d in (mine, theirs)]
        assert transforms[0] == transforms[1]
    for d in (mine, theirs):
        d.pop("out"), d.pop("pipeline")
    assert mine == {**theirs, **{k: v for k, v in differs.items() if k != "p"}}
