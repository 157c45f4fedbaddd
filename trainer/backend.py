"""Which Keras backend the trainer runs on, decided in one place before Keras is imported.

Keras reads ``KERAS_BACKEND`` once, when it is first imported, and cannot switch afterwards.
So ``import trainer`` (and with it ``python -m trainer``, ``pseudoanom-train`` and
``python -m trainer.speed``) calls :func:`select` before anything imports Keras:

1. ``KERAS_BACKEND`` set (non-empty) by the user: that backend, always.
2. Keras already imported by the caller (``import keras`` before ``import trainer``): the
   backend it runs on; nothing can change it any more.
3. Otherwise the fastest installed route for the device (:func:`default_backend`): on a
   machine with an NVIDIA GPU, or a Mac, ``torch`` (PyPI's Linux torch is a CUDA build, and the
   ``tensorflow-cpu`` the ``trainer`` extra installs cannot use a GPU); on a CPU,
   ``tensorflow``, which trains and predicts this model fastest there (measured with
   ``benchmarks/train_step_vs_torch.py``: the ``cpu`` preset's step at 44 clips/s against 18-26
   under torch; numbers in docs/performance.md). Each falls back to the other when only one is
   installed.

The choice is made by setting ``KERAS_BACKEND`` in this process's environment, so child
processes (and a later ``import keras``) see the same backend.

``tf.distribute`` strategies (``--strategy mirrored|multiworker``) exist only under TensorFlow:
:func:`require_tensorflow` turns an automatic choice into ``tensorflow`` and refuses, with an
error that says what to do, when the user asked for another backend.

:func:`describe` is the startup line the CLI prints, e.g. ``keras backend torch 2.13.0+cpu on
cpu (2 threads) [default on a CPU: tensorflow]``, and :func:`info` the same as a dict for the
run's ``summary.json``.

This module imports neither Keras nor any framework when it is imported: only
:func:`info`/:func:`describe` do.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

__all__ = [
    "ENV_VAR",
    "BackendError",
    "check_installed",
    "default_backend",
    "describe",
    "info",
    "installed",
    "require_tensorflow",
    "select",
    "source",
    "user_choice",
]

ENV_VAR = "KERAS_BACKEND"


# Keras backend -> (module that must import, pip package that provides it)
_PACKAGES: dict[str, tuple[str, str]] = {
    "tensorflow": ("tensorflow", "tensorflow"),
    "torch": ("torch", "torch"),
    "jax": ("jax", "jax"),
    "numpy": ("numpy", "numpy"),
    "openvino": ("openvino", "openvino"),
}

# The value select()/require_tensorflow() wrote into KERAS_BACKEND (None: never wrote one),
# and why.
_auto: str | None = None
_why: str = ""


class BackendError(ValueError):
    """The Keras backend cannot be what the run needs (reported like any bad input)."""


def installed(module: str) -> bool:
    """Whether ``module`` can be found on the import path (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def user_choice() -> str | None:
    """The backend the user set in ``KERAS_BACKEND``, or ``None`` if they set none.

    A value this module wrote itself does not count as the user's.
    """
    value = os.environ.get(ENV_VAR, "").strip()
    if not value or value == _auto:
        return None
    return value


def _keras_backend_if_imported() -> str | None:
    keras = sys.modules.get("keras")
    if keras is None:
        return None
    try:
        return str(keras.config.backend())
    except AttributeError:  # partly initialised, or not Keras 3
        return None


def default_backend() -> tuple[str, str]:
    """``(backend, why)``: the fastest installed backend for this machine's device.

    torch first on a machine with an NVIDIA GPU or on macOS, tensorflow first on a CPU; the
    first of the two that is installed (``tensorflow`` if neither is).
    """
    gpu = _nvidia_gpu_present() or sys.platform == "darwin"
    device = "a GPU" if gpu else "a CPU"
    order = ("torch", "tensorflow") if gpu else ("tensorflow", "torch")
    for i, name in enumerate(order):
        if installed(_PACKAGES[name][0]):
            return name, f"default on {device}: {name}" + (f" ({order[0]} missing)" if i else "")
    return "tensorflow", "default: nothing installed"


def select() -> str:
    """Choose the backend unless the user or an earlier ``import keras`` did; return it.

    Sets ``KERAS_BACKEND`` to :func:`default_backend` when it is unset (or empty) and Keras is
    not imported yet. Safe to call more than once.

    Returns
    -------
    str
        The backend Keras runs on (or will, when it is imported).
    """
    global _auto, _why
    user = user_choice()
    if user:
        return user
    imported = _keras_backend_if_imported()
    if imported is not None:
        return imported
    if _auto is None or not os.environ.get(ENV_VAR, "").strip():
        name, _why = default_backend()
        os.environ[ENV_VAR] = name
        _auto = name
    return os.environ[ENV_VAR]


def source() -> str:
    """Why the backend is what it is: ``KERAS_BACKEND``, the default, a strategy, ..."""
    if user_choice():
        return "KERAS_BACKEND"
    if _auto is not None and os.environ.get(ENV_VAR, "").strip() == _auto:
        return _why
    if _keras_backend_if_imported() is not None:
        return "Keras was imported before trainer"
    return "Keras default"


def require_tensorflow(what: str) -> None:
    """Make Keras run on TensorFlow for ``what`` (e.g. ``"--strategy mirrored"``).

    An automatic choice becomes ``tensorflow``; a backend the user set, or one Keras already
    runs on in this process, is never changed.

    Raises
    ------
    BackendError
        The user set ``KERAS_BACKEND`` to another backend, Keras already runs on another
        backend in this process, or TensorFlow is not installed.
    """
    global _auto, _why
    imported = _keras_backend_if_imported()
    if imported is not None:
        if imported != "tensorflow":
            raise BackendError(
                f"{what} needs the TensorFlow Keras backend (tf.distribute), but Keras already "
                f"runs on {imported!r} in this process; start it with KERAS_BACKEND=tensorflow"
            )
        return
    user = user_choice()
    if user is not None and user != "tensorflow":
        raise BackendError(
            f"{what} needs the TensorFlow Keras backend (tf.distribute), but "
            f"KERAS_BACKEND={user}; set KERAS_BACKEND=tensorflow, or unset it to let the "
            f"trainer choose, or use --strategy default"
        )
    if not installed("tensorflow"):
        raise BackendError(
            f"{what} needs TensorFlow (tf.distribute), which is not installed: "
            f"pip install tensorflow"
        )
    if user is None:
        os.environ[ENV_VAR] = "tensorflow"
        _auto = "tensorflow"
        _why = f"{what} needs tensorflow"


def check_installed() -> str:
    """The chosen backend, after checking that its package can be imported.

    Keras itself fails deep inside its own import with a bare ``No module named ...``; this
    names the backend, the package to install and the backends that are there.

    Raises
    ------
    BackendError
        An unknown backend name, or its package is not installed.
    """
    name = select()
    if name not in _PACKAGES:
        raise BackendError(
            f"KERAS_BACKEND={name} is not a Keras backend; choose one of "
            f"{', '.join(sorted(_PACKAGES))}"
        )
    module, package = _PACKAGES[name]
    if not installed(module):
        have = [b for b in ("torch", "tensorflow", "jax") if installed(_PACKAGES[b][0])]
        raise BackendError(
            f"KERAS_BACKEND={name}, but the {package!r} package is not installed "
            f"(pip install {package}); installed backends: {', '.join(have) or 'none'}"
        )
    return name


# ---------------------------------------------------------------------- reporting


def _cpu_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _threads(n: int) -> str:
    return f"{n} thread{'s' if n != 1 else ''}"


def _nvidia_gpu_present() -> bool:
    """An NVIDIA driver reports a GPU (Linux), whatever the framework can use."""
    try:
        return bool(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return False


def _torch_device() -> tuple[str, str, bool]:
    import torch

    try:  # the device Keras' torch backend puts tensors on
        from keras.src.backend.torch.core import get_device

        device = str(get_device())
    except Exception:  # noqa: BLE001  (private API: fall back to torch's own view)
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        index = torch.cuda.current_device() if device == "cuda" else int(device.split(":")[1])
        name = torch.cuda.get_device_name(index)
        more = torch.cuda.device_count() - 1
        text = f"cuda:{index} {name}" + (f" (+{more} more)" if more > 0 else "")
        return text, torch.__version__, True
    if device == "cpu":
        return f"cpu ({_threads(torch.get_num_threads())})", torch.__version__, False
    return device, torch.__version__, True


def _tensorflow_device() -> tuple[str, str, bool]:
    import tensorflow as tf

    # Physical devices only: listing logical ones would initialise TensorFlow (and fix the
    # CPU split that a mirrored strategy may still need).
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        try:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "")
        except Exception:  # noqa: BLE001
            name = ""
        more = len(gpus) - 1
        text = f"GPU:0 {name}".rstrip() + (f" (+{more} more)" if more > 0 else "")
        return text, tf.__version__, True
    threads = (
        tf.config.threading.get_intra_op_parallelism_threads()
        or int(os.environ.get("TF_NUM_INTRAOP_THREADS", "0") or 0)
        or _cpu_threads()
    )
    return f"cpu ({_threads(threads)})", tf.__version__, False


def _jax_device() -> tuple[str, str, bool]:
    import jax

    d = jax.devices()[0]
    if d.platform == "cpu":
        return f"cpu ({_cpu_threads()} cores)", jax.__version__, False
    more = len(jax.devices()) - 1
    text = f"{d.platform}:{d.id} {d.device_kind}" + (f" (+{more} more)" if more > 0 else "")
    return text, jax.__version__, True


def info() -> dict[str, Any]:
    """The backend, its version, the device it computes on and why it was chosen.

    Imports Keras (and the backend's framework): call it once the backend is settled (for a
    ``tf.distribute`` strategy, after :func:`trainer.distribute.make_distribution`).

    Returns
    -------
    dict
        ``backend``, ``version`` (the framework's), ``keras``, ``device`` (e.g.
        ``"cpu (2 threads)"``, ``"cuda:0 NVIDIA H200"``), ``accelerator`` (bool), ``source``,
        and ``warning`` (a GPU is present that this backend build cannot use) when it applies.
    """
    import keras

    name = keras.config.backend()
    probe = {"torch": _torch_device, "tensorflow": _tensorflow_device, "jax": _jax_device}
    if name in probe:
        device, version, accelerator = probe[name]()
    else:
        device, version, accelerator = f"cpu ({_threads(_cpu_threads())})", "", False
    out: dict[str, Any] = {
        "backend": name,
        "version": version,
        "keras": keras.__version__,
        "device": device,
        "accelerator": accelerator,
        "source": source(),
    }
    if not accelerator and _nvidia_gpu_present():
        out["warning"] = (
            f"an NVIDIA GPU is present but this {name} build runs on the CPU; see "
            f"'GPU' in docs/getting-started.md"
        )
    elif name == "jax" and not accelerator:
        out["warning"] = JAX_CPU_WARNING
    return out


JAX_CPU_WARNING = (
    "jax on a CPU compiles each train and predict step with XLA first (80 s for the paper "
    "model at 64x64) and runs this Conv3D model about 10x slower than torch (0.07 against "
    "0.7 clips/s, 2 busy cores); on a CPU prefer KERAS_BACKEND=torch"
)
"""Said once at startup under JAX on a CPU (measured with ``python -m trainer.speed --preset
paper --set size=64,64``, see docs/trainer.md)."""


def describe(details: dict[str, Any] | None = None) -> str:
    """One line for the user: ``keras backend torch 2.13.0+cpu on cpu (2 threads) [...]``.

    Parameters
    ----------
    details : dict or None
        From :func:`info` (computed when ``None``).
    """
    d = details if details is not None else info()
    version = f" {d['version']}" if d.get("version") else ""
    line = f"keras backend {d['backend']}{version} on {d['device']} [{d['source']}]"
    if d.get("warning"):
        line += f"; warning: {d['warning']}"
    return line
