"""UCSD Pedestrian (Ped1, Ped2) as the UCSD archive ships it::

    <root>/Train/Train001/001.tif ...      <root>/Test/Test001/001.tif ...
    <root>/Test/Test001_gt/001.bmp ...     (pixel masks, where UCSD provides them)
    <root>/Test/UCSDped2.m                 (frame labels: TestVideoFile{end+1}.gt_frame = [61:180];)

The ``Train001`` / ``Test001`` folders may also sit under ``<root>/training``,
``<root>/testing`` or directly in ``<root>``. Frame labels come from
``frame_labels_<name>.npy`` or ``<name>.mat`` (MATLAB struct ``gt``: per test video a
``(2, n)`` array of 1-based inclusive ``[start; end]`` intervals) when present, else from the
archive's ``UCSDped*.m`` (in ``Test/`` or ``<root>``), else from the ``_gt`` masks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trainer.data import DatasetError, MissingSplitError, is_hidden
from trainer.datasets.base import VideoSource, child_dir, sources_in
from trainer.datasets.frames import FramesLayout

__all__ = ["UCSDLayout", "read_m_labels", "read_mat_labels"]

_PREFIX = {"training": "Train", "testing": "Test"}
_SPLIT_DIRS = {"training": ("train", "training"), "testing": ("test", "testing")}


def _video_pattern(split: str) -> re.Pattern:
    return re.compile(rf"{_PREFIX[split]}\d+", re.IGNORECASE)


def _has_videos(folder: Path | None, split: str) -> bool:
    if folder is None:
        return False
    pattern = _video_pattern(split)
    return any(p.is_dir() and pattern.fullmatch(p.name) for p in folder.iterdir())


class UCSDLayout(FramesLayout):
    """UCSD's ``Train/Train001`` and ``Test/Test001`` (+ ``Test001_gt``) folders."""

    name = "ucsd"
    description = (
        "UCSD Ped1/Ped2 as published: <root>/Train/Train001/*.tif, <root>/Test/Test001/*.tif, "
        "masks in <root>/Test/Test001_gt/, labels in <root>/Test/UCSDped2.m"
    )

    def matches(self, root: Path) -> bool:
        for split in ("training", "testing"):
            if _has_videos(root, split) or _has_videos(child_dir(root, _SPLIT_DIRS[split]), split):
                return True
        return False

    def sources(self, root: Path, split: str) -> list[VideoSource]:
        pattern = _video_pattern(split)
        for folder in (child_dir(root, _SPLIT_DIRS[split]), root):
            if folder is not None:
                sources = sources_in(folder, name_pattern=pattern, files=False)
                if sources:
                    return sources
        prefix = _PREFIX[split]
        raise MissingSplitError(
            f"no {split!r} split in {root}: expected {root}/{prefix}/{prefix}001/ or "
            f"{root}/{prefix}001/"
        )

    def frame_labels(
        self, root: Path, sources: Sequence[VideoSource], lengths: Sequence[int]
    ) -> list[np.ndarray] | None:
        labels = super().frame_labels(root, sources, lengths)
        if labels is not None:
            return labels
        # The archive keeps UCSDped2.m in Test/; a copy at the root is read too.
        m_files = sorted(
            p
            for folder in dict.fromkeys([root, sources[0].path.parent])
            for p in folder.iterdir()
            if p.is_file() and not is_hidden(p) and re.fullmatch(r"ucsdped\w*\.m", p.name.lower())
        )
        if len(m_files) != 1:
            return None
        return read_m_labels(m_files[0], lengths, [s.name for s in sources])


def _intervals_to_labels(path: Path, intervals: np.ndarray, k: int, name: str) -> np.ndarray:
    lab = np.zeros(k, dtype=np.int8)
    for start, end in intervals.T:
        if not 1 <= start <= end <= k:
            raise DatasetError(
                f"{path}: interval [{start}, {end}] of video {name!r} is outside its "
                f"{k} frames (1-based, inclusive)"
            )
        lab[start - 1 : end] = 1
    return lab


def read_m_labels(path: Path, lengths: Sequence[int], names: Sequence[str]) -> list[np.ndarray]:
    """Frame labels from UCSD's ``UCSDped*.m``: one ``gt_frame = [a:b, c:d];`` per test video."""
    entries = re.findall(r"gt_frame\s*=\s*\[([^\]]*)\]", path.read_text(errors="replace"))
    if len(entries) != len(lengths):
        raise DatasetError(
            f"{path} has gt_frame for {len(entries)} videos but the test split has "
            f"{len(lengths)} videos"
        )
    out = []
    for entry, k, name in zip(entries, lengths, names, strict=True):
        pairs = []
        for part in re.split(r"[,\s]+", entry.strip()):
            if not part:
                continue
            ends = part.split(":")
            if len(ends) not in (1, 2) or not all(e.isdigit() for e in ends):
                raise DatasetError(f"{path}: cannot read gt_frame entry {part!r} of {name!r}")
            pairs.append((int(ends[0]), int(ends[-1])))
        intervals = np.array(pairs, dtype=np.int64).reshape(-1, 2).T
        out.append(_intervals_to_labels(path, intervals, k, name))
    return out


def _mat_intervals(entry: object, path: Path, index: int) -> np.ndarray:
    arr = np.asarray(entry)
    if arr.dtype == object:  # nested cell
        arr = np.asarray(arr.item()) if arr.size == 1 else arr
    arr = np.asarray(arr, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((2, 0), dtype=np.int64)
    if arr.ndim == 1 and arr.size == 2:
        arr = arr.reshape(2, 1)
    elif arr.ndim == 2 and arr.shape[0] != 2 and arr.shape[1] == 2:
        arr = arr.T
    if arr.ndim != 2 or arr.shape[0] != 2:
        raise DatasetError(
            f"{path}: gt entry {index + 1} must be a (2, n) array of [start; end] intervals, "
            f"got shape {arr.shape}"
        )
    return arr.astype(np.int64)


def read_mat_labels(path: Path, lengths: Sequence[int], names: Sequence[str]) -> list[np.ndarray]:
    """Frame labels from a ``.mat`` with struct ``gt``: per test video a ``(2, n)`` array of
    1-based inclusive ``[start; end]`` intervals (read with :mod:`scipy.io`)."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as e:  # scipy raises several unrelated types on bad files
        raise DatasetError(f"cannot read MATLAB labels {path}: {e}") from e
    if "gt" not in mat:
        raise DatasetError(f"{path} has no variable 'gt' (found {sorted(mat)})")
    gt = mat["gt"]
    if gt.dtype.names:  # struct array: use its first field
        gt = gt[gt.dtype.names[0]]
    entries = list(gt.ravel()) if gt.dtype == object else [gt]
    if len(entries) != len(lengths):
        raise DatasetError(
            f"{path} has intervals for {len(entries)} videos but the test split has "
            f"{len(lengths)} videos"
        )
    return [
        _intervals_to_labels(path, _mat_intervals(entry, path, i), k, name)
        for i, (entry, k, name) in enumerate(zip(entries, lengths, names, strict=True))
    ]
