"""ShanghaiTech Campus (Liu et al., CVPR 2018) as its authors publish it::

    <root>/training/videos/01_001.avi ...
    <root>/testing/frames/01_0014/000.jpg ...
    <root>/testing/test_frame_mask/01_0014.npy     (K,) frame labels, 1 = anomalous
    <root>/testing/test_pixel_mask/01_0014.npy     (K, 480, 856) pixel masks, 1 = anomalous

The paper authors' ``frame_labels_shanghai.npy`` is ``test_frame_mask/*.npy`` concatenated in
sorted order; with the folders above it is not needed. The frames layout
(``training/frames/<video>/``) is :mod:`trainer.datasets.frames`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trainer.data import DatasetError, MissingSplitError, resize_masks
from trainer.datasets.base import Layout, MaskSet, VideoSource, child_dir, sources_in, split_aliases

__all__ = ["ShanghaiTechLayout"]

_FRAME_MASKS = "test_frame_mask"
_PIXEL_MASKS = "test_pixel_mask"


def _load(path: Path, ndim: int) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read {path}: {e}") from e
    if arr.ndim != ndim:
        raise DatasetError(f"{path} must have {ndim} dimensions, got shape {arr.shape}")
    return arr


class ShanghaiTechLayout(Layout):
    """``training/videos/``, ``testing/frames/`` and the per-video mask ``.npy`` files."""

    name = "shanghaitech"
    description = (
        "ShanghaiTech as published: <root>/training/videos/*.avi, <root>/testing/frames/<video>/, "
        "<root>/testing/test_frame_mask/<video>.npy, <root>/testing/test_pixel_mask/<video>.npy"
    )

    def matches(self, root: Path) -> bool:
        testing = child_dir(root, split_aliases("testing"))
        return testing is not None and child_dir(testing, (_FRAME_MASKS, _PIXEL_MASKS)) is not None

    def sources(self, root: Path, split: str) -> list[VideoSource]:
        split_dir = child_dir(root, split_aliases(split))
        folder = child_dir(split_dir, ("videos", "frames")) if split_dir is not None else None
        sources = sources_in(folder) if folder is not None else []
        if not sources:
            where = "training/videos/*.avi" if split == "training" else "testing/frames/<video>/"
            raise MissingSplitError(f"no {split!r} split in {root}: expected {root}/{where}")
        return sources

    def frame_labels(
        self, root: Path, sources: Sequence[VideoSource], lengths: Sequence[int]
    ) -> list[np.ndarray] | None:
        folder = sources[0].path.parent.parent / _FRAME_MASKS
        if not folder.is_dir():
            return None
        out = []
        for s, k in zip(sources, lengths, strict=True):
            path = folder / f"{s.name}.npy"
            if not path.is_file():
                raise DatasetError(f"test video {s.name!r} has no frame labels: {path} is missing")
            labels = np.asarray(_load(path, 1))
            if len(labels) != k or not np.isin(labels, (0, 1)).all():
                raise DatasetError(
                    f"{path} must hold {k} values of 0 and 1 (the frames of {s.path}), got "
                    f"{len(labels)} values {sorted(np.unique(labels).tolist())[:5]}"
                )
            out.append(labels.astype(np.int8))
        return out

    def masks(
        self,
        root: Path,
        source: VideoSource,
        n_frames: int,
        size: tuple[int, int],
        cache_dir: str | None,
    ) -> MaskSet | None:
        native = self.native_masks(source.path, n_frames)
        if native is None:
            return None
        labels = native.reshape(n_frames, -1).any(axis=1).astype(np.int8)
        return MaskSet(resize_masks(native, size), labels)

    def native_masks(self, path: Path, n_frames: int) -> np.ndarray | None:
        if not path.is_dir() or path.parent.name.lower() != "frames":
            return None
        mask_file = path.parent.parent / _PIXEL_MASKS / f"{path.name}.npy"
        if not mask_file.is_file():
            return None
        masks = _load(mask_file, 3)
        if len(masks) != n_frames:
            raise DatasetError(
                f"{mask_file} has {len(masks)} masks but {path} has {n_frames} frames"
            )
        return np.asarray(masks) > 0
