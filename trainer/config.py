"""Training configuration: the :class:`TrainConfig` dataclass, presets, YAML and overrides.

Precedence, lowest first: the dataclass defaults (= the ``paper`` preset), a named preset, a YAML
file (which may itself name a ``preset:``), then explicit overrides (CLI flags and ``--set``).
Every key is checked against the dataclass fields (an unknown key is an error that lists the
valid ones) and every value is type-checked and range-checked.

The pseudo anomalies are one key, ``pipeline``, in pseudoanom's own dict form
(:meth:`pseudoanom.Pipeline.to_dict`). The old form's top-level ``p``, ``transforms`` and
``intruders`` (:data:`LEGACY_KEYS`, also what ``--p`` and ``--transform`` give) are still read
and turned into ``pipeline`` by :func:`upgrade_legacy`, the one place that knows them.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import pseudoanom

__all__ = [
    "LEGACY_KEYS",
    "PRESETS",
    "RESUME_MUTABLE_KEYS",
    "HOLDOUT_MODES",
    "KEEP_BEST",
    "LABEL_SOURCES",
    "PSEUDO_OBJECTIVES",
    "STRATEGIES",
    "ConfigError",
    "TrainConfig",
    "default_pipeline",
    "default_val_pipeline",
    "import_modules",
    "resume_config",
    "saved_run_config",
    "load_config",
    "parse_override",
    "preset",
    "upgrade_legacy",
]


# Names of the tf.distribute set-ups of trainer.distribute.
STRATEGIES = ("default", "mirrored", "multiworker")


class ConfigError(ValueError):
    """An unknown key, a badly typed value or a value out of range in a training config."""


# Ways to hold out normal training data for validation (trainer.holdout.split_holdout).
HOLDOUT_MODES = ("tail", "videos")
# Which epoch's weights become model.keras: the last one, or the one of the best validation AUC.
KEEP_BEST = ("last", "val_auc")
# What a pseudo anomaly costs (trainer.losses.PseudoObjectiveLoss): the paper's, STEAL's.
# Where test frame labels come from (trainer.datasets): the dataset's frame-label file (the
# labels published AUCs use), or "the frame's pixel mask is not empty".
LABEL_SOURCES = ("frame_labels", "masks")
PSEUDO_OBJECTIVES = ("reconstruct_normal", "push_away")


# Top-level keys of the old config form (before the ``pipeline`` key): still read, and turned
# into ``pipeline`` by :func:`upgrade_legacy`, the one place that knows them.
LEGACY_KEYS = ("p", "transforms", "intruders")


def default_pipeline() -> dict[str, Any]:
    """The paper's pseudo anomaly: p = 0.2, SmoothMix-S (alpha 0.5, beta 10), embedded intruders.

    In the library's own form (:meth:`pseudoanom.Pipeline.to_dict`).
    """
    return {
        "name": "pipeline",
        "params": {
            "transforms": [{"name": "smoothmix_s", "params": {"alpha": 0.5, "beta": 10.0}}],
            "weights": [1.0],
            "p": 0.2,
        },
    }


# Procedural intruders of another bank than the training default's (embedded, seed 0).
_VAL_INTRUDERS = {"kind": "embedded", "seed": 1, "sklearn_images": False}


def default_val_pipeline() -> dict[str, Any]:
    """The validation set's pseudo anomalies: half the held-out clips, by ``cutmix`` (a
    hard-edged patch of embedded intruders from another bank than training's) or ``skip_frame``:
    kinds and images the default training pipeline does not use.

    In the library's own form (:meth:`pseudoanom.Pipeline.to_dict`).
    """
    return {
        "name": "pipeline",
        "params": {
            "transforms": [
                {"name": "cutmix", "params": {"intruders": dict(_VAL_INTRUDERS)}},
                {"name": "skip_frame", "params": {"steps": [2, 3, 4, 5]}},
            ],
            "weights": [1.0, 1.0],
            "p": 0.5,
        },
    }


@dataclass
class TrainConfig:
    """Everything a training run depends on; saved as ``config.yaml`` in the run directory.

    The defaults are the paper's setting (Astrid et al., BMVC 2021, Sec. 4.1).

    Attributes
    ----------
    data : str or None
        Dataset root (see :mod:`trainer.data`); ``None`` = the embedded synthetic dataset.
    train_split, test_split : str
        Split names passed to :func:`trainer.datasets.load_split`.
    label_source : str
        Where test frame labels come from: ``frame_labels`` (default: the dataset's frame-label
        file, the labels published AUCs use, e.g. ``frame_labels_avenue.npy``) or ``masks`` (a
        frame is anomalous when its pixel mask is not empty); see :mod:`trainer.datasets`.
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
    imports : list of str
        Python modules imported before the transforms are built, so a transform registered
        with ``@pseudoanom.register`` in a user's module can be named in ``pipeline``.
    pipeline : dict or None
        The pseudo anomalies, in the library's own form (what
        :meth:`pseudoanom.Pipeline.to_dict` returns and :func:`pseudoanom.from_dict` reads):
        ``{name: pipeline, params: {transforms: [{name, params}, ...], weights: [...], p}}``.
        With probability ``p`` a sample is a pseudo anomaly made by one transform drawn in
        proportion to ``weights``. Patch transforms name their intruder images in their own
        ``params.intruders`` (a path, or a source dict such as ``{kind: cifar100, path: ...}``;
        none = the embedded images). ``None`` or ``p = 0`` = plain autoencoder. A string is read
        as the path of a pipeline YAML file (``Pipeline.to_yaml``) and stored inline.
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
    val_fraction : float
        Share of the normal training data held out to validate on (see
        :mod:`trainer.holdout`); 0 = no validation (default). The held-out frames are never
        trained on.
    val_holdout : str
        What is held out: ``tail`` (the last ``val_fraction`` of each training video's frames,
        at least ``2 * clip_length``; a video too short to keep a clip stays whole) or ``videos``
        (``round(val_fraction * n)`` whole videos, at least 1, evenly spread in name order).
    val_pipeline : dict or None
        The validation set's pseudo anomalies, in the form of ``pipeline`` (any kinds,
        parameters and intruders); its ``p`` is the share of validation clips made pseudo
        anomalous (label 1), the others stay untouched (label 0). Needs ``0 < p < 1``.
    val_clips : int
        Clips in the validation set, evenly spread over the held-out windows.
    val_seed : int
        Seeds the validation set's pseudo anomalies; independent of ``seed``, so runs with
        different training seeds are validated on the same clips.
    keep_best : str
        ``last`` (default): ``model.keras`` holds the last epoch. ``val_auc``: the epoch with the
        highest validation AUC (needs ``val_fraction > 0``; never chosen by test labels).
    pseudo_objective : str
        What a pseudo anomaly ``X^P`` costs (see :mod:`trainer.losses`).
        ``reconstruct_normal`` (default, the paper's Eq. 5): ``MSE(AE(X^P), X^N)``.
        ``push_away`` (STEAL, Astrid et al. ICCVW 2021): ``-MSE(AE(X^P), X^P)``.
    push_away_margin : float or None
        ``push_away`` only, ours: a pseudo anomaly costs ``-min(MSE(AE(X^P), X^P), margin)``,
        so it stops pushing once its error reaches ``margin``. ``None`` (default) = STEAL's
        unclipped term, bounded only by the tanh output range (error at most 4 on [-1, 1]).
    """

    data: str | None = None
    train_split: str = "training"
    test_split: str = "testing"
    label_source: str = "frame_labels"
    size: tuple[int, int] = (256, 256)
    channels: int = 1
    clip_length: int = 16
    width: float = 1.0
    batch_size: int = 4
    epochs: int = 60
    lr: float = 1e-4
    seed: int = 0
    imports: list[str] = field(default_factory=list)
    pipeline: dict[str, Any] | None = field(default_factory=default_pipeline)
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
    val_fraction: float = 0.0
    val_holdout: str = "tail"
    val_pipeline: dict[str, Any] | None = field(default_factory=default_val_pipeline)
    val_clips: int = 256
    val_seed: int = 0
    keep_best: str = "last"
    pseudo_objective: str = "reconstruct_normal"
    push_away_margin: float | None = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(f.name, getattr(self, f.name), _hints()[f.name]))
        self.pipeline = check_pipeline(self.pipeline)
        self.val_pipeline = check_pipeline(self.val_pipeline, "val_pipeline")
        self._check_ranges()

    @property
    def validation(self) -> bool:
        """Whether the run holds out normal data and reports a validation AUC each epoch."""
        return self.val_fraction > 0

    @property
    def p(self) -> float:
        """Probability that a training sample is a pseudo anomaly (``pipeline``'s ``p``)."""
        return 0.0 if self.pipeline is None else self.pipeline["params"]["p"]

    def _check_ranges(self) -> None:
        def need(ok: bool, key: str, rule: str) -> None:
            if not ok:
                raise ConfigError(f"config key {key!r} = {getattr(self, key)!r}: {rule}")

        need(all(s > 0 and s % 16 == 0 for s in self.size), "size", "need H, W multiples of 16")
        need(self.channels in (1, 3), "channels", "must be 1 or 3")
        need(self.label_source in LABEL_SOURCES, "label_source", "|".join(LABEL_SOURCES))
        need(self.clip_length > 0 and self.clip_length % 8 == 0, "clip_length", "multiple of 8")
        need(self.width > 0, "width", "must be > 0")
        need(self.batch_size >= 1, "batch_size", "must be >= 1")
        need(self.epochs >= 1, "epochs", "must be >= 1")
        need(self.lr > 0, "lr", "must be > 0")
        need(self.seed >= 0, "seed", "must be >= 0")
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
        need(0 <= self.val_fraction < 1, "val_fraction", "must be in [0, 1) (0 = no validation)")
        need(self.val_holdout in HOLDOUT_MODES, "val_holdout", f"one of {', '.join(HOLDOUT_MODES)}")
        val_p = None if self.val_pipeline is None else self.val_pipeline["params"]["p"]
        need(
            not self.validation or (val_p is not None and 0 < val_p < 1),
            "val_pipeline",
            "needs 0 < params.p < 1 when val_fraction > 0 (both labels in the validation set)",
        )
        need(self.val_clips >= 2, "val_clips", "must be >= 2")
        need(self.val_seed >= 0, "val_seed", "must be >= 0")
        need(self.keep_best in KEEP_BEST, "keep_best", f"must be one of {', '.join(KEEP_BEST)}")
        need(
            self.keep_best != "val_auc" or self.validation,
            "keep_best",
            "'val_auc' needs a validation set (val_fraction > 0)",
        )
        need(
            self.pseudo_objective in PSEUDO_OBJECTIVES,
            "pseudo_objective",
            f"must be one of {', '.join(PSEUDO_OBJECTIVES)}",
        )
        margin = self.push_away_margin
        need(margin is None or margin > 0, "push_away_margin", "must be > 0 (None = unclipped)")
        need(
            margin is None or self.pseudo_objective == "push_away",
            "push_away_margin",
            "only applies with pseudo_objective 'push_away'",
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
        values.update({k: v for k, v in d.items() if k not in LEGACY_KEYS})
        legacy = {k: d[k] for k in LEGACY_KEYS if k in d}
        if legacy:
            imports = values["imports"] if isinstance(values["imports"], list) else []
            values["pipeline"] = upgrade_legacy(values["pipeline"], legacy, imports)
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path, base: TrainConfig | None = None) -> TrainConfig:
        """Read a YAML config; a top-level ``preset:`` key picks the base preset."""
        d = read_yaml(path)
        if "preset" in d:
            base = preset(d.pop("preset"))
        with _in_file(path):
            return cls.from_dict(d, base)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some keys changed (checked like any other override)."""
        return TrainConfig.from_dict(changes, base=self)


def valid_keys() -> list[str]:
    """The config keys, in declaration order (the old form's :data:`LEGACY_KEYS` not included)."""
    return [f.name for f in dataclasses.fields(TrainConfig)]


def check_keys(d: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the first key of ``d`` that is not a config key.

    The old form's :data:`LEGACY_KEYS` are accepted (see :func:`upgrade_legacy`).
    """
    for key in d:
        if key not in valid_keys() and key not in LEGACY_KEYS:
            raise ConfigError(f"unknown config key {key!r}; valid keys: {', '.join(valid_keys())}")


@contextlib.contextmanager
def _in_file(path: str | Path | None) -> Iterator[None]:
    """A :class:`ConfigError` raised inside names the config file ``path`` first."""
    try:
        yield
    except ConfigError as e:
        if path is None or str(e).startswith("config file "):
            raise
        raise ConfigError(f"config file {path}: {e}") from None


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
    # Fits a CPU: Ped2 at 64x64 with a quarter-width model (run time on 2 CPU cores in
    # docs/getting-started.md; `python -m trainer.speed --preset cpu` measures yours).
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
        "keep_best",
        "label_source",
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
    with _in_file(yaml_path):
        cfg = TrainConfig.from_dict(yaml_dict, base)
    return TrainConfig.from_dict(dict(overrides or {}), cfg)


RUN_CONFIG_FILE = "config.yaml"
"""The config a run saves in its directory (what ``--resume`` continues from)."""


def saved_run_config(run_dir: str | Path) -> TrainConfig | None:
    """The config saved in ``run_dir`` by an earlier run, or ``None`` when there is none."""
    path = Path(run_dir) / RUN_CONFIG_FILE
    return TrainConfig.from_yaml(path) if path.is_file() else None


def resume_config(run_dir: str | Path, requested: TrainConfig) -> TrainConfig:
    """The config a resumed run trains with: the one saved in ``run_dir``, with the keys a
    resume may change (:data:`RESUME_MUTABLE_KEYS`) taken from ``requested``.

    The one place that decides what a resume may change: ``train --resume`` checks it before
    the framework starts, and :func:`trainer.train.train` for every caller.

    Raises
    ------
    ConfigError
        ``requested`` differs from the saved config in another key (it would change the data
        or the model); the message names the keys and their saved values.
    """
    saved = TrainConfig.from_yaml(Path(run_dir) / RUN_CONFIG_FILE)
    new, old = requested.to_dict(), saved.to_dict()
    changed = sorted(k for k in new if new[k] != old[k] and k not in RESUME_MUTABLE_KEYS)
    if changed:
        raise ConfigError(
            f"--resume: the run in {run_dir} was trained with other values of "
            f"{', '.join(changed)} (saved: {', '.join(f'{k}={old[k]!r}' for k in changed)}); "
            f"only {', '.join(sorted(RESUME_MUTABLE_KEYS))} may change when resuming"
        )
    return saved.replace(**{k: new[k] for k in RESUME_MUTABLE_KEYS})


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``key=value`` (as given to ``--set``); the value is parsed as YAML.

    ``--set size=96,96``, ``--set data=null``, ``--set pipeline=my_pipeline.yaml`` and
    ``--set 'pipeline={name: pipeline, params: {transforms: [skip_frame], p: 0.2}}'`` all
    work, and so do the old form's keys (``--set p=0.1``, ``--set intruders=<folder>``).
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


_BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; accept command-line strings for scalars."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (
            value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        ):
            return None
        return _coerce(key, value, next(a for a in args if a is not type(None)))
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",")]
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise _bad(key, value, tp, f"; give {len(args)} values, e.g. 64,64")
        return tuple(_coerce(key, v, a) for v, a in zip(value, args, strict=True))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise _bad(key, value, tp)
        return list(value)
    if origin is dict:
        return value  # the field's own check says what is wrong (see check_pipeline)
    try:
        return _scalar(value, tp)
    except (TypeError, ValueError, KeyError):
        raise _bad(key, value, tp) from None


def _scalar(value: Any, tp: type) -> Any:
    """``value`` as a bool, int, float or str (strings as typed on a command line); raises
    TypeError, ValueError or KeyError when it is not one."""
    if tp is str:
        if not isinstance(value, (str, Path)):
            raise TypeError
        return str(value)
    if isinstance(value, str):
        return _BOOL_WORDS[value.lower()] if tp is bool else tp(value)
    if isinstance(value, bool) != (tp is bool) or not isinstance(value, (int, float)):
        raise TypeError
    if tp is int and isinstance(value, float) and not value.is_integer():
        raise ValueError
    return tp(value)


def _bad(key: str, value: Any, tp: Any, extra: str = "") -> ConfigError:
    return ConfigError(
        f"config key {key!r}: expected {_type_name(tp)}, got {value!r}"
        f" ({type(value).__name__}){extra}"
    )


# ---------------------------------------------------------------------- the pipeline key


def check_pipeline(value: Any, key: str = "pipeline") -> dict[str, Any] | None:
    """The ``pipeline`` key's value, checked by pseudoanom, in its canonical form.

    A path is read as a pipeline YAML file (``Pipeline.to_yaml``) and stored inline; the dict
    is checked by :meth:`pseudoanom.Pipeline.check_dict` (the library's schema, its only
    home), whose canonical form this returns. Transform names and parameters are checked
    when the pipeline is built (:func:`trainer.input.build_pseudo_pipeline`), after
    ``imports``.

    Parameters
    ----------
    value : dict, str, os.PathLike or None
        A pipeline dict, the path of a pipeline YAML file, or ``None`` (no pseudo anomalies).
    key : str
        The key named in error messages.

    Raises
    ------
    ConfigError
        No such file, or pseudoanom's error about the dict, after ``config key '<key>'``.
    """
    if value is None:
        return None
    where = f"config key {key!r}"
    if isinstance(value, (str, Path)):
        path = Path(value)
        if not path.is_file():
            raise ConfigError(f"{where}: pipeline YAML file {path} does not exist")
        try:
            value = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise ConfigError(f"{where}: {path} is not valid YAML: {e}") from None
        where = f"{where} (from {path})"
    try:
        return copy.deepcopy(pseudoanom.Pipeline.check_dict(value))
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}: {e}") from None


# ---------------------------------------------------------------------- the old form


def upgrade_legacy(
    pipeline: Any, legacy: dict[str, Any], imports: list[str] | None = None
) -> dict[str, Any] | None:
    """Apply the old form's keys (:data:`LEGACY_KEYS`) to ``pipeline``: the only place they live.

    Configs written before the ``pipeline`` key (run folders,
    ``results/ped2-45ff4ee/*.config.yaml``) described the pseudo anomalies with three top-level
    keys; the command line's ``--p`` and ``--transform``/``--weight`` still give them. They
    become the same pipeline as before:

    * ``p`` -> ``params.p``;
    * ``transforms: [{name, params, weight}, ...]`` -> ``params.transforms: [{name, params}]``
      and ``params.weights``; an empty list with p = 0 -> no pipeline;
    * ``intruders`` (``"embedded"``, a path, or ``"cifar100:<path>"``) -> ``params.intruders``
      of each transform that takes intruders and names none (``"cifar100:<path>"`` becomes
      ``{kind: cifar100, path: <path>}``, ``"embedded"`` no entry). Without ``transforms``
      it replaces the intruders of every patch transform of ``pipeline``. New transforms
      without ``intruders`` inherit the intruders that ``pipeline``'s patch transforms share.

    Parameters
    ----------
    pipeline : dict, str or None
        The pipeline the keys apply to (``None``: the default transforms with p = 0).
    legacy : dict
        Some of ``p``, ``transforms``, ``intruders``.
    imports : list of str or None
        The config's ``imports``: imported when a transform named in ``transforms`` is not
        registered yet and intruders must be assigned.

    Returns
    -------
    dict or None
        The pipeline in the canonical form of :func:`check_pipeline`.
    """
    base = check_pipeline(pipeline)
    if base is None:
        base = default_pipeline()
        base["params"]["p"] = 0.0
    params = base["params"]
    if "p" in legacy:
        p = _coerce("p", legacy["p"], float)
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"config key 'p' = {p!r}: must be in [0, 1]")
        params["p"] = p
    shared = [t["params"]["intruders"] for t in params["transforms"] if "intruders" in t["params"]]
    intruders = shared[0] if shared and all(s == shared[0] for s in shared) else None
    if "intruders" in legacy:
        intruders = _legacy_intruders(legacy["intruders"])
    if "transforms" in legacy:
        entries = _coerce("transforms", legacy["transforms"], list[dict])
        if not entries:
            if params["p"] == 0:
                return None
            raise ConfigError("config key 'transforms' = []: need at least one when p > 0")
        weights = [_legacy_weight(i, t) for i, t in enumerate(entries)]
        entries = [
            {k: v for k, v in t.items() if k != "weight"} if isinstance(t, dict) else t
            for t in entries
        ]
        new = {"name": "pipeline", "params": {"transforms": entries, "weights": weights}}
        params["transforms"] = check_pipeline(new, "transforms")["params"]["transforms"]
        params["weights"] = weights
        targets = [t for t in params["transforms"] if "intruders" not in t["params"]]
    elif "intruders" in legacy:
        targets = params["transforms"]
    else:
        targets = []
    for t in targets:
        if intruders is None:
            t["params"].pop("intruders", None)
        elif "intruders" in t["params"] or _takes_intruders(t["name"], imports or []):
            t["params"]["intruders"] = copy.deepcopy(intruders)
    return check_pipeline(base)


def _legacy_weight(i: int, t: Any) -> float:
    """The ``weight`` of an old-form ``transforms`` entry: a number > 0, default 1."""
    weight = t.get("weight", 1.0) if isinstance(t, dict) else 1.0
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
        raise ConfigError(
            f"config key 'transforms'[{i}]: 'weight' must be a number > 0, got {weight!r}"
        )
    return float(weight)


def _legacy_intruders(spec: Any) -> str | dict[str, Any] | None:
    """The old ``intruders`` key as a transform's ``intruders`` parameter (None = embedded)."""
    if spec is None or spec in ("", "embedded"):
        return None
    if not isinstance(spec, (str, Path)):
        raise ConfigError(f"config key 'intruders': expected str, got {spec!r}")
    spec = str(spec)
    if spec.startswith("cifar100:"):
        return {"kind": "cifar100", "path": spec.removeprefix("cifar100:")}
    return spec


def _takes_intruders(name: str, imports: list[str]) -> bool:
    """Whether the transform registered as ``name`` has an ``intruders`` parameter.

    Imports ``imports`` first when ``name`` is not registered; an unknown name is False (the
    pipeline's build reports it).
    """
    try:
        cls = pseudoanom.registry.get(name)
    except ValueError:
        import_modules(imports)
        try:
            cls = pseudoanom.registry.get(name)
        except ValueError:
            return False
    return "intruders" in pseudoanom.registry.init_arg_names(cls)


def import_modules(names: list[str]) -> None:
    """Import the config's ``imports`` (modules that register their own transforms).

    Raises
    ------
    ConfigError
        A module cannot be imported (the message names it and the reason).
    """
    import importlib
    import os
    import sys

    # `python -m trainer` has the current directory on sys.path, the console script does not.
    if names and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as e:  # any failure while importing a user's module is a config error
            raise ConfigError(
                f"config key 'imports': cannot import {name!r} ({type(e).__name__}: {e}); "
                "it must be importable from the current directory or the installed packages"
            ) from None
