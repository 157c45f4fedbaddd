"""Training on several devices or hosts with ``tf.distribute``.

The ``strategy`` config key (``train --strategy``) picks one of:

* ``default``: one device, no ``tf.distribute`` (any Keras backend).
* ``mirrored``: :class:`tf.distribute.MirroredStrategy` over the local GPUs; on a machine
  without a GPU the CPU is split into ``replicas`` logical devices (for testing the wiring).
* ``multiworker``: :class:`tf.distribute.MultiWorkerMirroredStrategy`, one process per host,
  each reading the standard ``TF_CONFIG`` environment variable (its GPUs, or its CPU, are that
  worker's replicas).

Batches: ``batch_size`` is **per replica**; a step consumes a global batch of
``batch_size * replicas`` clips, the same clips a single device would take as one batch of that
size (:func:`shard_plan`). The loss is a mean over the global batch (Keras divides each
replica's mean by the number of replicas before the gradients are summed), and BatchNorm uses
the statistics of the global batch (``synchronized=True``), so a step on N replicas equals a
step on one device with the global batch, up to float round-off.

Input: every worker builds the run plan of the global batches (it depends only on the seed)
and keeps the rows of its own replicas, so no sample is made twice and every pseudo anomaly is
seeded by its row, whichever worker makes it. Only the chief writes checkpoints, logs, the model
and results; a multi-worker run resumes from the chief's checkpoint, so ``out`` must be a
folder every worker can read (shared storage) when ``--resume`` is used.

Everything TensorFlow-specific is imported inside functions: this module loads under any
Keras backend, and ``default`` never touches TensorFlow.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer.config import STRATEGIES, ConfigError

__all__ = ["STRATEGIES", "Distribution", "make_distribution", "shard_plan"]


@dataclass(frozen=True)
class Distribution:
    """A strategy and where this process sits in it.

    Attributes
    ----------
    name : str
        One of :data:`STRATEGIES`.
    strategy : tf.distribute.Strategy or None
        ``None`` for ``default``.
    replicas : int
        Replicas in sync over all workers.
    workers : int
        Processes taking part (1 unless ``multiworker``).
    worker_index : int
        This process's index among the workers (input pipeline id).
    is_chief : bool
        Whether this process writes checkpoints, logs, the model and the evaluation.
    """

    name: str = "default"
    strategy: Any = None
    replicas: int = 1
    workers: int = 1
    worker_index: int = 0
    is_chief: bool = True

    def global_batch(self, batch_size: int) -> int:
        """Clips per step over all replicas for a per-replica ``batch_size``."""
        return batch_size * self.replicas

    def scope(self) -> Any:
        """The strategy's variable scope (a no-op context for ``default``)."""
        import contextlib

        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def dataset(
        self,
        sampler: Any,
        batch_size: int,
        epochs: int,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        num_parallel_calls: int | None = None,
    ) -> Any:
        """The distributed input of ``fit``: per-replica batches of the global run plan.

        Parameters
        ----------
        sampler : trainer.input.ClipSampler
            The training clips and pseudo-anomaly pipeline.
        batch_size : int
            Clips per replica and step.
        epochs, initial_epoch, steps_per_epoch, num_parallel_calls
            As :func:`trainer.input.make_dataset` (``steps_per_epoch`` counts global steps).

        Returns
        -------
        tf.distribute.DistributedDataset
        """
        from trainer.input import dataset_from_plan

        global_batch = self.global_batch(batch_size)
        plan = sampler.run_plan(global_batch, epochs, initial_epoch, steps_per_epoch)

        def dataset_fn(context: Any) -> Any:
            rows = shard_plan(
                plan, batch_size, self.replicas,
                context.num_input_pipelines, context.input_pipeline_id,
            )  # fmt: skip
            return dataset_from_plan(sampler, rows, batch_size, num_parallel_calls)

        return self.strategy.distribute_datasets_from_function(dataset_fn)


def shard_plan(
    plan: np.ndarray, batch_size: int, replicas: int, pipelines: int, pipeline: int
) -> np.ndarray:
    """The rows of a global-batch run plan that one input pipeline feeds to its replicas.

    ``plan`` is a sequence of global batches of ``batch_size * replicas`` rows; global batch
    ``k`` is cut into per-replica batches, the ``r``-th going to replica ``r``. Pipeline ``i``
    of ``pipelines`` (one per worker) serves replicas ``i*R .. (i+1)*R - 1`` with
    ``R = replicas // pipelines``, and ``tf.distribute`` hands a pipeline's consecutive batches
    to its replicas in turn, so the result keeps them in that order.

    Parameters
    ----------
    plan : numpy.ndarray
        ``(N, 3)`` rows, ``N`` a multiple of ``batch_size * replicas``.
    batch_size : int
        Rows per replica batch.
    replicas, pipelines, pipeline : int
        Replicas in sync, input pipelines, and this pipeline's index.

    Returns
    -------
    numpy.ndarray
        ``(N // pipelines, 3)`` rows.
    """
    if replicas % pipelines:
        raise ValueError(f"{replicas} replicas do not split evenly over {pipelines} workers")
    if not 0 <= pipeline < pipelines:
        raise ValueError(f"input pipeline {pipeline} out of range for {pipelines} pipelines")
    per_pipeline = replicas // pipelines
    chunks = plan.reshape(-1, replicas, batch_size, plan.shape[-1])
    mine = chunks[:, pipeline * per_pipeline : (pipeline + 1) * per_pipeline]
    return mine.reshape(-1, plan.shape[-1])


def make_distribution(name: str = "default", replicas: int = 0) -> Distribution:
    """Build the strategy named by the config; call it before anything else uses TensorFlow.

    Parameters
    ----------
    name : str
        ``default``, ``mirrored`` or ``multiworker``.
    replicas : int
        ``mirrored`` only: 0 = every local GPU (one CPU device when there is none); N = the
        first N GPUs, or, without a GPU, the CPU split into N logical devices.

    Returns
    -------
    Distribution

    Raises
    ------
    ConfigError
        An unknown name, a non-TensorFlow Keras backend, more GPUs asked than present, a
        missing or malformed ``TF_CONFIG``, or TensorFlow already initialised when the CPU had
        to be split.
    """
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name == "default":
        return Distribution()
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ConfigError(
            f"strategy {name!r} needs the TensorFlow Keras backend (KERAS_BACKEND=tensorflow), "
            f"not {keras.backend.backend()!r}"
        )
    if name == "mirrored":
        return _mirrored(replicas)
    return _multiworker()


def _mirrored(replicas: int) -> Distribution:
    import tensorflow as tf

    # Physical, not logical, devices: listing logical ones would initialise TensorFlow before
    # the CPU can be split.
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        if replicas > len(gpus):
            raise ConfigError(f"replicas={replicas}, but this machine has {len(gpus)} GPUs")
        devices = [f"/gpu:{i}" for i in range(replicas or len(gpus))]
    else:
        devices = [d.name for d in _logical_cpus(max(1, replicas))]
    strategy = tf.distribute.MirroredStrategy(devices)
    return Distribution("mirrored", strategy, strategy.num_replicas_in_sync)


def _logical_cpus(n: int) -> list[Any]:
    """The CPU as ``n`` logical devices (TensorFlow must not be initialised yet for n > 1)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    have = tf.config.get_logical_device_configuration(cpu)
    if n > 1 and (have is None or len(have) != n):
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
            )
        except RuntimeError as e:
            raise ConfigError(
                f"cannot split the CPU into {n} logical devices: TensorFlow is already "
                f"initialised in this process ({e}); build the strategy first"
            ) from e
    return tf.config.list_logical_devices("CPU")[:n]


def _cluster_from_env() -> tuple[dict[str, list[str]], str, int]:
    """``cluster``, task type and index from ``TF_CONFIG``, with errors that name the problem."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ConfigError(
            "strategy 'multiworker' needs the TF_CONFIG environment variable, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}'
        )
    try:
        tf_config = json.loads(raw)
        cluster, task = tf_config["cluster"], tf_config["task"]
        task_type, index = str(task["type"]), int(task["index"])
        if index >= len(cluster[task_type]):
            raise ValueError(f"task index {index} but only {len(cluster[task_type])} {task_type}s")
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"TF_CONFIG is not a valid cluster description: {e!r}") from e
    return cluster, task_type, index


def _multiworker() -> Distribution:
    import tensorflow as tf

    cluster, task_type, index = _cluster_from_env()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    # The chief is task "chief" if the cluster has one, else worker 0 (TensorFlow's convention).
    has_chief = "chief" in cluster
    is_chief = task_type == "chief" or (not has_chief and (task_type, index) == ("worker", 0))
    workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
    worker_index = index + (len(cluster.get("chief", [])) if task_type == "worker" else 0)
    return Distribution(
        "multiworker", strategy, strategy.num_replicas_in_sync, workers, worker_index, is_chief
    )
