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
from trainer.datasets.base import (
    VideoSource,
    child_dir,
    intervals_to_labels,
    read_mat_labels,
    sources_in,
)
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
        out.append(intervals_to_labels(path, intervals, k, name))
    return out
