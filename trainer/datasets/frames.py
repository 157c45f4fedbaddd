"""The frames-folder layout of the paper authors' code (and MNAD, MemAE), video files too::

    <root>/{training,testing}/frames/<video>/<frame>.{jpg,png,tif,bmp}
    <root>/testing/pixel_masks/<video>/<frame>.png     (optional, 255 = anomalous)
    <root>/frame_labels_<name>.npy                      (optional, (1, N) or (N,))

The authors ship ``frame_labels_ped2.npy``, ``frame_labels_avenue.npy`` and
``frame_labels_shanghai.npy``: the test videos' frame labels concatenated in sorted order.
``<name>`` is the dataset folder's name; a single ``frame_labels_*.npy`` is used whatever its
name, and a ``<name>.mat`` of UCSD-style intervals is read when there is no ``.npy``. The split
folder may hold video files (``.avi``, ``.mp4``, ...) instead of frame folders, directly or in a
``videos`` sub-folder; ``train``/``test`` are accepted as split names.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trainer.data import DatasetError, MissingSplitError, image_files, is_hidden, read_mask_images
from trainer.datasets.base import (
    Layout,
    MaskSet,
    VideoSource,
    child_dir,
    find_label_file,
    read_mat_labels,
    read_npy_labels,
    sources_in,
    split_aliases,
    split_concatenated,
)

__all__ = ["FramesLayout", "mask_dir_for"]


def mask_dir_for(video_dir: Path) -> Path | None:
    """The folder of mask images of a frame folder: ``<split>/{pixel_masks,masks,gt}/<video>``
    when the video sits in ``<split>/frames/``, or ``<video>_gt`` beside it (UCSD)."""
    cands = []
    if video_dir.parent.name.lower() == "frames":
        split_dir = video_dir.parent.parent
        for n in ("pixel_masks", "masks", "gt"):
            cands.append(split_dir / n / video_dir.name)
    cands.append(video_dir.parent / f"{video_dir.name}_gt")
    for c in cands:
        if c.is_dir():
            return c
    return None


def _found(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if not is_hidden(p))[:12]


class FramesLayout(Layout):
    """``<root>/{training,testing}/frames/<video>/`` with ``frame_labels_<name>.npy``."""

    name = "frames"
    description = (
        "frames folders (the paper authors' code): <root>/{training,testing}/frames/<video>/"
        "<frame>.jpg, labels in <root>/frame_labels_{ped2,avenue,shanghai}.npy, optional masks "
        "in <root>/testing/pixel_masks/<video>/ (video files in <root>/{training,testing}/ "
        "or .../videos/ work too)"
    )

    def matches(self, root: Path) -> bool:
        return any(child_dir(root, split_aliases(s)) for s in ("training", "testing"))

    def sources(self, root: Path, split: str) -> list[VideoSource]:
        split_dir = child_dir(root, split_aliases(split))
        if split_dir is None:
            raise MissingSplitError(
                f"no {split!r} split in {root}: expected {root}/{split}/frames/<video>/ "
                f"(found: {_found(root)})"
            )
        folder = child_dir(split_dir, ("frames", "videos")) or split_dir
        sources = sources_in(folder)
        if not sources:
            raise MissingSplitError(
                f"no videos (frame folders or video files) found in {folder} for split {split!r}"
            )
        return sources

    def label_folders(self, root: Path, sources: Sequence[VideoSource]) -> list[Path]:
        """Folders searched for the label file: the root, the videos' folder, its parent."""
        folder = sources[0].path.parent
        return [root, folder, folder.parent]

    def frame_labels(
        self, root: Path, sources: Sequence[VideoSource], lengths: Sequence[int]
    ) -> list[np.ndarray] | None:
        path = find_label_file(self.label_folders(root, sources), [root.name])
        if path is None:
            return None
        if path.suffix.lower() == ".npy":
            return split_concatenated(path, read_npy_labels(path), lengths, "test videos")
        return read_mat_labels(path, lengths, [s.name for s in sources])

    def masks(
        self,
        root: Path,
        source: VideoSource,
        n_frames: int,
        size: tuple[int, int],
        cache_dir: str | None,
    ) -> MaskSet | None:
        files = self._mask_files(source.path, n_frames)
        if files is None:
            return None
        mask_dir = files[0].parent if files else source.path
        resized = read_mask_images(
            files, mask_dir, size=size, name=source.name, cache_dir=cache_dir
        )
        return MaskSet(resized, resized.reshape(n_frames, -1).any(axis=1).astype(np.int8))

    def native_masks(self, path: Path, n_frames: int) -> np.ndarray | None:
        files = self._mask_files(path, n_frames)
        if not files:
            return None
        return read_mask_images(files, files[0].parent)

    def _mask_files(self, video_dir: Path, n_frames: int) -> list[Path] | None:
        if not video_dir.is_dir():
            return None
        mask_dir = mask_dir_for(video_dir)
        if mask_dir is None:
            return None
        files = image_files(mask_dir)
        if len(files) != n_frames:
            raise DatasetError(
                f"pixel masks in {mask_dir} have {len(files)} files but video "
                f"{video_dir.name!r} has {n_frames} frames"
            )
        return files
