"""TrainConfig: presets, YAML, overrides, unknown keys and type/range checks (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trainer.config import (
    PRESETS,
    ConfigError,
    TrainConfig,
    load_config,
    parse_override,
    preset,
    valid_keys,
)

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_defaults_are_the_paper_setting():
    c = TrainConfig()
    assert (c.size, c.channels, c.clip_length, c.width) == ((256, 256), 1, 16, 1.0)
    assert (c.batch_size, c.epochs, c.lr, c.p) == (4, 60, 1e-4, 0.2)
    assert c.pipeline == {
        "name": "pipeline",
        "params": {
            "transforms": [{"name": "smoothmix_s", "params": {"alpha": 0.5, "beta": 10.0}}],
            "weights": [1.0],
            "p": 0.2,
        },
    }
    assert preset("paper") == c


def test_presets_are_valid_and_small_where_they_should_be():
    assert set(PRESETS) == {"paper", "cpu", "smoke"}
    cpu, smoke = preset("cpu"), preset("smoke")
    assert cpu.size[0] * cpu.size[1] < 256 * 256 and cpu.width < 1
    assert smoke.size == (32, 32) and smoke.epochs <= 2 and smoke.steps_per_epoch
    with pytest.raises(ConfigError, match="unknown preset 'gpu'"):
        preset("gpu")


def test_unknown_key_names_it_and_lists_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict({"epoch": 3})
    msg = str(err.value)
    assert "'epoch'" in msg
    for key in valid_keys():
        assert key in msg
    with pytest.raises(ConfigError, match="'lerning_rate'"):
        parse_override("lerning_rate=0.1")


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("epochs", "ten", "expected int"),
        ("epochs", 2.5, "expected int"),
        ("epochs", True, "expected int"),
        ("lr", "fast", "expected float"),
        ("p", 1.5, r"\[0, 1\]"),
        ("size", (60, 64), "multiples of 16"),
        ("size", (64,), "2 values"),
        ("clip_length", 12, "multiple of 8"),
        ("channels", 2, "1 or 3"),
        ("mixed_precision", "maybe", "expected bool"),
        ("transforms", "smoothmix_s", "expected list"),
        ("transforms", [{"name": "x", "weight": -1}], "weight"),
        ("transforms", [{"name": "x", "prams": {}}], "prams"),
        ("batch_size", 0, ">= 1"),
        ("pseudo_objective", "steal", "reconstruct_normal, push_away"),
        ("pseudo_objective", None, "expected str"),
        ("push_away_margin", 0.0, "> 0"),
        ("push_away_margin", 0.5, "only applies with pseudo_objective 'push_away'"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(key, value, match):
    with pytest.raises(ConfigError, match=match) as err:
        TrainConfig.from_dict({key: value})
    assert key in str(err.value)


def test_command_line_strings_are_coerced():
    overrides = dict(
        parse_override(s)
        for s in ("size=96,96", "epochs=3", "lr=2e-4", "data=null", "mixed_precision=true")
    )
    c = load_config("cpu", overrides=overrides)
    assert c.size == (96, 96) and c.epochs == 3 and c.lr == 2e-4
    assert c.data is None and c.mixed_precision is True
    assert c.width == preset("cpu").width  # the rest comes from the preset
    key, value = parse_override("pipeline={name: pipeline, params: {transforms: [skip_frame]}}")
    c = TrainConfig.from_dict({key: value})
    assert c.pipeline["params"] == {
        "transforms": [{"name": "skip_frame", "params": {}}],
        "weights": [1.0],
        "p": 0.2,
    }
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("epochs")


def test_yaml_round_trip_and_precedence(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"preset": "smoke", "epochs": 2, "seed": 5}))
    c = load_config(yaml_path=path)
    assert c.size == preset("smoke").size and c.epochs == 2 and c.seed == 5
    # an explicit preset wins over the YAML's, overrides win over both
    c2 = load_config("cpu", path, {"seed": 9})
    assert c2.size == preset("cpu").size and c2.epochs == 2 and c2.seed == 9
    saved = c2.to_yaml(tmp_path / "saved.yaml")
    assert TrainConfig.from_yaml(saved) == c2


def test_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(yaml_path=tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(yaml_path=bad)
    typo = tmp_path / "typo.yaml"
    typo.write_text("epochz: 3\n")
    with pytest.raises(ConfigError, match="'epochz'"):
        load_config(yaml_path=typo)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_example_configs_load(path):
    c = load_config(yaml_path=path)
    assert c.data and c.out.startswith("runs/")
    if "baseline" in path.name:
        assert c.p == 0


def test_example_configs_exist():
    names = {p.name for p in CONFIGS}
    assert {"paper_ped2_patch.yaml", "paper_ped2_skip.yaml", "cpu_ped2_patch.yaml"} <= names
    assert any("baseline" in n for n in names)


def _pipe(*transforms, weights=None, p=0.2) -> dict:
    entries = [{"name": n, "params": params} for n, params in transforms]
    weights = weights or [1.0] * len(entries)
    return {"name": "pipeline", "params": {"transforms": entries, "weights": weights, "p": p}}


def test_old_form_becomes_the_pipeline_key():
    old = {
        "p": 0.3,
        "transforms": [
            {"name": "smoothmix_s", "params": {"alpha": 0.5}, "weight": 2},
            {"name": "skip_frame", "params": {"steps": [2, 3]}},
        ],
        "intruders": "some/folder",
    }
    c = TrainConfig.from_dict(old)
    assert c.pipeline == _pipe(
        ("smoothmix_s", {"alpha": 0.5, "intruders": "some/folder"}),  # skip_frame takes none
        ("skip_frame", {"steps": [2, 3]}),
        weights=[2.0, 1.0],
        p=0.3,
    )
    assert c.p == 0.3
    saved = c.to_dict()
    assert not set(saved) & {"p", "transforms", "intruders"}  # written in the new form only
    assert TrainConfig.from_dict(saved) == c
    # "embedded" is the library's default (no intruders entry); cifar100:<path> a source dict
    assert TrainConfig.from_dict({**old, "intruders": "embedded"}).pipeline == _pipe(
        ("smoothmix_s", {"alpha": 0.5}), ("skip_frame", {"steps": [2, 3]}), weights=[2, 1], p=0.3
    )
    c = TrainConfig.from_dict({**old, "intruders": "cifar100:/data/c.tar.gz"})
    spec = c.pipeline["params"]["transforms"][0]["params"]["intruders"]
    assert spec == {"kind": "cifar100", "path": "/data/c.tar.gz"}
    # a transform that names its own intruders keeps them
    own = {"name": "cutmix", "params": {"intruders": "mine"}}
    c = TrainConfig.from_dict({"transforms": [own], "intruders": "other"})
    assert c.pipeline["params"]["transforms"][0]["params"]["intruders"] == "mine"
    # p = 0 with no transforms: no pipeline
    assert TrainConfig.from_dict({"p": 0, "transforms": []}).pipeline is None
    with pytest.raises(ConfigError, match="'transforms'.*at least one"):
        TrainConfig.from_dict({"transforms": []})


def test_old_keys_on_top_of_a_new_pipeline_as_the_command_line_gives_them():
    base = TrainConfig.from_dict(
        {"pipeline": _pipe(("smoothmix_s", {"alpha": 0.5, "intruders": "cifar"}))}
    )
    # --transform: the new transforms take the intruders the pipeline's patches share
    c = base.replace(transforms=[{"name": "cutmix", "params": {"beta": 2.0}}])
    assert c.pipeline == _pipe(("cutmix", {"beta": 2.0, "intruders": "cifar"}))
    # --set intruders=...: every patch transform's intruders
    c = base.replace(intruders="imagenet")
    assert c.pipeline == _pipe(("smoothmix_s", {"alpha": 0.5, "intruders": "imagenet"}))
    assert base.replace(intruders="embedded").pipeline == _pipe(("smoothmix_s", {"alpha": 0.5}))
    # --p, and --p on a config without a pipeline (the paper's transform, as before)
    assert base.replace(p=0.5).pipeline["params"]["p"] == 0.5
    none = base.replace(pipeline=None)
    assert none.p == 0 and none.pipeline is None
    assert none.replace(p=0.2) == TrainConfig()


def _params(**params) -> dict:
    return {"name": "pipeline", "params": params}


@pytest.mark.parametrize(
    ("pipeline", "match"),
    [
        ("not/a/file.yaml", "does not exist"),
        ([1, 2], r"got list \[1, 2\]"),
        ({"name": "smoothmix_s", "params": {}}, "'name' must be 'pipeline'"),
        (_params(transforms=[]), "non-empty list"),
        (_params(transform=["cutmix"]), r"unknown keys \['transform'\]"),
        (_params(transforms=["cutmix"], p=2), r"params.p .*\[0, 1\]"),
        (_params(transforms=["cutmix"], weights=[1, 2]), "2 entries"),
        (_params(transforms=[{"name": "cutmix", "weight": 2}]),
         r"transforms\[0\]: unknown keys \['weight'\].*params.weights"),
        (_params(transforms=[{"name": "cutmix", "params": 3}]),
         r"transforms\[0\]: 'params' must be a mapping"),
    ],
)  # fmt: skip
def test_a_malformed_pipeline_names_the_key_the_part_and_the_file(tmp_path, pipeline, match):
    with pytest.raises(ConfigError, match=match) as err:
        TrainConfig.from_dict({"pipeline": pipeline})
    assert "config key 'pipeline'" in str(err.value)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"preset": "smoke", "pipeline": pipeline}))
    for load in (lambda: load_config(yaml_path=path), lambda: TrainConfig.from_yaml(path)):
        with pytest.raises(ConfigError, match=match) as err:
            load()
        assert str(err.value).startswith(f"config file {path}: config key 'pipeline'")


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_example_configs_use_the_pipeline_key(path):
    d = yaml.safe_load(path.read_text())
    assert "pipeline" in d and not set(d) & {"p", "transforms", "intruders"}


def test_resume_config_is_the_saved_one_with_only_mutable_keys_changed(tmp_path):
    from trainer import checkpoint
    from trainer.config import (
        RESUME_MUTABLE_KEYS,
        RUN_CONFIG_FILE,
        ConfigError,
        resume_config,
        saved_run_config,
    )

    assert RUN_CONFIG_FILE == checkpoint.CONFIG_FILE
    assert saved_run_config(tmp_path) is None
    saved = preset("smoke").replace(out=str(tmp_path))
    saved.to_yaml(tmp_path / RUN_CONFIG_FILE)
    assert saved_run_config(tmp_path) == saved
    assert "epochs" in RESUME_MUTABLE_KEYS
    assert resume_config(tmp_path, saved.replace(epochs=3)) == saved.replace(epochs=3)
    with pytest.raises(ConfigError, match=r"other values of lr, seed \(saved: lr=.*, seed=0\)"):
        resume_config(tmp_path, saved.replace(seed=5, lr=0.5))
