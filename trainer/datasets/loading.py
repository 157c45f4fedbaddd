"""Detect a dataset's layout and load a split: decoded frames, frame labels, pixel masks."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trainer.config import LABEL_SOURCES
from trainer.data import (
    IMAGE_EXTENSIONS,
    DatasetError,
    Video,
    check_channels,
    check_size,
    image_files,
    is_hidden,
    read_frames,
)
from trainer.datasets.avenue import AvenueLayout
from trainer.datasets.base import Layout, VideoSource
from trainer.datasets.frames import FramesLayout
from trainer.datasets.shanghaitech import ShanghaiTechLayout
from trainer.datasets.ucsd_ped import UCSDLayout

__all__ = ["LABEL_SOURCES", "LAYOUTS", "detect_layout", "load_pixel_masks", "load_split"]

LAYOUTS: tuple[Layout, ...] = (
    AvenueLayout(),
    ShanghaiTechLayout(),
    UCSDLayout(),
    FramesLayout(),
)
"""The layouts, in the order they are tried: the first whose ``matches`` accepts a folder."""

_SPLITS = {"training": "training", "train": "training", "testing": "testing", "test": "testing"}


def _normalise_split(split: str) -> str:
    s = _SPLITS.get(str(split).lower())
    if s is None:
        raise ValueError(f"split must be 'training' or 'testing' (or train/test), got {split!r}")
    return s


def _check_root(root: str | os.PathLike) -> Path:
    path = Path(root).expanduser()
    if not path.exists():
        raise DatasetError(f"dataset folder {path} does not exist")
    if not path.is_dir():
        raise DatasetError(f"dataset path {path} is not a folder (use load_video for one video)")
    if not any(p for p in path.iterdir() if not is_hidden(p)):
        raise DatasetError(f"dataset folder {path} is empty")
    return path


def detect_layout(root: str | os.PathLike) -> Layout:
    """The layout of the dataset folder ``root`` (one of :data:`LAYOUTS`).

    Raises
    ------
    DatasetError
        No layout recognises the folder: the message lists the layouts accepted and what the
        folder holds.
    """
    path = _check_root(root)
    for layout in LAYOUTS:
        if layout.matches(path):
            return layout
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir() if not is_hidden(p))
    accepted = "\n".join(f"  - {layout.description}" for layout in LAYOUTS)
    raise DatasetError(
        f"dataset folder {path} is in no layout this loader reads. It holds: "
        f"{', '.join(found[:15])}{' ...' if len(found) > 15 else ''}\nLayouts accepted:\n{accepted}"
    )


def _check_frames(sources: Sequence[VideoSource]) -> None:
    for s in sources:
        if not s.is_file:
            s.frames = image_files(s.path)
            if not s.frames:
                raise DatasetError(
                    f"video folder {s.path} has no frame images "
                    f"({', '.join(sorted(IMAGE_EXTENSIONS))})"
                )


def _find_split(
    root: str | os.PathLike, split: str, label_source: str
) -> tuple[Path, str, Layout, list[VideoSource]]:
    """The dataset folder, the split's name, the layout and the split's videos."""
    split = _normalise_split(split)
    if label_source not in LABEL_SOURCES:
        raise ValueError(f"label_source must be one of {LABEL_SOURCES}, got {label_source!r}")
    path = Path(root).expanduser()
    layout = detect_layout(path)
    sources = layout.sources(path, split)
    _check_frames(sources)
    return path, split, layout, sources


def _frame_labels(
    layout: Layout, root: Path, sources: Sequence[VideoSource], lengths: Sequence[int],
    label_source: str,
) -> list[np.ndarray] | None:  # fmt: skip
    if label_source == "masks":
        return None
    return layout.frame_labels(root, sources, lengths)


def load_split(
    root: str | os.PathLike,
    split: str,
    size: tuple[int, int] | None = (256, 256),
    channels: int = 1,
    cache_dir: str | os.PathLike | None = None,
    min_frames: int = 1,
    label_source: str = "frame_labels",
) -> list[Video]:
    """Load every video of a dataset split (decoded, resized, with labels and masks).

    Parameters
    ----------
    root : str or os.PathLike
        Dataset folder, in any layout of :data:`LAYOUTS` (see :mod:`trainer.datasets`).
    split : str
        ``"training"`` or ``"testing"`` (``"train"``/``"test"`` accepted, any case).
    size : tuple of int or None
        ``(H, W)`` the frames are resized to with ``cv2.INTER_AREA`` (masks with nearest
        neighbour). ``None`` keeps the native size.
    channels : int
        1 = grayscale (default), 3 = RGB.
    cache_dir : str or os.PathLike or None
        Folder for one ``.npy`` per video of decoded frames (and mask images).
    min_frames : int
        Shorter videos are skipped with a :class:`UserWarning` naming them.
    label_source : str
        ``"frame_labels"`` (default): the dataset's frame-label file (``frame_labels_*.npy``,
        UCSD's ``.mat``/``.m``, ShanghaiTech's ``test_frame_mask``), the labels published AUCs
        use; a test video without one takes "its pixel mask is not empty" (Avenue warns, as
        the two disagree there). ``"masks"``: always from the pixel masks.

    Returns
    -------
    list of Video
        In natural sort order of the video names. ``labels`` ``int8`` ``(K,)`` for the testing
        split when a label source exists, else ``None`` (always ``None`` for training);
        ``masks`` ``bool`` ``(K, H, W)`` at the frames' size or ``None``.

    Raises
    ------
    MissingSplitError
        The dataset has no videos of ``split`` (a :class:`DatasetError`).
    DatasetError
        Missing, empty or unrecognised dataset folder, an empty video folder, a corrupt frame
        (the file is named), labels or masks whose length does not match the frames.
    """
    size, channels = check_size(size), check_channels(channels)
    path, split, layout, sources = _find_split(root, split, label_source)
    testing = split == "testing"
    labels = None  # read before decoding where the frame files give the lengths: fails fast
    if testing and not any(s.is_file for s in sources):
        labels = _frame_labels(
            layout, path, sources, [len(s.frames) for s in sources], label_source
        )
    frames_list = [
        read_frames(s.path, s.frames, name=s.name, size=size, channels=channels, split=split,
                    cache_dir=cache_dir)
        for s in sources
    ]  # fmt: skip
    if testing and labels is None:
        labels = _frame_labels(layout, path, sources, [len(f) for f in frames_list], label_source)
    kept = [i for i, s in enumerate(sources) if _long(s, frames_list[i], min_frames)]
    if not kept:
        raise DatasetError(
            f"no video of split {split!r} in {path} has at least min_frames={min_frames} frames"
        )
    if not testing:
        return [Video(sources[i].name, frames_list[i], None, None, sources[i].path) for i in kept]
    return [
        _test_video(
            layout, path, sources[i], frames_list[i], None if labels is None else labels[i],
            label_source, cache_dir,
        )
        for i in kept
    ]  # fmt: skip


def _long(source: VideoSource, frames: np.ndarray, min_frames: int) -> bool:
    if len(frames) >= min_frames:
        return True
    warnings.warn(
        f"skipping video {source.name!r} ({source.path}): {len(frames)} frames < "
        f"min_frames={min_frames}",
        UserWarning,
        stacklevel=4,
    )
    return False


def _test_video(
    layout: Layout,
    root: Path,
    source: VideoSource,
    frames: np.ndarray,
    labels: np.ndarray | None,
    label_source: str,
    cache_dir: str | os.PathLike | None,
) -> Video:
    k = len(frames)
    cdir = None if cache_dir is None else str(cache_dir)
    masks = layout.masks(root, source, k, frames.shape[1:3], cdir)
    if labels is None and masks is not None:
        if label_source == "frame_labels" and isinstance(layout, AvenueLayout):
            warnings.warn(
                f"{root} has no frame_labels_avenue.npy: the frame labels come from the volLabel "
                f"masks, which differ from the published frame labels on 441 of Avenue's 15,324 "
                f"test frames (label_source 'masks' says so explicitly; docs/datasets.md)",
                UserWarning,
                stacklevel=3,
            )
        labels = masks.labels
    if label_source == "masks" and masks is None:
        raise DatasetError(
            f"label_source 'masks' but test video {source.name!r} ({source.path}) has no pixel "
            f"masks"
        )
    return Video(source.name, frames, labels, None if masks is None else masks.resized, source.path)


def load_pixel_masks(video: Video) -> np.ndarray | None:
    """Pixel masks of a test video at the size of their files (not resized to the frames).

    The masks are found as :func:`load_split` finds them, from ``video.path`` (mask images in
    ``<split>/pixel_masks/<video>/`` or ``<video>_gt/``, Avenue's ``N_label.mat``,
    ShanghaiTech's ``test_pixel_mask/<video>.npy``). Decoded on every call (no cache).

    Returns
    -------
    np.ndarray or None
        ``bool`` ``(K, H, W)``, True = anomalous; ``None`` when the video has no masks.

    Raises
    ------
    DatasetError
        The masks' count differs from the video's frames.
    """
    if video.path is None:
        return None
    for layout in LAYOUTS:
        masks = layout.native_masks(Path(video.path), len(video))
        if masks is not None:
            return masks
    return None
