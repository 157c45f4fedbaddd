"""Decoding, the decoded-frame cache, :class:`Video` and the model's value range.

The dataset layouts (UCSD, CUHK Avenue, ShanghaiTech, frames folders), their frame labels and
pixel masks live in :mod:`trainer.datasets`, one module per family; :func:`load_split`,
:func:`load_pixel_masks` and :func:`detect_layout` are importable from here too.

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
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from trainer.atomic import write_atomic

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "DatasetError",
    "MissingSplitError",
    "Video",
    "cached_array",
    "check_channels",
    "check_size",
    "clear_cache",
    "from_model_range",
    "image_files",
    "is_hidden",
    "load_video",
    "model_to_unit_range",
    "natural_key",
    "read_frames",
    "read_mask_images",
    "resize_masks",
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


def is_hidden(p: Path) -> bool:
    """Whether ``p`` is a hidden file or folder (its name starts with a dot); readers skip them."""
    return p.name.startswith(".")


def image_files(folder: Path) -> list[Path]:
    """The frame images directly inside ``folder``, in natural sort order of their names."""
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and not is_hidden(p) and p.suffix.lower() in IMAGE_EXTENSIONS
    ]
    return sorted(files, key=lambda p: natural_key(p.name))


def check_size(size: tuple[int, int] | None) -> tuple[int, int] | None:
    """``size`` as ``(H, W)`` ints (or None); a ValueError names a bad value."""
    if size is None:
        return None
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (H, W) with two positive ints, got {size!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be (H, W) with two positive ints, got {size!r}")
    return h, w


def check_channels(channels: int) -> int:
    """``channels`` checked to be 1 (grayscale) or 3 (RGB)."""
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
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)

    write_atomic(path, write)


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


def cached_array(
    source: Path,
    files: Sequence[Path],
    *,
    kind: str,
    name: str,
    split: str,
    size: tuple[int, int] | None,
    channels: int,
    cache_dir: str | os.PathLike | None,
    make: Callable[[], np.ndarray],
    expected_shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """The array ``make()`` returns, kept in the memory cache and (with ``cache_dir``) on disk.

    The key hashes ``source``'s absolute path, ``kind``, ``split``, ``size``, ``channels`` and
    the names, mtimes and sizes of ``files``: changing a file decodes again. The array comes
    back read-only (memory-mapped when read from disk).
    """
    key = _cache_key(source, files, kind=kind, split=split, size=size, channels=channels)
    cdir = Path(cache_dir) if cache_dir is not None else None
    return _cached(key, cdir, name, kind, make, expected_shape)


def read_frames(
    path: Path,
    files: Sequence[Path],
    *,
    name: str,
    size: tuple[int, int] | None,
    channels: int,
    split: str,
    cache_dir: str | os.PathLike | None,
) -> np.ndarray:
    """Decoded, resized frames of one video, cached: ``files`` are its frame images in order, or
    empty when ``path`` is a video file. ``uint8`` ``(K, H, W, C)``."""
    if not files:
        return cached_array(
            path, [path], kind="file", name=name, split=split, size=size, channels=channels,
            cache_dir=cache_dir, make=lambda: _decode_video_file(path, channels, size),
        )  # fmt: skip
    expected = (len(files), *size, channels) if size is not None else None
    return cached_array(
        path, files, kind="frames", name=name, split=split, size=size, channels=channels,
        cache_dir=cache_dir, make=lambda: _decode_folder(files, size, channels, path),
        expected_shape=expected,
    )  # fmt: skip


def read_mask_images(
    files: Sequence[Path],
    folder: Path,
    *,
    size: tuple[int, int] | None = None,
    name: str | None = None,
    split: str = "testing",
    cache_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """Pixel masks from mask images (any value above half range = anomalous), ``bool``
    ``(K, H, W)``: at ``size`` (nearest neighbour), else at the first file's size. With
    ``name`` the result is cached like frames; without, decoded on every call."""
    if size is None:
        if not files:
            return np.zeros((0, 0, 0), dtype=bool)
        size = _decode_image(files[0], 1).shape[:2]
        return _decode_masks(files, size, folder)
    if name is None:
        return _decode_masks(files, size, folder)
    return cached_array(
        folder, files, kind="masks", name=name, split=split, size=size, channels=1,
        cache_dir=cache_dir, make=lambda: _decode_masks(files, size, folder),
        expected_shape=(len(files), *size),
    )  # fmt: skip


def resize_masks(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``bool`` masks ``(K, h, w)`` resized to ``size`` ``(H, W)`` with nearest neighbour."""
    if masks.shape[1:3] == tuple(size):
        return masks.astype(bool, copy=False)
    out = np.empty((len(masks), *size), dtype=bool)
    for i, m in enumerate(masks):
        out[i] = _resize(m.astype(np.uint8), size, cv2.INTER_NEAREST) > 0
    return out


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
    size = check_size(size)
    channels = check_channels(channels)
    p = Path(path).expanduser()
    if not p.exists():
        raise DatasetError(f"video {p} does not exist")
    if p.is_file():
        if p.suffix.lower() not in VIDEO_EXTENSIONS:
            raise DatasetError(
                f"{p} is not a video file ({', '.join(sorted(VIDEO_EXTENSIONS))}) "
                f"nor a folder of frames"
            )
        name, files = p.stem, []
    else:
        name, files = p.name, image_files(p)
        if not files:
            raise DatasetError(
                f"video folder {p} has no frame images ({', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
    frames = read_frames(
        p, files, name=name, size=size, channels=channels, split="video", cache_dir=cache_dir
    )
    return Video(name, frames, None, None, p)
