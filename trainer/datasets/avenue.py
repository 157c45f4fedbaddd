"""CUHK Avenue (Lu et al., ICCV 2013) as its authors publish it::

    <root>/training_videos/01.avi .. 16.avi
    <root>/testing_videos/01.avi .. 21.avi
    <root>/ground_truth_demo/testing_label_mask/1_label.mat .. 21_label.mat
        (the separate ground-truth zip; MATLAB cell ``volLabel``, one mask per frame, 1 = anomalous)
    <root>/frame_labels_avenue.npy
        (optional: the frame labels of the 21 test videos concatenated, as the paper authors'
        code uses them)

Avenue has two frame-label sources that disagree on 441 of its 15,324 test frames: the
published frame labels (``frame_labels_avenue.npy``, 3,867 anomalous frames, used by the
published frame-level AUCs, Table 1 of the paper included) and "the frame's ``volLabel`` mask is
not empty" (3,712). Frame labels come from the first by default; the masks serve localisation
(see ``label_source`` of :func:`trainer.datasets.load_split`). The test videos may be a subset:
the ``volLabel`` files give the lengths of the missing ones, so the right slice of
``frame_labels_avenue.npy`` is found for each video present.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trainer.data import DatasetError, MissingSplitError, is_hidden, resize_masks
from trainer.datasets.base import (
    Layout,
    MaskSet,
    VideoSource,
    child_dir,
    find_label_file,
    read_npy_labels,
    sources_in,
    split_concatenated,
)

__all__ = ["AvenueLayout", "read_vol_label"]

_SPLIT_DIRS = {"training": "training_videos", "testing": "testing_videos"}
_MASK_NAME = re.compile(r"(\d+)_label\.mat", re.IGNORECASE)


def read_vol_label(path: Path) -> np.ndarray:
    """The ``volLabel`` masks of one ``N_label.mat``, ``bool`` ``(K, h, w)``."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path), variable_names=["volLabel"])
    except NotImplementedError as e:  # MATLAB v7.3 files are HDF5
        raise DatasetError(
            f"{path} is a MATLAB v7.3 (HDF5) file; re-save it with MATLAB's -v7 flag: {e}"
        ) from e
    except Exception as e:  # scipy raises several unrelated types on bad files
        raise DatasetError(f"cannot read Avenue mask file {path}: {e}") from e
    if "volLabel" not in mat:
        raise DatasetError(f"{path} has no variable 'volLabel'")
    cells = mat["volLabel"].ravel()
    if not len(cells):
        return np.zeros((0, 0, 0), dtype=bool)
    masks = [np.asarray(c) for c in cells]
    shapes = {m.shape for m in masks}
    if len(shapes) != 1 or masks[0].ndim != 2:
        raise DatasetError(f"{path}: volLabel masks must be 2-D of one size, got {sorted(shapes)}")
    return np.stack(masks) > 0


def _vol_label_length(path: Path) -> int:
    import scipy.io

    try:
        found = dict((n, shape) for n, shape, _ in scipy.io.whosmat(str(path)))
    except Exception as e:  # scipy raises several unrelated types on bad files
        raise DatasetError(f"cannot read Avenue mask file {path}: {e}") from e
    if "volLabel" not in found:
        raise DatasetError(f"{path} has no variable 'volLabel'")
    return int(np.prod(found["volLabel"]))


def _video_number(source: VideoSource) -> int:
    if not source.name.isdigit():
        raise DatasetError(
            f"Avenue test video {source.path} is not named by its number (01.avi .. 21.avi), so "
            f"its masks and frame labels cannot be matched to it"
        )
    return int(source.name)


class AvenueLayout(Layout):
    """``training_videos/``, ``testing_videos/`` and ``ground_truth_demo/`` as published."""

    name = "avenue"
    description = (
        "CUHK Avenue as published: <root>/training_videos/NN.avi, <root>/testing_videos/NN.avi, "
        "masks in <root>/ground_truth_demo/testing_label_mask/N_label.mat, optional "
        "<root>/frame_labels_avenue.npy"
    )

    def matches(self, root: Path) -> bool:
        return child_dir(root, tuple(_SPLIT_DIRS.values())) is not None

    def sources(self, root: Path, split: str) -> list[VideoSource]:
        folder = child_dir(root, (_SPLIT_DIRS[split],))
        sources = sources_in(folder) if folder is not None else []
        sources = [s for s in sources if s.is_file]
        if not sources:
            raise MissingSplitError(
                f"no {split!r} split in {root}: expected video files in "
                f"{root}/{_SPLIT_DIRS[split]}/"
            )
        return sources

    @staticmethod
    def mask_folder(root: Path) -> Path | None:
        """``ground_truth_demo/testing_label_mask`` (or ``testing_label_mask``) under ``root``."""
        gt = child_dir(root, ("ground_truth_demo",))
        return child_dir(gt if gt is not None else root, ("testing_label_mask",))

    def _mask_files(self, root: Path) -> dict[int, Path]:
        folder = self.mask_folder(root)
        if folder is None:
            return {}
        out = {}
        for p in folder.iterdir():
            m = _MASK_NAME.fullmatch(p.name)
            if m and not is_hidden(p):
                out[int(m.group(1))] = p
        return out

    def frame_labels(
        self, root: Path, sources: Sequence[VideoSource], lengths: Sequence[int]
    ) -> list[np.ndarray] | None:
        path = find_label_file([root], ["avenue", root.name], kinds=("npy",))
        if path is None:
            return None
        numbers = [_video_number(s) for s in sources]
        all_lengths = self._all_test_lengths(root, dict(zip(numbers, lengths, strict=True)))
        per_video = split_concatenated(
            path, read_npy_labels(path), list(all_lengths.values()), "Avenue test videos"
        )
        by_number = dict(zip(all_lengths, per_video, strict=True))
        return [by_number[n] for n in numbers]

    def _all_test_lengths(self, root: Path, present: dict[int, int]) -> dict[int, int]:
        """Frames of every test video 1..N: decoded where present, else from its volLabel."""
        mask_files = self._mask_files(root)
        last = max([*present, *mask_files])
        out = {}
        for n in range(1, last + 1):
            if n in present:
                out[n] = present[n]
            elif n in mask_files:
                out[n] = _vol_label_length(mask_files[n])
            else:
                raise DatasetError(
                    f"test video {n} of {root} is neither in testing_videos/ nor has a "
                    f"{n}_label.mat: its length is needed to find the other videos' frame labels "
                    f"in frame_labels_avenue.npy"
                )
        return out

    def masks(
        self,
        root: Path,
        source: VideoSource,
        n_frames: int,
        size: tuple[int, int],
        cache_dir: str | None,
    ) -> MaskSet | None:
        native = self._read(root, source.path, n_frames)
        if native is None:
            return None
        labels = native.reshape(n_frames, -1).any(axis=1).astype(np.int8)
        return MaskSet(resize_masks(native, size), labels)

    def native_masks(self, path: Path, n_frames: int) -> np.ndarray | None:
        if not path.is_file() or path.parent.name.lower() != _SPLIT_DIRS["testing"]:
            return None
        return self._read(path.parent.parent, path, n_frames)

    def _read(self, root: Path, video: Path, n_frames: int) -> np.ndarray | None:
        mask_file = self._mask_files(root).get(_video_number(VideoSource(video.stem, video, [])))
        if mask_file is None:
            return None
        masks = read_vol_label(mask_file)
        if len(masks) != n_frames:
            raise DatasetError(
                f"{mask_file} has {len(masks)} volLabel masks but {video} has {n_frames} frames"
            )
        return masks
