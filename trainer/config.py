"""Training configuration: the :class:`TrainConfig` dataclass, presets, YAML and overrides.

Precedence, lowest first: the dataclass defaults (= the ``paper`` preset), a named preset, a YAML
file (which may itself name a ``preset:``), then explicit overrides (CLI flags and ``--set``).
Every key is checked against the dataclass fields (an unknown key is an error that lists the
valid ones) and every value is type-checked and range-checked.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "PRESETS",
    "RESUME_MUTABLE_KEYS",
    "STRATEGIES",
    "ConfigError",
    "TrainConfig",
    "load_config",
    "parse_override",
    "preset",
]


# Names of the tf.distribute set-ups of trainer.distribute.
STRATEGIES = ("default", "mirrored", "multiworker")


class ConfigError(ValueError):
    """An unknown key, a badly typed value or a value out of range in a training config."""


def default_transforms() -> list[dict[str, Any]]:
    """The paper's patch pseudo anomaly: SmoothMix-S (alpha 0.5, beta 10) with intruder images."""
    return [{"name": "smoothmix_s", "params": {"alpha": 0.5, "beta": 10.0}, "weight": 1.0}]


@dataclass
class TrainConfig:
    """Everything a training run depends on; saved as ``config.yaml`` in the run directory.

    The defaults are the paper's setting (Astrid et al., BMVC 2021, Sec. 4.1).

    Attributes
    ----------
    data : str or None
        Dataset root (see :mod:`trainer.data`); ``None`` = the embedded synthetic dataset.
    train_split, test_split : str
        Split names passed to :func:`trainer.data.load_split`.
    size : tuple of int
        Frame size ``(H, W)``; both multiples of 16 (the encoder halves them four times).
    channels : int
        1 (grayscale) or 3.
    clip_length : int
        T, frames per clip; a multiple of 8.
    width : float
        Channel multiplier of the autoencoder (1.0 = 96/128/256/256 channels).
    batch_size : int
        Clips per step and replica: a step consumes ``batch_size * replicas`` clips under a
        ``mirrored`` or ``multiworker`` strategy (see :mod:`trainer.distribute`).
    epochs : int
        Passes over every training clip.
    lr : float
        Adam learning rate.
    seed : int
        Seeds weights, clip order and every pseudo anomaly.
    p : float
        Probability that a training sample is a pseudo anomaly (0 = plain autoencoder).
    imports : list of str
        Python modules imported before the transforms are built, so a transform registered
        with ``@pseudoanom.register`` in a user's module can be named in ``transforms``.
    transforms : list of dict
        ``{name, params, weight}`` per pseudoanom transform; one is drawn per pseudo anomaly
        with probability proportional to ``weight``.
    intruders : str
        Intruder images for patch transforms: ``"embedded"``, an image folder, or
        ``"cifar100:<path>"``; used when a transform's params do not name intruders themselves.
    out : str
        Run directory (checkpoints, logs, model, results).
    mixed_precision : bool
        Train under the ``mixed_float16`` policy (GPU).
    steps_per_epoch : int or None
        Cap on the steps of an epoch (``None`` = every clip once).
    eval_pad_edges : bool
        Give the first/last frames of each test video a score too (see trainer.evaluation).
    eval_batch_size : int
        Clips per forward pass when scoring.
    cache_dir : str or None
        Decoded-frame cache (and where the synthetic dataset is generated).
    num_parallel_calls : int
        Parallel pseudo-anomaly workers in tf.data, or sample threads under a non-TensorFlow
        Keras backend (0 = AUTOTUNE / one per CPU).
    strategy : str
        ``default`` (one device), ``mirrored`` (every local GPU) or ``multiworker`` (one
        process per host, ``TF_CONFIG``); see :mod:`trainer.distribute`.
    replicas : int
        ``mirrored``: 0 = every local GPU; N = the first N GPUs, or, without a GPU, the CPU
        split into N logical devices.
    time_limit_s : float or None
        Stop after the last epoch that is expected to end within this many seconds of training
        (the run is checkpointed as usual and ``--resume`` with a larger limit continues it);
        ``None`` = train all ``epochs``.
    """

    data: str | None = None
    train_split: str = "training"
    test_split: str = "testing"
    size: tuple[int, int] = (256, 256)
    channels: int = 1
    clip_length: int = 16
    width: float = 1.0
    batch_size: int = 4
    epochs: int = 60
    lr: float = 1e-4
    seed: int = 0
    p: float = 0.2
    imports: list[str] = field(default_factory=list)
    transforms: list[dict[str, Any]] = field(default_factory=default_transforms)
    intruders: str = "embedded"
    out: str = "runs/train"
    mixed_precision: bool = False
    steps_per_epoch: int | None = None
    eval_pad_edges: bool = False
    eval_batch_size: int = 8
    cache_dir: str | None = ".cache/pseudoanom"
    num_parallel_calls: int = 0
    strategy: str = "default"
    replicas: int = 0
    time_limit_s: float | None = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(f.name, getattr(self, f.name), _hints()[f.name]))
        self.transforms = [_check_transform(i, t) for i, t in enumerate(self.transforms)]
        self._check_ranges()

    def _check_ranges(self) -> None:
        def need(ok: bool, key: str, rule: str) -> None:
            if not ok:
                raise ConfigError(f"config key {key!r} = {getattr(self, key)!r}: {rule}")

        need(all(s > 0 and s % 16 == 0 for s in self.size), "size", "need H, W multiples of 16")
        need(self.channels in (1, 3), "channels", "must be 1 or 3")
        need(self.clip_length > 0 and self.clip_length % 8 == 0, "clip_length", "multiple of 8")
        need(self.width > 0, "width", "must be > 0")
        need(self.batch_size >= 1, "batch_size", "must be >= 1")
        need(self.epochs >= 1, "epochs", "must be >= 1")
        need(self.lr > 0, "lr", "must be > 0")
        need(0.0 <= self.p <= 1.0, "p", "must be in [0, 1]")
        need(self.seed >= 0, "seed", "must be >= 0")
        need(bool(self.transforms) or self.p == 0, "transforms", "need at least one when p > 0")
        need(self.steps_per_epoch is None or self.steps_per_epoch >= 1, "steps_per_epoch", ">= 1")
        need(self.eval_batch_size >= 1, "eval_batch_size", "must be >= 1")
        need(self.num_parallel_calls >= 0, "num_parallel_calls", "must be >= 0 (0 = AUTOTUNE)")
        need(self.time_limit_s is None or self.time_limit_s > 0, "time_limit_s", "must be > 0")
        need(self.strategy in STRATEGIES, "strategy", f"must be one of {', '.join(STRATEGIES)}")
        need(self.replicas >= 0, "replicas", "must be >= 0 (0 = every local GPU)")
        # Each worker times itself, so they could stop after different epochs and deadlock.
        need(
            self.time_limit_s is None or self.strategy != "multiworker",
            "time_limit_s",
            "is not supported with strategy 'multiworker' (set epochs instead)",
        )

    # ------------------------------------------------------------------ conversions

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-safe dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["size"] = list(self.size)
        return d

    def to_yaml(self, path: str | Path) -> Path:
        """Write the config to ``path`` as YAML; returns the path."""
        path = Path(path)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path

    @classmethod
    def from_dict(cls, d: dict[str, Any], base: TrainConfig | None = None) -> TrainConfig:
        """``base`` (default: the paper defaults) with the keys of ``d`` replaced.

        Raises
        ------
        ConfigError
            ``d`` has a key that is not a config field (the message lists the valid keys), or
            a value of the wrong type or out of range.
        """
        if not isinstance(d, dict):
            raise ConfigError(f"a config must be a mapping of keys to values, got {type(d)}")
        check_keys(d)
        values = (base or cls()).to_dict()
        values.update(d)
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path, base: TrainConfig | None = None) -> TrainConfig:
        """Read a YAML config; a top-level ``preset:`` key picks the base preset."""
        d = read_yaml(path)
        if "preset" in d:
            base = preset(d.pop("preset"))
        return cls.from_dict(d, base)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some keys changed (checked like any other override)."""
        return TrainConfig.from_dict(changes, base=self)


def valid_keys() -> list[str]:
    """The config keys, in declaration order."""
    return [f.name for f in dataclasses.fields(TrainConfig)]


def check_keys(d: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the first key of ``d`` that is not a config field."""
    for key in d:
        if key not in valid_keys():
            raise ConfigError(f"unknown config key {key!r}; valid keys: {', '.join(valid_keys())}")


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Load a YAML mapping; a missing file or non-mapping content is a :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        d = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from None
    if not isinstance(d, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values")
    return d


# ---------------------------------------------------------------------- presets

PRESETS: dict[str, dict[str, Any]] = {
    # The paper's setting (Sec. 4.1): 256x256, T 16, batch 4, Adam 1e-4, 60 epochs.
    "paper": {},
    # Fits 2 CPU cores: Ped2 at 64x64 with a quarter-width model. Measured with
    # `python -m trainer.bench --preset cpu --data ../shared/datasets/ped2` on 2 mostly idle
    # cores: 37-43 clips/s training, ~1000 clips/s input pipeline, 2304 clips/epoch -> ~60 s per
    # epoch, so 20 epochs ~ 20 min, plus ~20 s evaluation (~120 frames/s). With the cores shared
    # (load ~3-5) training drops to ~20 clips/s: ~2 min per epoch, ~40 min in all.
    "cpu": {
        "size": (64, 64),
        "width": 0.25,
        "batch_size": 8,
        "epochs": 20,
        "lr": 2e-4,
        "out": "runs/cpu",
    },
    # Seconds: a wiring check, not a model.
    "smoke": {
        "size": (32, 32),
        "width": 0.125,
        "batch_size": 4,
        "epochs": 1,
        "steps_per_epoch": 4,
        "eval_batch_size": 8,
        "out": "runs/smoke",
    },
}


def preset(name: str) -> TrainConfig:
    """The named preset (``paper``, ``cpu`` or ``smoke``) as a :class:`TrainConfig`."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return TrainConfig.from_dict(dict(PRESETS[name]))


# Keys that may change when a run is resumed: they do not change the data order or the model.
RESUME_MUTABLE_KEYS = frozenset(
    {
        "epochs",
        "out",
        "cache_dir",
        "eval_pad_edges",
        "eval_batch_size",
        "num_parallel_calls",
        "time_limit_s",
    }
)


def load_config(
    preset_name: str | None = None,
    yaml_path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    base: TrainConfig | None = None,
) -> TrainConfig:
    """Resolve a config: ``base`` or preset, then the YAML file, then ``overrides``.

    Parameters
    ----------
    preset_name : str or None
        ``paper``, ``cpu`` or ``smoke``; ignored when ``base`` is given.
    yaml_path : str or Path or None
        A YAML mapping of config keys (may name a ``preset:``; ``preset_name`` wins).
    overrides : dict or None
        Final key/value overrides (values may be strings as typed on a command line).
    base : TrainConfig or None
        Start from this config instead of a preset (e.g. the saved config of a resumed run).

    Returns
    -------
    TrainConfig
    """
    yaml_dict = read_yaml(yaml_path) if yaml_path is not None else {}
    yaml_preset = yaml_dict.pop("preset", None)
    if base is None:
        base = preset(preset_name or yaml_preset or "paper")
    cfg = TrainConfig.from_dict(yaml_dict, base)
    return TrainConfig.from_dict(dict(overrides or {}), cfg)


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``key=value`` (as given to ``--set``); the value is parsed as YAML.

    ``--set size=96,96``, ``--set p=0.1``, ``--set data=null`` and
    ``--set 'transforms=[{name: skip_frame, params: {}, weight: 1}]'`` all work.
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r} must look like key=value")
    check_keys({key: None})
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    if isinstance(parsed, str) and "," in parsed and key == "size":
        parsed = [p.strip() for p in parsed.split(",")]
    return key, parsed


# ---------------------------------------------------------------------- type checks


def _hints() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def _type_name(tp: Any) -> str:
    return str(tp).replace("typing.", "") if not isinstance(tp, type) else tp.__name__


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; accept command-line strings for scalars."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(key, value, inner[0])

    def bad(extra: str = "") -> ConfigError:
        return ConfigError(
            f"config key {key!r}: expected {_type_name(tp)}, got {value!r}"
            f" ({type(value).__name__}){extra}"
        )

    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise bad()
    if tp is int:
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise bad() from None
        raise bad()
    if tp is float:
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise bad() from None
        raise bad()
    if tp is str:
        if isinstance(value, (str, Path)):
            return str(value)
        raise bad()
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",")]
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise bad(f"; give {len(args)} values, e.g. 64,64")
        return tuple(_coerce(key, v, a) for v, a in zip(value, args, strict=True))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise bad()
        return list(value)
    raise AssertionError(f"unhandled annotation {tp} for {key}")  # pragma: no cover


def _check_transform(i: int, t: Any) -> dict[str, Any]:
    """Normalise one ``transforms`` entry to ``{name: str, params: dict, weight: float > 0}``."""
    where = f"config key 'transforms'[{i}]"
    if isinstance(t, str):  # shorthand: just a name
        t = {"name": t}
    if not isinstance(t, dict):
        raise ConfigError(f"{where}: expected a mapping with name/params/weight, got {t!r}")
    unknown = set(t) - {"name", "params", "weight"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; valid: name, params, weight")
    name = t.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: 'name' must be a transform name, got {name!r}")
    params = t.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: 'params' must be a mapping, got {params!r}")
    weight = t.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
        raise ConfigError(f"{where}: 'weight' must be a number > 0, got {weight!r}")
    return {"name": name, "params": dict(params), "weight": float(weight)}
