"""What every dataset layout provides, and the helpers the layouts share.

A layout (one subclass of :class:`Layout` per dataset family) says whether a folder is in its
form, lists the videos of a split, reads the frame labels its files hold, and reads the pixel
masks of a test video. :func:`trainer.datasets.load_split` does the decoding, caching and
checking around it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.data import VIDEO_EXTENSIONS, DatasetError, is_hidden, natural_key

__all__ = [
    "Layout",
    "MaskSet",
    "VideoSource",
    "child_dir",
    "find_label_file",
    "intervals_to_labels",
    "read_mat_labels",
    "read_npy_labels",
    "sources_in",
    "split_aliases",
]


@dataclass
class VideoSource:
    """One video of a split as the files hold it.

    Attributes
    ----------
    name : str
        Video name (folder name or file stem).
    path : pathlib.Path
        Frame folder or video file.
    frames : list of pathlib.Path
        Its frame images in order; empty for a video file (filled in by the loader).
    """

    name: str
    path: Path
    frames: list[Path]

    @property
    def is_file(self) -> bool:
        """Whether the video is one video file rather than a folder of frames."""
        return self.path.is_file()


@dataclass
class MaskSet:
    """Pixel masks of one test video: ``resized`` ``bool`` ``(K, H, W)`` at the frames' size
    and ``labels`` ``int8`` ``(K,)`` (1 = the frame's mask has an anomalous pixel), taken from
    the masks at the size of their files where the layout reads them that way."""

    resized: np.ndarray
    labels: np.ndarray


class Layout:
    """A dataset layout. Subclasses set ``name`` and ``description`` and implement the rest."""

    name: str = ""
    description: str = ""  # how the folder looks, for the "layout not recognised" error

    def matches(self, root: Path) -> bool:
        """Whether ``root`` is a dataset folder in this layout."""
        raise NotImplementedError

    def sources(self, root: Path, split: str) -> list[VideoSource]:
        """The videos of ``split`` (``training`` or ``testing``) in natural order of their
        names; raises :class:`trainer.data.MissingSplitError` when the split is absent."""
        raise NotImplementedError

    def frame_labels(
        self, root: Path, sources: Sequence[VideoSource], lengths: Sequence[int]
    ) -> list[np.ndarray] | None:
        """Per test video ``int8`` frame labels from the layout's frame-label files (not its
        pixel masks); ``None`` when the folder has no such file."""
        return None

    def masks(
        self, root: Path, source: VideoSource, size: tuple[int, int], cache_dir: str | None
    ) -> MaskSet | None:
        """The pixel masks of one test video, or ``None`` when it has none."""
        return None

    def native_masks(self, path: Path, n_frames: int) -> np.ndarray | None:
        """Masks of the video read from ``path`` at the size of their files, ``bool``
        ``(K, h, w)``, or ``None`` when ``path`` is not a test video of this layout with masks."""
        return None


# --------------------------------------------------------------------------- shared helpers

_SPLIT_ALIASES = {
    "training": ("training", "train"),
    "testing": ("testing", "test"),
}


def split_aliases(split: str) -> tuple[str, ...]:
    """Folder names (lower case) a split may have: ``training``/``train``, ``testing``/``test``."""
    return _SPLIT_ALIASES[split]


def child_dir(parent: Path, names: Sequence[str]) -> Path | None:
    """First folder inside ``parent`` whose lower-cased name is in ``names`` (in their order)."""
    if not parent.is_dir():
        return None
    found = {p.name.lower(): p for p in parent.iterdir() if p.is_dir() and not is_hidden(p)}
    for n in names:
        if n.lower() in found:
            return found[n.lower()]
    return None


def sources_in(
    folder: Path, *, name_pattern: re.Pattern | None = None, files: bool = True
) -> list[VideoSource]:
    """Video folders (not ``*_gt`` mask folders) and, with ``files``, video files directly
    inside ``folder``; ``name_pattern`` keeps only folders whose whole name matches."""
    out = []
    for p in folder.iterdir():
        if is_hidden(p):
            continue
        if p.is_dir():
            if p.name.lower().endswith("_gt"):
                continue
            if name_pattern is not None and not name_pattern.fullmatch(p.name):
                continue
            out.append(VideoSource(p.name, p, []))
        elif files and p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS:
            out.append(VideoSource(p.stem, p, []))
    return sorted(out, key=lambda s: natural_key(s.name))


def _label_candidates(folder: Path, kind: str) -> list[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and not is_hidden(p)]
    if kind == "npy":
        return [
            p
            for p in files
            if p.suffix.lower() == ".npy" and p.name.lower().startswith("frame_labels_")
        ]
    return [p for p in files if p.suffix.lower() == ".mat"]


def find_label_file(
    folders: Sequence[Path], names: Sequence[str], kinds: Sequence[str] = ("npy", "mat")
) -> Path | None:
    """The frame-label file: ``frame_labels_<name>.npy`` (else ``<name>.mat``) for one of
    ``names`` in the first of ``folders`` holding one, else the only candidate of its kind in a
    folder. Several candidates and none named after the dataset is an error naming them."""
    wanted = [n.lower() for n in names]
    for kind in kinds:
        for folder in dict.fromkeys(folders):
            if not folder.is_dir():
                continue
            cands = _label_candidates(folder, kind)
            stem = "frame_labels_{}" if kind == "npy" else "{}"
            exact = [p for p in cands if p.stem.lower() in [stem.format(n) for n in wanted]]
            if exact:
                return exact[0]
            if len(cands) == 1:
                return cands[0]
            if len(cands) > 1:
                expected = " or ".join(
                    f"frame_labels_{n}.npy" if kind == "npy" else f"{n}.mat" for n in wanted
                )
                raise DatasetError(
                    f"several label files in {folder} and none named after the dataset "
                    f"({expected}): {sorted(p.name for p in cands)}"
                )
    return None


def read_npy_labels(path: Path) -> np.ndarray:
    """Frame labels from a ``.npy`` file of shape ``(1, N)`` or ``(N,)`` holding 0 and 1."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read frame labels {path}: {e}") from e
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise DatasetError(f"frame labels {path} must have shape (1, N) or (N,), got {arr.shape}")
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise DatasetError(f"frame labels {path} must hold only 0 and 1")
    return arr.astype(np.int8)


def split_concatenated(
    path: Path, labels: np.ndarray, lengths: Sequence[int], what: str
) -> list[np.ndarray]:
    """``labels`` of videos concatenated in order, cut into one array per video of
    ``lengths``; a total that does not match is an error naming both numbers."""
    if len(labels) != sum(lengths):
        raise DatasetError(
            f"frame labels in {path} have {len(labels)} entries but the {len(lengths)} {what} "
            f"have {sum(lengths)} frames in total"
        )
    bounds = np.cumsum([0, *lengths])
    return [labels[a:b].copy() for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def intervals_to_labels(path: Path, intervals: np.ndarray, k: int, name: str) -> np.ndarray:
    """``int8`` frame labels of a ``k``-frame video from ``(2, n)`` 1-based inclusive intervals."""
    lab = np.zeros(k, dtype=np.int8)
    for start, end in intervals.T:
        if not 1 <= start <= end <= k:
            raise DatasetError(
                f"{path}: interval [{start}, {end}] of video {name!r} is outside its "
                f"{k} frames (1-based, inclusive)"
            )
        lab[start - 1 : end] = 1
    return lab


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
        intervals_to_labels(path, _mat_intervals(entry, path, i), k, name)
        for i, (entry, k, name) in enumerate(zip(entries, lengths, names, strict=True))
    ]
