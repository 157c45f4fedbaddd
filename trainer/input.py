"""Training input: (model input, reconstruction target, is_pseudo) batches.

Every training clip is T consecutive frames starting at any valid index of any training video.
Each epoch visits the clips in a new random order; with probability ``p`` a sample becomes a
pseudo anomaly drawn by a :class:`pseudoanom.Pipeline` (the target stays the normal clip).

Seeding: the clip order of epoch ``e`` comes from ``default_rng([seed, e])`` and sample ``i`` of
that epoch draws everything (pseudo or not, which transform, its parameters) from
``default_rng([seed, e, i])``. A batch therefore depends only on ``(seed, epoch, step)``: the
parallel tf.data map is deterministic and a resumed run needs only the seed and the epoch.

The work is NumPy on ``uint8`` frames; the conversion to ``[-1, 1]`` happens once, at the end,
with :func:`trainer.data.to_model_range`. :func:`iterate_batches` serves the same samples as
plain NumPy (for tests and non-TensorFlow backends); :func:`make_dataset` wraps them in
``tf.data``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

import pseudoanom
from trainer.config import ConfigError, TrainConfig, import_modules
from trainer.data import to_model_range

__all__ = [
    "ClipSampler",
    "build_pseudo_pipeline",
    "import_modules",
    "iterate_batches",
    "iterate_epochs",
    "dataset_from_plan",
    "make_dataset",
]


def build_pseudo_pipeline(config: TrainConfig) -> pseudoanom.Pipeline | None:
    """The pseudoanom :class:`~pseudoanom.Pipeline` described by ``config.pipeline``.

    ``config.pipeline`` is the library's own dict form, so this is
    :meth:`pseudoanom.Pipeline.from_dict` on it after ``config.imports`` are imported. Then
    transforms that name the same intruders share one source (sources decode lazily, so the
    images are decoded and held once), and :meth:`~pseudoanom.Pipeline.prepare` decodes and
    checks every intruder now rather than mid-fit.

    Returns
    -------
    pseudoanom.Pipeline or None
        ``None`` when ``config.p == 0`` (plain autoencoder training).

    Raises
    ------
    ConfigError
        Unknown transform name or parameter, or intruders that cannot be read (pseudoanom's
        message, naming the transform, after ``config key 'pipeline'``).
    """
    if config.p == 0:
        return None
    import_modules(config.imports)
    try:
        pipe = pseudoanom.Pipeline.from_dict(config.pipeline)
        _share_intruders(pipe, config.pipeline["params"]["transforms"])
        return pipe.prepare()
    except (ValueError, TypeError, FileNotFoundError) as e:
        raise ConfigError(f"config key 'pipeline': {e}") from None


def _share_intruders(pipe: pseudoanom.Pipeline, entries: list[dict[str, Any]]) -> None:
    """Give the transforms whose entries name the same intruders one source object."""
    sources: dict[str, Any] = {}
    for transform, entry in zip(pipe.transforms, entries, strict=True):
        spec = entry["params"].get("intruders")
        if spec is not None:
            key = json.dumps(spec, sort_keys=True, default=str)
            transform.intruders = sources.setdefault(key, transform.intruders)


class ClipSampler:
    """Maps ``(epoch, position)`` to one training sample, deterministically.

    Parameters
    ----------
    videos : sequence of numpy.ndarray
        ``uint8`` ``(K, H, W, C)`` training videos (``Video.frames``); shorter than
        ``clip_length`` ones contribute no clip.
    clip_length : int
        T.
    pseudo : pseudoanom.Pipeline or None
        Draws the pseudo anomalies; ``None`` = always the normal clip.
    seed : int
        Base seed of the clip order and of every sample.
    """

    def __init__(
        self,
        videos: Sequence[np.ndarray],
        clip_length: int,
        pseudo: pseudoanom.Pipeline | None,
        seed: int,
    ) -> None:
        self.videos = [np.asarray(v) for v in videos]
        for i, v in enumerate(self.videos):
            if v.ndim != 4 or v.dtype != np.uint8:
                raise ValueError(f"video {i}: expected uint8 (K, H, W, C), got {v.dtype} {v.shape}")
        self.clip_length = int(clip_length)
        self.pseudo = pseudo
        self.seed = int(seed)
        # (video, start) of every clip: starts 0 .. K - T of each video.
        self.clips = np.array(
            [
                (vi, s)
                for vi, v in enumerate(self.videos)
                for s in range(len(v) - self.clip_length + 1)
            ],
            dtype=np.int64,
        ).reshape(-1, 2)
        if len(self.clips) == 0:
            raise ValueError(f"no training video has at least clip_length={clip_length} frames")
        self.clip_shape = (self.clip_length, *self.videos[0].shape[1:])

    def __len__(self) -> int:
        return len(self.clips)

    def steps_per_epoch(self, batch_size: int, cap: int | None = None) -> int:
        """Full batches per epoch (the last partial batch is dropped), at most ``cap``."""
        steps = len(self) // batch_size
        if steps == 0:
            raise ValueError(f"{len(self)} training clips < batch_size={batch_size}")
        return min(steps, cap) if cap else steps

    def epoch_order(self, epoch: int) -> np.ndarray:
        """Clip ids in the order epoch ``epoch`` visits them."""
        return np.random.default_rng([self.seed, epoch]).permutation(len(self))

    def sample(self, epoch: int, position: int) -> tuple[np.ndarray, np.ndarray, np.float32]:
        """Sample ``position`` of epoch ``epoch``.

        Returns
        -------
        x, y : numpy.ndarray
            float32 ``(T, H, W, C)`` in [-1, 1]: model input and reconstruction target.
        is_pseudo : numpy.float32
            1.0 for a pseudo anomaly, else 0.0.
        """
        return self.sample_clip(epoch, position, int(self.epoch_order(epoch)[position]))

    def sample_clip(
        self, epoch: int, position: int, clip_id: int
    ) -> tuple[np.ndarray, np.ndarray, np.float32]:
        """Like :meth:`sample` with the clip id already looked up (what tf.data calls)."""
        vi, start = self.clips[clip_id]
        video = self.videos[vi]
        if self.pseudo is None:
            x = to_model_range(video[start : start + self.clip_length])
            return x, x, np.float32(0.0)
        rng = np.random.default_rng([self.seed, int(epoch), int(position)])
        res = self.pseudo.from_video(video, int(start), length=self.clip_length, rng=rng)
        x = to_model_range(res.clip)
        y = x if res.clip is res.target else to_model_range(res.target)
        return x, y, np.float32(res.label)

    def epoch_plan(self, epoch: int, batch_size: int, steps: int | None = None) -> np.ndarray:
        """``(epoch, position, clip_id)`` rows of one epoch, a whole number of batches long."""
        n = self.steps_per_epoch(batch_size, steps) * batch_size
        order = self.epoch_order(epoch)[:n]
        return np.stack([np.full(n, epoch), np.arange(n), order], axis=1).astype(np.int64)

    def run_plan(
        self, batch_size: int, epochs: int, initial_epoch: int = 0, steps: int | None = None
    ) -> np.ndarray:
        """The :meth:`epoch_plan` rows of epochs ``initial_epoch .. epochs - 1``, back to back."""
        if not 0 <= initial_epoch < epochs:
            raise ValueError(f"need 0 <= initial_epoch < epochs, got {initial_epoch}, {epochs}")
        return np.concatenate(
            [self.epoch_plan(e, batch_size, steps) for e in range(initial_epoch, epochs)]
        )


def iterate_batches(
    sampler: ClipSampler,
    epoch: int,
    batch_size: int,
    steps: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Plain NumPy batches of one epoch: the same samples :func:`make_dataset` yields.

    Parameters
    ----------
    sampler : ClipSampler
        The training clips and pseudo-anomaly pipeline.
    epoch : int
        Which epoch (decides the order and every random draw).
    batch_size : int
        Clips per batch (a last partial batch is dropped).
    steps : int or None
        Stop after this many batches.

    Yields
    ------
    tuple of numpy.ndarray
        ``x``, ``y`` float32 ``(B, T, H, W, C)`` in [-1, 1] and ``is_pseudo`` float32 ``(B,)``.
    """
    plan = sampler.epoch_plan(epoch, batch_size, steps)
    for b in range(0, len(plan), batch_size):
        yield _stack([sampler.sample_clip(*row) for row in plan[b : b + batch_size]])


def iterate_epochs(
    sampler: ClipSampler,
    batch_size: int,
    epochs: int,
    initial_epoch: int = 0,
    steps_per_epoch: int | None = None,
    workers: int = 4,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The batches of :func:`make_dataset` as a Python generator, for any Keras backend.

    Samples are made by a thread pool (NumPy and OpenCV release the GIL for the heavy work)
    in plan order with a bounded look-ahead, so the batches are exactly those of
    :func:`make_dataset` whatever ``workers`` is.

    Parameters
    ----------
    sampler : ClipSampler
        The training clips and pseudo-anomaly pipeline.
    batch_size : int
        Clips per batch.
    epochs, initial_epoch : int
        The epochs to serve, back to back.
    steps_per_epoch : int or None
        Cap on the batches of an epoch.
    workers : int
        Sample threads (1 = make samples in the calling thread).

    Yields
    ------
    tuple of numpy.ndarray
        ``x``, ``y`` float32 ``(B, T, H, W, C)`` in [-1, 1], ``is_pseudo`` float32 ``(B,)``.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    rows = sampler.run_plan(batch_size, epochs, initial_epoch, steps_per_epoch)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        pending: deque = deque()
        batch: list = []
        for row in rows:
            pending.append(pool.submit(sampler.sample_clip, *(int(v) for v in row)))
            # Bounded look-ahead: a few batches in flight, never the whole epoch in memory.
            if len(pending) < 4 * batch_size:
                continue
            batch.append(pending.popleft().result())
            if len(batch) == batch_size:
                yield _stack(batch)
                batch = []
        while pending:
            batch.append(pending.popleft().result())
            if len(batch) == batch_size:
                yield _stack(batch)
                batch = []


def _stack(samples: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, flags = zip(*samples, strict=True)
    return np.stack(xs), np.stack(ys), np.array(flags, dtype=np.float32)


def make_dataset(
    sampler: ClipSampler,
    batch_size: int,
    epochs: int,
    initial_epoch: int = 0,
    steps_per_epoch: int | None = None,
    num_parallel_calls: int | None = None,
):
    """``tf.data`` batches of epochs ``initial_epoch .. epochs - 1``, back to back.

    Meant for ``model.fit(ds, epochs=epochs, initial_epoch=initial_epoch,
    steps_per_epoch=sampler.steps_per_epoch(batch_size, steps_per_epoch))``: Keras keeps one
    iterator across epochs when ``steps_per_epoch`` is given, and every epoch here is exactly
    that many batches, so epoch ``e`` of ``fit`` sees epoch ``e`` of the plan.

    Parameters
    ----------
    sampler : ClipSampler
        The training clips and pseudo-anomaly pipeline.
    batch_size : int
        Clips per batch.
    epochs, initial_epoch : int
        The epochs to serve (a resumed run starts at ``initial_epoch``).
    steps_per_epoch : int or None
        Cap on the batches of an epoch.
    num_parallel_calls : int or None
        Parallel sample workers; ``None`` or 0 = ``tf.data.AUTOTUNE``. The output order does
        not depend on it.

    Returns
    -------
    tf.data.Dataset
        Of ``(x, y, is_pseudo)``: float32 ``(B, T, H, W, C)``, float32 ``(B, T, H, W, C)``,
        float32 ``(B,)``. Keras passes ``is_pseudo`` to ``compute_loss`` as its third
        argument (see :class:`trainer.losses.DualLossAutoencoder`).
    """
    plan = sampler.run_plan(batch_size, epochs, initial_epoch, steps_per_epoch)
    return dataset_from_plan(sampler, plan, batch_size, num_parallel_calls)


def dataset_from_plan(
    sampler: ClipSampler,
    plan: np.ndarray,
    batch_size: int,
    num_parallel_calls: int | None = None,
):
    """``tf.data`` batches of the ``(epoch, position, clip_id)`` rows of ``plan``, in order.

    :func:`make_dataset` passes a whole run plan; :mod:`trainer.distribute` passes the share of
    one worker. A sample depends only on its row, so any split of a plan yields the same
    samples as the whole.

    Parameters
    ----------
    sampler : ClipSampler
        The training clips and pseudo-anomaly pipeline.
    plan : numpy.ndarray
        int64 ``(N, 3)`` rows, ``N`` a multiple of ``batch_size``.
    batch_size : int
        Clips per batch.
    num_parallel_calls : int or None
        Parallel sample workers; ``None`` or 0 = ``tf.data.AUTOTUNE``.

    Returns
    -------
    tf.data.Dataset
        As :func:`make_dataset`.
    """
    import tensorflow as tf

    shape = sampler.clip_shape

    def load(row):
        x, y, flag = tf.numpy_function(
            lambda r: sampler.sample_clip(*(int(v) for v in r)),
            [row],
            (tf.float32, tf.float32, tf.float32),
            stateful=False,
        )
        x.set_shape(shape)
        y.set_shape(shape)
        flag.set_shape(())
        return x, y, flag

    ds = tf.data.Dataset.from_tensor_slices(plan)
    ds = ds.map(
        load,
        num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE,
        deterministic=True,
    )
    ds = ds.batch(batch_size, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE)
