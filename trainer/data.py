"""Dataset readers, frame-level labels, pixel masks and the decoded-frame cache.

Supported layouts (``root`` is the dataset folder, ``split`` is ``"training"`` or ``"testing"``;
``"train"``/``"test"`` and the UCSD spellings ``"Train"``/``"Test"`` are accepted too):

* **frames folders** (MNAD / MemAE / the paper's code)::

      <root>/{training,testing}/frames/<video>/<frame>.{jpg,png,tif,bmp}
      <root>/testing/pixel_masks/<video>/<frame>.png        (optional, 255 = anomalous)
      <root>/frame_labels_<name>.npy                         (optional, (1, N) or (N,))

* **original UCSD**::

      <root>/Train/Train001/001.tif ...   <root>/Test/Test001/001.tif ...
      <root>/Test/Test001_gt/001.bmp ...                    (optional pixel masks)
      <root>/<name>.mat                                     (optional, struct ``gt``)

  The ``Train001`` / ``Test001`` folders may also sit directly under ``<root>/training``,
  ``<root>/testing`` or ``<root>`` itself.

* **video files**: ``.avi`` / ``.mp4`` / ``.mov`` / ``.mkv`` / ``.mpg`` files inside the split
  folder (or its ``frames`` / ``videos`` sub-folder), read with OpenCV.

Frame-level labels (test split only) come from ``frame_labels_<name>.npy`` (``<name>`` is the
dataset folder's name; a single ``frame_labels_*.npy`` is used whatever its name), else from
``<name>.mat`` (MATLAB struct ``gt``: per test video a ``(2, n)`` array of 1-based inclusive
``[start; end]`` intervals, read with :mod:`scipy.io`), else from the pixel masks (a frame is
anomalous when its mask has any anomalous pixel), else they are ``None``. Label files hold the
test videos concatenated in natural sort order of their names.

Every frame is decoded once per process: decoded, resized ``uint8`` frames are kept in an
in-memory LRU cache, and, with ``cache_dir``, in one ``.npy`` file per video (and per mask
video) that later loads memory-map instead of decoding. Cached arrays are read-only.

Frames are ``uint8`` ``(K, H, W, C)`` in ``[0, 255]``; models see ``float32`` in ``[-1, 1]``
through :func:`to_model_range` (inverse :func:`from_model_range`), defined here and only here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "DatasetError",
    "MissingSplitError",
    "Video",
    "clear_cache",
    "from_model_range",
    "load_pixel_masks",
    "load_split",
    "load_video",
    "model_to_unit_range",
    "natural_key",
    "to_model_range",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"})
"""File suffixes (lower case) read as frames."""

VIDEO_EXTENSIONS: frozenset[str] = frozenset({".avi", ".mp4", ".mov", ".mkv", ".mpg", ".mpeg"})
"""File suffixes (lower case) read as video files with OpenCV."""

_CACHE_VERSION = 1
_MEMORY_CACHE_MAX_BYTES = 2 * 1024**3


class DatasetError(ValueError):
    """A dataset folder, frame, label or mask file is missing, unreadable or inconsistent."""


class MissingSplitError(DatasetError):
    """The dataset has no videos for the split asked for (a dataset without a test split)."""


# --------------------------------------------------------------------------- value ranges


def to_model_range(x: np.ndarray) -> np.ndarray:
    """Map ``uint8`` pixels to the model's input range.

    Parameters
    ----------
    x : np.ndarray
        Any shape, values in ``[0, 255]`` (``uint8`` or a number type).

    Returns
    -------
    np.ndarray
        ``float32``, same shape, ``x / 127.5 - 1`` in ``[-1, 1]``.
    """
    return np.asarray(x, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)


def from_model_range(x: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_model_range`: model-range values back to ``uint8`` pixels.

    Parameters
    ----------
    x : np.ndarray
        Any shape, values in ``[-1, 1]`` (values outside are clipped).

    Returns
    -------
    np.ndarray
        ``uint8``, same shape, ``round((x + 1) * 127.5)`` clipped to ``[0, 255]``.
    """
    y = (np.asarray(x, dtype=np.float32) + np.float32(1.0)) * np.float32(127.5)
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def model_to_unit_range(x: np.ndarray) -> np.ndarray:
    """Map model-range values ``[-1, 1]`` to ``[0, 1]`` (``(x + 1) / 2``, ``float32``).

    This is the scale on which PSNR is computed (peak value 1).

    Parameters
    ----------
    x : np.ndarray
        Any shape, values in ``[-1, 1]``.

    Returns
    -------
    np.ndarray
        ``float32``, same shape, ``(x + 1) / 2`` (not clipped).
    """
    return (np.asarray(x, dtype=np.float32) + np.float32(1.0)) * np.float32(0.5)


# --------------------------------------------------------------------------- Video


@dataclass(eq=False)
class Video:
    """One video of a dataset split, decoded and resized.

    Attributes
    ----------
    name : str
        Video name, e.g. ``"01"`` (frames layout), ``"Test001"`` (UCSD) or the file stem.
    frames : np.ndarray
        ``uint8`` ``(K, H, W, C)`` in ``[0, 255]``, already resized; read-only when it comes
        from the cache.
    labels : np.ndarray or None
        ``int8`` ``(K,)``, 1 = anomalous frame; ``None`` when unknown.
    masks : np.ndarray or None
        ``bool`` ``(K, H, W)`` pixel ground truth at the frames' size; ``None`` when absent.
    path : pathlib.Path or None
        Where the video was read from (frame folder or video file); an addition to the
        documented contract, with a default so ``Video(name, frames, labels, masks)`` works.
    """

    name: str
    frames: np.ndarray
    labels: np.ndarray | None
    masks: np.ndarray | None
    path: Path | None = None

    def __post_init__(self) -> None:
        f = self.frames
        if not isinstance(f, np.ndarray) or f.ndim != 4 or f.dtype != np.uint8:
            raise DatasetError(
                f"Video {self.name!r}: frames must be a uint8 array (K, H, W, C), got "
                f"{getattr(f, 'dtype', type(f))} with shape {getattr(f, 'shape', None)}"
            )
        k = f.shape[0]
        if self.labels is not None:
            if self.labels.ndim != 1 or len(self.labels) != k:
                raise DatasetError(
                    f"Video {self.name!r}: {len(self.labels)} labels (shape "
                    f"{self.labels.shape}) but {k} frames"
                )
        if self.masks is not None and self.masks.shape != f.shape[:3]:
            raise DatasetError(
                f"Video {self.name!r}: masks have shape {self.masks.shape} but frames "
                f"{f.shape} (expected {f.shape[:3]})"
            )

    def __len__(self) -> int:
        return int(self.frames.shape[0])


# --------------------------------------------------------------------------- helpers


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers numerically (``"2.jpg"`` before ``"10.jpg"``).

    Parameters
    ----------
    name : str
        A file or folder name.

    Returns
    -------
    tuple
        Key for :func:`sorted`.
    """
    parts = re.split(r"(\d+)", name)
    return tuple((0, int(p), p) if p.isdigit() else (1, 0, p.lower()) for p in parts if p != "")


def _is_hidden(p: Path) -> bool:
    return p.name.startswith(".")


def _image_files(folder: Path) -> list[Path]:
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and not _is_hidden(p) and p.suffix.lower() in IMAGE_EXTENSIONS
    ]
    return sorted(files, key=lambda p: natural_key(p.name))


def _check_size(size: tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (H, W) with two positive ints, got {size!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be (H, W) with two positive ints, got {size!r}")
    return h, w


def _check_channels(channels: int) -> int:
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    return int(channels)


def _resize(img: np.ndarray, size: tuple[int, int] | None, interpolation: int) -> np.ndarray:
    if size is None or img.shape[:2] == size:
        return img
    h, w = size
    return cv2.resize(img, (w, h), interpolation=interpolation)


def _decode_image(path: Path, channels: int) -> np.ndarray:
    """Decode one image file to ``uint8`` ``(h, w)`` (channels=1) or RGB ``(h, w, 3)``.

    The single place where frame and mask images are decoded (tests count calls to it).
    """
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise DatasetError(f"cannot read frame file {path}: {e}") from e
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    img = cv2.imdecode(buf, flag) if buf.size else None
    if img is None:
        raise DatasetError(f"corrupt or unreadable image file {path}")
    if channels == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.dtype != np.uint8:  # e.g. 16-bit TIFF read as-is by some builds
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return img


def _decode_video_file(path: Path, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    """Decode every frame of a video file with OpenCV to ``uint8`` ``(K, H, W, C)``.

    Warns (:class:`UserWarning`, naming the file and both counts) when fewer frames decode than
    the container states, e.g. a truncated file.
    """
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise DatasetError(f"cannot open video file {path} (unreadable or unknown codec)")
        stated = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if frame.ndim == 2:
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            code = cv2.COLOR_BGR2GRAY if channels == 1 else cv2.COLOR_BGR2RGB
            frame = _resize(cv2.cvtColor(frame, code), size, cv2.INTER_AREA)
            frames.append(frame.reshape(frame.shape[0], frame.shape[1], channels))
    finally:
        cap.release()
    if not frames:
        raise DatasetError(f"no frame could be decoded from video file {path}")
    if len(frames) < stated:
        warnings.warn(
            f"video file {path}: decoded {len(frames)} frames but its container states "
            f"{stated} (truncated or damaged file?)",
            UserWarning,
            stacklevel=2,
        )
    return np.stack(frames)


# --------------------------------------------------------------------------- caching

_memory_cache: OrderedDict[str, np.ndarray] = OrderedDict()
_memory_cache_bytes = 0


def clear_cache() -> None:
    """Empty the in-memory decoded-frame cache (the on-disk cache is left alone)."""
    global _memory_cache_bytes
    _memory_cache.clear()
    _memory_cache_bytes = 0


def _memory_get(key: str) -> np.ndarray | None:
    arr = _memory_cache.get(key)
    if arr is not None:
        _memory_cache.move_to_end(key)
    return arr


def _nbytes(arr: np.ndarray) -> int:
    return 0 if isinstance(arr, np.memmap) else int(arr.nbytes)


def _memory_put(key: str, arr: np.ndarray) -> None:
    global _memory_cache_bytes
    if _nbytes(arr) > _MEMORY_CACHE_MAX_BYTES:
        return
    old = _memory_cache.pop(key, None)
    if old is not None:
        _memory_cache_bytes -= _nbytes(old)
    _memory_cache[key] = arr
    _memory_cache_bytes += _nbytes(arr)
    while _memory_cache_bytes > _MEMORY_CACHE_MAX_BYTES and len(_memory_cache) > 1:
        _, dropped = _memory_cache.popitem(last=False)
        _memory_cache_bytes -= _nbytes(dropped)


def _cache_key(
    source: Path,
    files: Sequence[Path],
    *,
    kind: str,
    split: str,
    size: tuple[int, int] | None,
    channels: int,
) -> str:
    stats = []
    for f in files:
        st = f.stat()
        stats.append([f.name, st.st_mtime_ns, st.st_size])
    payload = json.dumps(
        {
            "version": _CACHE_VERSION,
            "source": str(source.resolve()),
            "kind": kind,
            "split": split,
            "size": list(size) if size else None,
            "channels": channels,
            "files": stats,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _cache_file(cache_dir: Path, name: str, kind: str, key: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60]
    return cache_dir / f"{safe}-{kind}-{key}.npy"


def _atomic_save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _cached(
    key: str,
    cache_dir: Path | None,
    name: str,
    kind: str,
    decode,
    expected_shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Return the array for ``key`` from memory, else disk, else ``decode()`` and store it."""
    arr = _memory_get(key)
    if arr is not None:
        return arr
    disk = _cache_file(Path(cache_dir), name, kind, key) if cache_dir is not None else None
    if disk is not None and disk.is_file():
        try:
            arr = np.load(disk, mmap_mode="r", allow_pickle=False)
            if expected_shape is not None and arr.shape != expected_shape:
                arr = None
        except (OSError, ValueError):
            arr = None  # truncated or foreign file: decode again and overwrite it
    if arr is None:
        arr = decode()
        arr.setflags(write=False)
        if disk is not None:
            _atomic_save(disk, arr)
    _memory_put(key, arr)
    return arr


def _decode_folder(
    files: Sequence[Path], size: tuple[int, int] | None, channels: int, folder: Path
) -> np.ndarray:
    out: np.ndarray | None = None
    first_shape = None
    for i, f in enumerate(files):
        img = _decode_image(f, channels)
        if size is None:
            if first_shape is None:
                first_shape = img.shape[:2]
            elif img.shape[:2] != first_shape:
                raise DatasetError(
                    f"frame {f} is {img.shape[1]}x{img.shape[0]} but earlier frames of {folder} "
                    f"are {first_shape[1]}x{first_shape[0]}; pass size=(H, W) to resize"
                )
        img = _resize(img, size, cv2.INTER_AREA).reshape(*(size or img.shape[:2]), channels)
        if out is None:
            out = np.empty((len(files), *img.shape), dtype=np.uint8)
        out[i] = img
    assert out is not None
    return out


def _decode_masks(files: Sequence[Path], size: tuple[int, int], folder: Path) -> np.ndarray:
    out = np.empty((len(files), *size), dtype=bool)
    for i, f in enumerate(files):
        m = _decode_image(f, 1)
        m = _resize(m, size, cv2.INTER_NEAREST)
        out[i] = m > (127 if m.max(initial=0) > 1 else 0)
    return out


# --------------------------------------------------------------------------- sources


@dataclass
class _Source:
    name: str
    path: Path  # frame folder or video file
    is_file: bool
    frames: list[Path]  # frame files (empty for a video file)
    mask_dir: Path | None


_SPLITS = {
    "training": "training",
    "train": "training",
    "testing": "testing",
    "test": "testing",
}


def _normalise_split(split: str) -> str:
    s = _SPLITS.get(str(split).lower())
    if s is None:
        raise ValueError(f"split must be 'training' or 'testing' (or train/test), got {split!r}")
    return s


def _child_ci(parent: Path, names: Sequence[str]) -> Path | None:
    """First directory child of ``parent`` whose lower-cased name is in ``names``."""
    wanted = [n.lower() for n in names]
    found = {p.name.lower(): p for p in parent.iterdir() if p.is_dir() and not _is_hidden(p)}
    for n in wanted:
        if n in found:
            return found[n]
    return None


def _mask_dir_for(video_dir: Path) -> Path | None:
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


def _sources_in(folder: Path, *, name_pattern: re.Pattern | None = None) -> list[_Source]:
    """Video folders and video files directly inside ``folder``."""
    out = []
    for p in folder.iterdir():
        if _is_hidden(p):
            continue
        if p.is_dir():
            if p.name.lower().endswith("_gt"):
                continue
            if name_pattern is not None and not name_pattern.fullmatch(p.name):
                continue
            out.append(_Source(p.name, p, False, [], _mask_dir_for(p)))
        elif p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS and name_pattern is None:
            out.append(_Source(p.stem, p, True, [], None))
    return sorted(out, key=lambda s: natural_key(s.name))


def _find_sources(root: Path, split: str) -> tuple[list[_Source], Path]:
    """Locate the videos of ``split`` under ``root``; returns them and the folder they sit in."""
    aliases = {
        "training": ("training", "train"),
        "testing": ("testing", "test"),
    }[split]
    split_dir = _child_ci(root, aliases)
    if split_dir is not None:
        inner = _child_ci(split_dir, ("frames", "videos"))
        folder = inner if inner is not None else split_dir
        sources = _sources_in(folder)
        if not sources:
            raise MissingSplitError(
                f"no videos (frame folders or video files) found in {folder} for split {split!r}"
            )
        return sources, folder
    # UCSD folders (Train001 / Test001) directly under the dataset root.
    prefix = "Train" if split == "training" else "Test"
    pattern = re.compile(rf"{prefix}\d+", re.IGNORECASE)
    sources = _sources_in(root, name_pattern=pattern)
    if sources:
        return sources, root
    raise MissingSplitError(
        f"no {split!r} split in {root}: expected {root}/{split}/frames/<video>/, "
        f"{root}/{prefix}/{prefix}001/ or {root}/{prefix}001/ (found: "
        f"{sorted(p.name for p in root.iterdir())[:10]})"
    )


# --------------------------------------------------------------------------- labels


def _find_label_file(root: Path, split_dir: Path) -> Path | None:
    name = root.name.lower()
    for kind in ("npy", "mat"):
        for folder in dict.fromkeys([root, split_dir, split_dir.parent]):
            if not folder.is_dir():
                continue
            files = [p for p in folder.iterdir() if p.is_file() and not _is_hidden(p)]
            if kind == "npy":
                cands = [
                    p
                    for p in files
                    if p.suffix.lower() == ".npy" and p.name.lower().startswith("frame_labels_")
                ]
                exact = [p for p in cands if p.stem.lower() == f"frame_labels_{name}"]
            else:
                cands = [p for p in files if p.suffix.lower() == ".mat"]
                exact = [p for p in cands if p.stem.lower() == name]
            if exact:
                return exact[0]
            if len(cands) == 1:
                return cands[0]
            if len(cands) > 1:
                raise DatasetError(
                    f"several label files in {folder} and none named after the dataset "
                    f"({'frame_labels_' + name + '.npy' if kind == 'npy' else name + '.mat'}): "
                    f"{sorted(p.name for p in cands)}"
                )
    return None


def _read_npy_labels(path: Path) -> np.ndarray:
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


def _read_mat_labels(path: Path, lengths: Sequence[int], names: Sequence[str]) -> np.ndarray:
    try:
        import scipy.io
    except ImportError as e:  # pragma: no cover - scipy is present in the dev environment
        raise DatasetError(
            f"reading MATLAB labels {path} needs scipy (pip install scipy), or convert them to "
            f"frame_labels_<name>.npy (int, shape (1, N))"
        ) from e
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
    parts = []
    for i, (entry, k, name) in enumerate(zip(entries, lengths, names, strict=True)):
        lab = np.zeros(k, dtype=np.int8)
        for start, end in _mat_intervals(entry, path, i).T:
            if not 1 <= start <= end <= k:
                raise DatasetError(
                    f"{path}: interval [{start}, {end}] of video {name!r} is outside its "
                    f"{k} frames (1-based, inclusive)"
                )
            lab[start - 1 : end] = 1
        parts.append(lab)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int8)


def _check_label_count(path: Path, n_labels: int, n_frames: int, n_videos: int) -> None:
    if n_labels != n_frames:
        raise DatasetError(
            f"frame labels in {path} have {n_labels} entries but the {n_videos} test videos "
            f"have {n_frames} frames in total"
        )


# --------------------------------------------------------------------------- public loaders


def load_split(
    root: str | os.PathLike,
    split: str,
    size: tuple[int, int] | None = (256, 256),
    channels: int = 1,
    cache_dir: str | os.PathLike | None = None,
    min_frames: int = 1,
) -> list[Video]:
    """Load every video of a dataset split (decoded, resized, with labels and masks).

    Parameters
    ----------
    root : str or os.PathLike
        Dataset folder (frames-folder, UCSD or video-file layout; see the module docstring).
    split : str
        ``"training"`` or ``"testing"`` (``"train"``/``"test"`` accepted, any case).
    size : tuple of int or None
        ``(H, W)`` the frames are resized to with ``cv2.INTER_AREA`` (masks with nearest
        neighbour). ``None`` keeps the native size.
    channels : int
        1 = grayscale (default), 3 = RGB.
    cache_dir : str or os.PathLike or None
        Folder for one ``.npy`` per video of decoded frames (and masks); later loads
        memory-map them (``mmap_mode='r'``) instead of decoding. The key hashes the dataset's
        absolute path, split, size, channels and the files' names, mtimes and sizes.
    min_frames : int
        Videos with fewer frames (e.g. fewer than the clip length T) are skipped with a
        :class:`UserWarning` naming them. Their labels are still consumed from the label file.

    Returns
    -------
    list of Video
        In natural sort order of the video names. ``frames`` ``uint8`` ``(K, H, W, C)``;
        ``labels`` ``int8`` ``(K,)`` for the testing split when a label source exists, else
        ``None`` (always ``None`` for training); ``masks`` ``bool`` ``(K, H, W)`` or ``None``.

    Raises
    ------
    MissingSplitError
        The dataset has no videos of ``split`` (a :class:`DatasetError`).
    DatasetError
        Missing or empty dataset folder, an empty video folder, a corrupt frame
        (the file is named), labels whose length does not match the frames (both numbers are
        given), masks whose count does not match the frames.
    """
    size = _check_size(size)
    channels = _check_channels(channels)
    split = _normalise_split(split)
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"dataset folder {root} does not exist")
    if not root.is_dir():
        raise DatasetError(f"dataset path {root} is not a folder (use load_video for one video)")
    if not any(p for p in root.iterdir() if not _is_hidden(p)):
        raise DatasetError(f"dataset folder {root} is empty")

    sources, split_dir = _find_sources(root, split)
    for s in sources:
        if not s.is_file:
            s.frames = _image_files(s.path)
            if not s.frames:
                raise DatasetError(
                    f"video folder {s.path} has no frame images "
                    f"({', '.join(sorted(IMAGE_EXTENSIONS))})"
                )

    label_file = _find_label_file(root, split_dir) if split == "testing" else None
    npy_labels = None
    if label_file is not None and label_file.suffix.lower() == ".npy":
        npy_labels = _read_npy_labels(label_file)
        if not any(s.is_file for s in sources):  # fail before decoding anything
            _check_label_count(
                label_file, len(npy_labels), sum(len(s.frames) for s in sources), len(sources)
            )

    frames_list = [
        _load_source(s, size=size, channels=channels, split=split, cache_dir=cache_dir)
        for s in sources
    ]
    lengths = [len(f) for f in frames_list]

    all_labels: np.ndarray | None = None
    if label_file is not None:
        if npy_labels is not None:
            all_labels = npy_labels
        else:
            all_labels = _read_mat_labels(label_file, lengths, [s.name for s in sources])
        _check_label_count(label_file, len(all_labels), sum(lengths), len(sources))

    videos = []
    offset = 0
    for s, frames in zip(sources, frames_list, strict=True):
        k = len(frames)
        labels = None if all_labels is None else all_labels[offset : offset + k].copy()
        offset += k
        if k < min_frames:
            warnings.warn(
                f"skipping video {s.name!r} ({s.path}): {k} frames < min_frames={min_frames}",
                UserWarning,
                stacklevel=2,
            )
            continue
        masks = None
        if split == "testing" and s.mask_dir is not None:
            masks = _load_masks(s, frames.shape[1:3], split=split, cache_dir=cache_dir)
        if labels is None and masks is not None:
            labels = masks.reshape(k, -1).any(axis=1).astype(np.int8)
        videos.append(Video(s.name, frames, labels, masks, s.path))
    if not videos:
        raise DatasetError(
            f"no video of split {split!r} in {root} has at least min_frames={min_frames} frames"
        )
    return videos


def _load_source(
    s: _Source,
    *,
    size: tuple[int, int] | None,
    channels: int,
    split: str,
    cache_dir: str | os.PathLike | None,
) -> np.ndarray:
    cdir = Path(cache_dir) if cache_dir is not None else None
    if s.is_file:
        key = _cache_key(s.path, [s.path], kind="file", split=split, size=size, channels=channels)
        return _cached(
            key, cdir, s.name, "frames", lambda: _decode_video_file(s.path, channels, size)
        )
    key = _cache_key(s.path, s.frames, kind="frames", split=split, size=size, channels=channels)
    expected = (len(s.frames), *size, channels) if size is not None else None
    return _cached(
        key,
        cdir,
        s.name,
        "frames",
        lambda: _decode_folder(s.frames, size, channels, s.path),
        expected,
    )


def _load_masks(
    s: _Source,
    size: tuple[int, int],
    *,
    split: str,
    cache_dir: str | os.PathLike | None,
) -> np.ndarray:
    assert s.mask_dir is not None
    files = _image_files(s.mask_dir)
    if len(files) != len(s.frames):
        raise DatasetError(
            f"pixel masks in {s.mask_dir} have {len(files)} files but video {s.name!r} has "
            f"{len(s.frames)} frames"
        )
    key = _cache_key(s.mask_dir, files, kind="masks", split=split, size=size, channels=1)
    cdir = Path(cache_dir) if cache_dir is not None else None
    return _cached(
        key,
        cdir,
        s.name,
        "masks",
        lambda: _decode_masks(files, size, s.mask_dir),
        (len(files), *size),
    )


def load_pixel_masks(video: Video) -> np.ndarray | None:
    """Pixel masks of a test video at the size of the mask files (not resized to the frames).

    The mask folder is found as :func:`load_split` finds it (``<split>/pixel_masks/<video>``,
    ``masks``, ``gt``, or ``<video>_gt`` beside the frame folder). Masks are decoded on every
    call (no cache): Ped2's 2010 masks take about a second.

    Parameters
    ----------
    video : Video
        A video of :func:`load_split` (its ``path`` is the frame folder).

    Returns
    -------
    np.ndarray or None
        ``bool`` ``(K, H, W)`` at the size of the first mask file (the others are resized to it
        with nearest neighbour), True = anomalous; ``None`` when the video has no mask folder
        (a video file, no ``path``, or no folder found).

    Raises
    ------
    DatasetError
        The mask folder holds a different number of images than the video has frames.
    """
    if video.path is None or not Path(video.path).is_dir():
        return None
    mask_dir = _mask_dir_for(Path(video.path))
    if mask_dir is None:
        return None
    files = _image_files(mask_dir)
    if len(files) != len(video):
        raise DatasetError(
            f"pixel masks in {mask_dir} have {len(files)} files but video {video.name!r} has "
            f"{len(video)} frames"
        )
    if not files:
        return None
    size = _decode_image(files[0], 1).shape[:2]
    return _decode_masks(files, size, mask_dir)


def load_video(
    path: str | os.PathLike,
    size: tuple[int, int] | None = (256, 256),
    channels: int = 1,
    *,
    cache_dir: str | os.PathLike | None = None,
) -> Video:
    """Load one video: a video file (``.avi``, ``.mp4``, ...) or a folder of frame images.

    Parameters
    ----------
    path : str or os.PathLike
        Video file or frame folder (frames in natural sort order of their names).
    size : tuple of int or None
        ``(H, W)`` to resize to with ``cv2.INTER_AREA``; ``None`` keeps the native size.
    channels : int
        1 = grayscale (default), 3 = RGB.
    cache_dir : str or os.PathLike or None
        Optional on-disk cache folder, as in :func:`load_split`.

    Returns
    -------
    Video
        ``name`` is the file stem or folder name, ``frames`` ``uint8`` ``(K, H, W, C)``,
        ``labels`` and ``masks`` ``None``.

    Raises
    ------
    DatasetError
        Missing path, unsupported file type, empty folder, unreadable frame or video.
    """
    size = _check_size(size)
    channels = _check_channels(channels)
    p = Path(path).expanduser()
    if not p.exists():
        raise DatasetError(f"video {p} does not exist")
    if p.is_file():
        if p.suffix.lower() not in VIDEO_EXTENSIONS:
            raise DatasetError(
                f"{p} is not a video file ({', '.join(sorted(VIDEO_EXTENSIONS))}) "
                f"nor a folder of frames"
            )
        s = _Source(p.stem, p, True, [], None)
    else:
        s = _Source(p.name, p, False, _image_files(p), None)
        if not s.frames:
            raise DatasetError(
                f"video folder {p} has no frame images ({', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
    frames = _load_source(s, size=size, channels=channels, split="video", cache_dir=cache_dir)
    return Video(s.name, frames, None, None, p)
