"""The per-dataset configs of Table 1: Avenue and ShanghaiTech next to Ped2.

The authors' code trains every dataset with the same flags (its README gives them for Ped2), so
each ``{paper,cpu}_{avenue,shanghaitech}_{row}.yaml`` must equal its Ped2 twin but for the
dataset and the run folder; ``--data`` (an override) points it at a user's copy.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from trainer.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CASES = [
    (kind, dataset, row)
    for kind in ("paper", "cpu")
    for dataset in ("avenue", "shanghaitech")
    for row in ("baseline", "patch", "skip")
]


@pytest.mark.parametrize("kind,dataset,row", CASES, ids=["_".join(c) for c in CASES])
def test_dataset_config_is_its_ped2_twin_but_for_the_data(kind, dataset, row):
    config = load_config(yaml_path=CONFIGS / f"{kind}_{dataset}_{row}.yaml")
    twin = load_config(yaml_path=CONFIGS / f"{kind}_ped2_{row}.yaml")
    assert config.data.endswith(dataset) and config.out == f"runs/{kind}_{dataset}_{row}"
    differ = {
        f.name
        for f in dataclasses.fields(config)
        if getattr(config, f.name) != getattr(twin, f.name)
    }
    assert differ == {"data", "out"}
    assert config.label_source == "frame_labels"  # the labels published AUCs use


def test_data_override_points_a_config_at_a_users_copy(tmp_path):
    config = load_config(
        yaml_path=CONFIGS / "paper_avenue_patch.yaml", overrides={"data": str(tmp_path)}
    )
    assert config.data == str(tmp_path) and config.p == 0.2
