"""Run directories, atomic per-epoch checkpoints and resume.

Layout of a run directory::

    <run>/config.yaml                  the resolved TrainConfig
    <run>/checkpoint/state.json        {"epoch": completed epochs, "seed", "model", "history", ...}
    <run>/checkpoint/epoch-0003.keras  model + optimizer state after 3 epochs
    <run>/checkpoint/best.keras        the best validation epoch so far (with val_fraction > 0)
    <run>/logs/                        TensorBoard
    <run>/model.keras                  final model for inference, Keras' own layers only:
                                       keras.saving.load_model(path) needs no import of trainer
    <run>/history.json                 per-epoch logs
    <run>/evaluation/                  scores.csv, summary.json, plots
    <run>/run-files.json               the files above that the run wrote (trainer.rundir)
    <run>/.lock                        while a process works on the run (trainer.rundir)

Every file is written to a temporary name and moved into place with ``os.replace``.
``state.json`` is the commit point: it is replaced only after the model file it names is
complete, so a run killed at any moment resumes from its last complete epoch. A write that
fails (disk full) removes its temporary and raises :class:`trainer.rundir.SaveFailed` naming the
file; the temporaries of a killed run are removed when the next process takes the run's lock.
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from trainer import rundir
from trainer.atomic import temporary_path, write_atomic
from trainer.config import TrainConfig
from trainer.rundir import RunDirError, SaveFailed

__all__ = [
    "RUN_ARTIFACTS",
    "EpochCheckpoint",
    "ModelFileError",
    "RunDirError",
    "atomic_write_text",
    "check_model_file",
    "latest_checkpoint",
    "load_model",
    "prepare_run_dir",
    "save_final_model",
    "save_model_atomic",
]

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
CONFIG_FILE = "config.yaml"
FINAL_MODEL = "model.keras"
HISTORY_FILE = "history.json"
# The files a run writes, by name: trainer.rundir.RUN_FILE_PATTERNS.
RUN_ARTIFACTS = rundir.RUN_FILE_PATTERNS


class ModelFileError(ValueError):
    """A file given as a model is not a complete ``.keras`` file."""


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``.

    Raises
    ------
    trainer.rundir.SaveFailed
        An OS error (disk full, ...): the temporary is removed, ``path`` is as it was.
    """
    return _save(path, lambda tmp: tmp.write_text(text))


def save_model_atomic(model: keras.Model, path: str | os.PathLike) -> Path:
    """``model.save(path)`` (``.keras`` format) through a temporary file and ``os.replace``.

    Raises
    ------
    trainer.rundir.SaveFailed
        An OS error (disk full, ...): the temporary is removed, ``path`` is as it was.
    """
    return _save(path, model.save)


def _save(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    tmp = temporary_path(path)
    try:
        return write_atomic(path, write, tmp=tmp)
    except OSError as e:
        raise SaveFailed(tmp, e) from e


def save_final_model(model: keras.Model, run_dir: str | os.PathLike) -> Path:
    """Save ``<run_dir>/model.keras``: ``model`` rebuilt from Keras' own layers
    (:func:`trainer.model.to_plain_keras`), so plain ``keras.saving.load_model`` loads it
    without this package. Inference only: no optimizer state and no training class; the
    checkpoints keep the training state.
    """
    from trainer.model import to_plain_keras

    return save_model_atomic(to_plain_keras(model), Path(run_dir) / FINAL_MODEL)


def load_model(path: str | os.PathLike) -> keras.Model:
    """A model saved by a run, ready to predict with this package's layers.

    A ``model.keras`` of Keras' own layers (:func:`save_final_model`) comes back as
    :func:`trainer.model.from_plain_keras` rebuilds it, so it runs the layers the model was
    trained with (torch's kernels under the torch backend). A file that holds the training
    class (a checkpoint, or the ``model.keras`` of a run from before plain saving) is returned
    as it is, optimizer state included.
    """
    import trainer.losses  # noqa: F401  (registers the custom classes of older files)
    from trainer.model import from_plain_keras

    check_model_file(path)
    model = keras.saving.load_model(path, safe_mode=True)
    if isinstance(model, trainer.losses.DualLossAutoencoder):
        return model
    return from_plain_keras(model)


def check_model_file(path: str | os.PathLike) -> None:
    """Raise :class:`ModelFileError` naming ``path`` unless it is a complete ``.keras`` file
    (a zip archive with ``config.json``): Keras itself calls both cases "File not found".

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        ``path`` is not a zip archive ("not a Keras model file"), is one cut short
        ("truncated"), or is a zip archive without a model in it.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"model file {p} does not exist")
    with open(p, "rb") as fh:
        head = fh.read(4)
    if not zipfile.is_zipfile(p):
        if head == b"PK\x03\x04":
            raise ModelFileError(
                f"model file {p} is truncated ({p.stat().st_size} bytes; the end of the "
                f".keras archive is missing): copy or save it again"
            )
        raise ModelFileError(
            f"{p} is not a Keras model file (a .keras file is a zip archive saved by `train`)"
        )
    try:
        with zipfile.ZipFile(p) as zf:
            names = set(zf.namelist())
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ModelFileError(f"model file {p} is truncated or damaged ({e})") from None
    if bad is not None:
        raise ModelFileError(f"model file {p} is damaged: {bad} in it fails its checksum")
    if "config.json" not in names:
        raise ModelFileError(f"{p} is a zip archive but not a Keras model file (no config.json)")


def prepare_run_dir(run_dir: str | os.PathLike, *, resume: bool, overwrite: bool) -> Path:
    """Check (and with ``overwrite`` clear) the run directory before training.

    Parameters
    ----------
    run_dir : str or os.PathLike
        The run directory (``config.out``).
    resume : bool
        Continue the run in ``run_dir``: it must hold that run's ``config.yaml``.
    overwrite : bool
        Delete the files the previous run wrote (its ``run-files.json``, see
        :func:`trainer.rundir.clear_run_files`), and nothing else.

    Returns
    -------
    pathlib.Path
        The directory, created if needed.

    Raises
    ------
    RunDirError
        ``run_dir`` holds a run and neither flag was given, both flags were given,
        ``resume`` finds no run to continue, or ``overwrite`` finds files that are not the
        run's (:func:`trainer.rundir.clear_run_files`: then nothing is deleted).
    """
    run_dir = Path(run_dir)
    if resume and overwrite:
        raise RunDirError("--resume and --overwrite exclude each other")
    if resume:
        if not (run_dir / CONFIG_FILE).is_file():
            raise RunDirError(f"--resume: {run_dir} holds no run to resume (no {CONFIG_FILE})")
        return run_dir
    if overwrite:
        rundir.clear_run_files(run_dir)
    else:
        rundir.check_no_run(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def latest_checkpoint(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The state of the last complete epoch of a run, or ``None`` if it has none.

    Returns
    -------
    dict or None
        ``state.json`` with ``"model"`` turned into the absolute path of the checkpoint.
    """
    ckpt_dir = Path(run_dir) / CHECKPOINT_DIR
    state_path = ckpt_dir / STATE_FILE
    if not state_path.is_file():
        return None
    state = json.loads(state_path.read_text())
    state["model"] = str(ckpt_dir / state["model"])
    if not Path(state["model"]).is_file():
        raise RunDirError(f"checkpoint state {state_path} names a missing file {state['model']}")
    return state


def load_checkpoint_model(state: dict[str, Any]) -> keras.Model:
    """The compiled model (weights and optimizer state) of a checkpoint from
    :func:`latest_checkpoint`."""
    import trainer.losses  # noqa: F401  (registers the custom classes for deserialisation)

    check_model_file(state["model"])
    return keras.saving.load_model(state["model"], safe_mode=True)


class EpochCheckpoint(keras.callbacks.Callback):
    """Save model, optimizer state, epoch, seed, config and history after every epoch.

    Parameters
    ----------
    run_dir : str or os.PathLike
        Run directory; files go to ``<run_dir>/checkpoint``.
    config : TrainConfig
        Stored in the state for reference.
    history : dict or None
        Logs of the epochs before this ``fit`` (a resumed run), extended epoch by epoch.
    keep : int
        How many epoch files to keep (older ones are deleted once the state moved on).
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        config: TrainConfig,
        history: dict[str, list[float]] | None = None,
        keep: int = 1,
    ) -> None:
        super().__init__()
        self.dir = Path(run_dir) / CHECKPOINT_DIR
        self.config = config
        self.history = {k: list(v) for k, v in (history or {}).items()}
        self.keep = keep
        self._t0 = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for k, v in (logs or {}).items():  # ints (val_best_epoch) stay ints
            self.history.setdefault(k, []).append(v if isinstance(v, int) else float(v))
        self.history.setdefault("epoch_seconds", []).append(time.perf_counter() - self._t0)
        self.dir.mkdir(parents=True, exist_ok=True)
        done = epoch + 1
        name = f"epoch-{done:04d}.keras"
        save_model_atomic(self.model, self.dir / name)
        state = {
            "epoch": done,
            "seed": self.config.seed,
            "model": name,
            "history": self.history,
            "config": self.config.to_dict(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        # The commit point: from here on a resume starts after `done` epochs.
        atomic_write_text(self.dir / STATE_FILE, json.dumps(state, indent=2))
        atomic_write_text(self.dir.parent / HISTORY_FILE, json.dumps(self.history, indent=2))
        old = sorted(self.dir.glob("epoch-*.keras"))[: -self.keep]
        for path in old:
            path.unlink(missing_ok=True)
        rundir.record_during_run(self.dir.parent)
