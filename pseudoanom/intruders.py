"""Intruder sources: where the content of patch pseudo anomalies comes from.

Every source returns uint8 images ``(H, W, C)`` (C = 3, RGB, or 1) and draws all of its
randomness from the Generator passed in. Sources decode lazily and cache what they decoded
(thread-safe), and serialise to a plain dict (``to_dict`` / :func:`from_dict`) so a pipeline
that uses one round-trips through YAML.

Available kinds: ``image_folder`` (:class:`ImageFolderSource`), ``cifar100``
(:class:`Cifar100Source`), ``video_frames`` (:class:`VideoFramesSource`) and ``embedded``
(:class:`EmbeddedSource`, the default: needs nothing on disk).
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from .errors import IntruderNotFoundError, IntruderSourceError, InvalidParameterError
from .validation import (
    check_known_keys,
    check_positive_int,
    init_arg_names,
)

__all__ = [
    "IntruderSource",
    "ImageFolderSource",
    "Cifar100Source",
    "VideoFramesSource",
    "EmbeddedSource",
    "IMAGE_EXTENSIONS",
    "CIFAR_URL",
    "as_source",
    "from_dict",
    "fit_intruder",
    "crop_flip",
    "convert_channels",
    "frame_content",
    "read_image",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"

_KINDS: dict[str, type[IntruderSource]] = {}


def _register_kind(cls: type[IntruderSource]) -> type[IntruderSource]:
    _KINDS[cls.kind] = cls
    return cls


class IntruderSource:
    """Base class of intruder sources.

    Subclasses implement :meth:`__len__`, :meth:`_load` (decode item ``i``) and
    :meth:`_init_args` (constructor arguments for :meth:`to_dict`).

    Attributes
    ----------
    kind : str
        Name used in ``to_dict()["kind"]``.
    temporal : bool
        True if the source yields a different frame per time step (a video intruder):
        transforms then call :meth:`sample_sequence` instead of :meth:`sample`.
    """

    kind: ClassVar[str] = ""
    temporal: bool = False

    def __len__(self) -> int:
        raise NotImplementedError

    def _load(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def _init_args(self) -> dict[str, Any]:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """Draw one intruder image.

        Parameters
        ----------
        rng : numpy.random.Generator
            The only source of randomness.

        Returns
        -------
        numpy.ndarray
            uint8 ``(H, W, C)``, C in {1, 3}.
        """
        return self._load(int(rng.integers(len(self))))

    def sample_sequence(self, rng: np.random.Generator, length: int) -> np.ndarray:
        """Draw ``length`` intruder frames, one per time step, uint8 ``(length, H, W, C)``.

        The base implementation repeats one image (a static intruder).
        """
        img = self.sample(rng)
        return np.broadcast_to(img, (length, *img.shape))

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form ``{"kind": ..., **constructor_args}`` (see :func:`from_dict`)."""
        return {"kind": self.kind, **self._init_args()}

    def prepare(self) -> IntruderSource:
        """Decode every item now and check it, so a bad file fails here, not mid-training.

        Call it where a pipeline is built (:meth:`pseudoanom.Pipeline.prepare` does it for
        each source): sources otherwise decode lazily, on the first draw of each item, which
        in a training run is inside the input pipeline. Decoded items stay in the source's
        cache as far as it holds them.

        Returns
        -------
        IntruderSource
            ``self``.

        Raises
        ------
        IntruderSourceError
            An item cannot be read or decoded (the message names the file), or decodes to
            something other than a uint8 ``(H, W, 1 or 3)`` image.
        """
        if self.__dict__.get("_prepared"):  # checked already (a source shared by transforms)
            return self
        for i in range(len(self)):
            img = self._load(i)
            if (
                not isinstance(img, np.ndarray)
                or img.dtype != np.uint8
                or img.ndim != 3
                or img.shape[2] not in (1, 3)
                or min(img.shape[:2]) < 1
            ):
                got = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img)
                raise IntruderSourceError(
                    f"intruder {i} of {self!r} is not a uint8 (H, W, 1 or 3) image: got {got}"
                )
        self._prepared = True
        return self

    # Pickling and deep copies (a PyTorch DataLoader's spawn workers, multiprocessing) carry the
    # settings only: a lock cannot be pickled, and decoded images are decoded again lazily
    # where the copy is used rather than shipped to every worker.
    def _fresh_state(self) -> dict[str, Any]:
        """Attributes rebuilt, not copied, by pickle and deepcopy (a lock, caches)."""
        return {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in self._fresh_state():
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.update(self._fresh_state())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._init_args().items())
        return f"{type(self).__name__}({args})"


class _CachedSource(IntruderSource):
    """Mixin: decode each item once and keep at most ``cache_size`` of them (LRU)."""

    cache_size: int

    def __init__(self) -> None:
        self.__dict__.update(self._fresh_state())

    def _fresh_state(self) -> dict[str, Any]:
        return {"_cache": OrderedDict(), "_lock": threading.Lock()}

    def _cached(self, key: Any, load: Callable[[], np.ndarray]) -> np.ndarray:
        with self._lock:
            img = self._cache.get(key)
            if img is not None:
                self._cache.move_to_end(key)
                return img
        img = load()
        img.setflags(write=False)  # shared between callers and threads
        with self._lock:
            self._cache[key] = img
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return img


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to uint8 RGB ``(H, W, 3)``.

    Raises
    ------
    IntruderNotFoundError
        The file does not exist.
    IntruderSourceError
        The file cannot be read or decoded (corrupt or not an image).
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)  # works with non-ASCII paths, unlike imread
    except FileNotFoundError:
        raise IntruderNotFoundError(f"intruder image not found: {path}") from None
    except OSError as exc:
        raise IntruderSourceError(f"cannot read intruder image {path}: {exc}") from None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise IntruderSourceError(f"cannot decode intruder image {path} (corrupt or not an image)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _list_images(folder: Path, recursive: bool) -> list[Path]:
    try:
        entries = folder.rglob("*") if recursive else folder.iterdir()
        return sorted(p for p in entries if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    except OSError as exc:
        raise IntruderSourceError(f"cannot list intruder folder {folder}: {exc}") from None


def _check_dir(path: Path, what: str) -> None:
    if not path.exists():
        raise IntruderNotFoundError(f"{what} not found: {path}")
    if not path.is_dir():
        raise IntruderSourceError(f"{what} must be a folder, got a file: {path}")


@_register_kind
class ImageFolderSource(_CachedSource):
    """Images (png, jpg, bmp, tif, webp, ppm/pgm) in a folder, e.g. a CIFAR-100 PNG dump.

    Parameters
    ----------
    path : str or os.PathLike
        The folder.
    recursive : bool
        Also take images from subfolders.
    cache_size : int
        How many decoded images to keep in memory (LRU).

    Raises
    ------
    IntruderNotFoundError
        ``path`` does not exist.
    IntruderSourceError
        ``path`` is not a folder, cannot be listed, or holds no image files. A corrupt image
        raises when it is first drawn, naming the file.
    """

    kind = "image_folder"

    def __init__(
        self, path: str | os.PathLike, recursive: bool = False, cache_size: int = 4096
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.recursive = bool(recursive)
        self.cache_size = check_positive_int(cache_size, "cache_size")
        _check_dir(self.path, "intruder folder")
        self.files = _list_images(self.path, self.recursive)
        if not self.files:
            raise IntruderSourceError(
                f"intruder folder {self.path} holds no images ({', '.join(IMAGE_EXTENSIONS)})"
            )

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, index: int) -> np.ndarray:
        return self._cached(index, lambda: read_image(self.files[index]))

    def _init_args(self) -> dict[str, Any]:
        return {"path": str(self.path), "recursive": self.recursive, "cache_size": self.cache_size}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds NumPy arrays and builtins, as the CIFAR files need.

    Pickle can run arbitrary code; limiting the classes it may construct keeps a tampered
    archive from doing so.
    """

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # protocol-2 pickles written by Python 3 store bytes this way
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if module.startswith("numpy.core"):
            module = "numpy._core" + module[len("numpy.core") :]
        return super().find_class(module, name)


@_register_kind
class Cifar100Source(IntruderSource):
    """CIFAR-100 (the paper's intruder set) from a local copy of the official python archive.

    Nothing is downloaded. Only the ``train`` or ``test`` pickle inside the path the user gave
    is read, with an unpickler restricted to NumPy arrays.

    Parameters
    ----------
    path : str or os.PathLike
        ``cifar-100-python.tar.gz``, the extracted ``cifar-100-python`` folder (holding
        ``train`` and ``test``), or a folder that contains either.
    split : {"train", "test"}
        Which file to read (the paper uses the 50,000 training images).

    Raises
    ------
    IntruderNotFoundError
        Nothing usable at ``path`` (the message says where to get the archive).
    IntruderSourceError
        The archive or pickle is corrupt or not CIFAR-100.
    """

    kind = "cifar100"

    def __init__(self, path: str | os.PathLike, split: str = "train") -> None:
        if split not in ("train", "test"):
            raise InvalidParameterError(f"split must be 'train' or 'test', got {split!r}")
        self.path = Path(path)
        self.split = split
        self._resolved = self._resolve()
        self.__dict__.update(self._fresh_state())

    def _fresh_state(self) -> dict[str, Any]:
        return {"_images": None, "_lock": threading.Lock()}

    def _resolve(self) -> tuple[str, Path]:
        p = self.path
        candidates = [
            ("tar", p) if p.is_file() else None,
            ("dir", p) if (p / self.split).is_file() else None,
            ("dir", p / "cifar-100-python")
            if (p / "cifar-100-python" / self.split).is_file()
            else None,
            ("tar", p / "cifar-100-python.tar.gz")
            if (p / "cifar-100-python.tar.gz").is_file()
            else None,
        ]
        for c in candidates:
            if c is not None:
                return c
        raise IntruderNotFoundError(
            f"CIFAR-100 not found at {p}: expected cifar-100-python.tar.gz or its extracted "
            f"folder holding '{self.split}'. Download the python version from {CIFAR_URL} "
            "(no network access is attempted)."
        )

    def _read(self) -> np.ndarray:
        how, where = self._resolved
        try:
            if how == "tar":
                with tarfile.open(where, "r:*") as tar:
                    member = tar.extractfile(f"cifar-100-python/{self.split}")
                    if member is None:
                        raise KeyError(self.split)
                    raw = member.read()
            else:
                raw = (where / self.split).read_bytes()
            obj = _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
            data = np.asarray(obj[b"data"], dtype=np.uint8)
            # Rows are 3072 bytes: the R, G and B planes of a 32x32 image.
            return np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        except (OSError, tarfile.TarError, KeyError, pickle.UnpicklingError, EOFError) as exc:
            raise IntruderSourceError(
                f"cannot read CIFAR-100 '{self.split}' from {where}: {exc!r} "
                f"(expected the python version from {CIFAR_URL})"
            ) from None
        except (ValueError, TypeError) as exc:
            raise IntruderSourceError(
                f"{where} does not hold CIFAR-100 data ({exc}); expected the python version "
                f"from {CIFAR_URL}"
            ) from None

    @property
    def images(self) -> np.ndarray:
        """All images, uint8 ``(N, 32, 32, 3)`` (decoded on first use)."""
        with self._lock:
            if self._images is None:
                self._images = self._read()
                self._images.setflags(write=False)
            return self._images

    def __len__(self) -> int:
        return len(self.images)

    def _load(self, index: int) -> np.ndarray:
        return self.images[index]

    def _init_args(self) -> dict[str, Any]:
        return {"path": str(self.path), "split": self.split}


@_register_kind
class VideoFramesSource(_CachedSource):
    """Frames of another video dataset as intruders (the paper's "Ped2 as intruder").

    Parameters
    ----------
    root : str or os.PathLike
        A frames-folder root such as ``ped2/training/frames`` (one subfolder of frame images
        per video) or a single video's frame folder.
    sequence : bool
        True: a video intruder, one consecutive frame per time step (``temporal``). False:
        one still frame per pseudo anomaly.
    cache_size : int
        How many decoded frames to keep in memory (LRU).

    Raises
    ------
    IntruderNotFoundError, IntruderSourceError
        Missing root, or no frame images under it.
    """

    kind = "video_frames"

    def __init__(
        self, root: str | os.PathLike, sequence: bool = True, cache_size: int = 512
    ) -> None:
        super().__init__()
        self.root = Path(root)
        self.sequence = bool(sequence)
        self.temporal = self.sequence
        self.cache_size = check_positive_int(cache_size, "cache_size")
        _check_dir(self.root, "video frames root")
        try:
            subdirs = sorted(p for p in self.root.iterdir() if p.is_dir())
        except OSError as exc:
            raise IntruderSourceError(f"cannot list video frames root {self.root}: {exc}") from None
        videos = [_list_images(d, False) for d in subdirs] or [_list_images(self.root, False)]
        self.videos = [v for v in videos if v]
        if not self.videos:
            raise IntruderSourceError(
                f"video frames root {self.root} holds no frame images, neither directly nor in "
                "one subfolder per video"
            )
        self._n = sum(len(v) for v in self.videos)

    def __len__(self) -> int:
        return self._n

    def _frame(self, v: int, f: int) -> np.ndarray:
        return self._cached((v, f), lambda: read_image(self.videos[v][f]))

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        v = int(rng.integers(len(self.videos)))
        return self._frame(v, int(rng.integers(len(self.videos[v]))))

    def sample_sequence(self, rng: np.random.Generator, length: int) -> np.ndarray:
        """Draw ``length`` consecutive frames of one video, uint8 ``(length, H, W, C)``.

        Raises
        ------
        IntruderSourceError
            No video has ``length`` frames.
        """
        if not self.sequence:
            return super().sample_sequence(rng, length)
        long_enough = [i for i, v in enumerate(self.videos) if len(v) >= length]
        if not long_enough:
            raise IntruderSourceError(
                f"no video under {self.root} has {length} frames for a video intruder "
                f"(longest: {max(len(v) for v in self.videos)})"
            )
        v = long_enough[int(rng.integers(len(long_enough)))]
        start = int(rng.integers(len(self.videos[v]) - length + 1))
        return np.stack([self._frame(v, start + t) for t in range(length)])

    def _load(self, index: int) -> np.ndarray:  # flat index over all frames
        for v, frames in enumerate(self.videos):
            if index < len(frames):
                return self._frame(v, index)
            index -= len(frames)
        raise IndexError(index)

    def _init_args(self) -> dict[str, Any]:
        return {"root": str(self.root), "sequence": self.sequence, "cache_size": self.cache_size}


@_register_kind
class EmbeddedSource(IntruderSource):
    """Default intruders that need nothing on disk: seeded procedural textures.

    The bank holds ``n`` images of ``size`` x ``size`` RGB, cycling through four families:
    random filled shapes, oriented sine gratings, smooth noise blobs and (rotated)
    checkerboards. It is generated from ``seed`` with NumPy and OpenCV only, so the same seed
    gives the same images, and the same transform outputs, on every install.

    Parameters
    ----------
    n : int
        Number of images.
    size : int
        Their side in pixels.
    seed : int
        Seed of the bank (the bank is fixed by it; which image is drawn comes from the rng
        passed to :meth:`sample`).
    sklearn_images : bool or None
        Accepted so that configs written by pseudoanom 0.1 still load, and otherwise ignored:
        the bank never holds scikit-learn's sample photos. ``True`` (what such a config says
        when it was written with scikit-learn installed) warns that those runs drew from two
        more images, so their pseudo anomalies are not reproduced bit for bit.
    """

    kind = "embedded"

    def __init__(
        self, n: int = 48, size: int = 64, seed: int = 0, sklearn_images: bool | None = None
    ) -> None:
        self.n = check_positive_int(n, "n")
        self.size = check_positive_int(size, "size", minimum=8)
        self.seed = check_positive_int(seed, "seed", minimum=0)
        if sklearn_images:
            warnings.warn(
                "EmbeddedSource(sklearn_images=True) is ignored: the embedded intruders are the "
                "same procedural images on every install (runs made with scikit-learn installed "
                "also drew its two sample photos)",
                UserWarning,
                stacklevel=2,
            )
        self.__dict__.update(self._fresh_state())

    def _fresh_state(self) -> dict[str, Any]:
        return {"_bank": None, "_lock": threading.Lock()}

    @property
    def bank(self) -> list[np.ndarray]:
        """The images, uint8 ``(size, size, 3)``, built on first use."""
        with self._lock:
            if self._bank is None:
                rng = np.random.default_rng(self.seed)
                makers = (_shapes, _grating, _blobs, _checker)
                bank = [makers[i % 4](rng, self.size) for i in range(self.n)]
                for img in bank:
                    img.setflags(write=False)
                self._bank = bank
            return self._bank

    def __len__(self) -> int:
        return self.n

    def _load(self, index: int) -> np.ndarray:
        return self.bank[index]

    def _init_args(self) -> dict[str, Any]:
        return {"n": self.n, "size": self.size, "seed": self.seed}


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))  # type: ignore[return-value]


def _shapes(rng: np.random.Generator, s: int) -> np.ndarray:
    img = np.empty((s, s, 3), np.uint8)
    img[:] = _colour(rng)
    for _ in range(int(rng.integers(3, 8))):
        kind = int(rng.integers(3))
        c = _colour(rng)
        p = rng.integers(0, s, 2)
        r = int(rng.integers(s // 10 + 1, s // 3 + 2))
        if kind == 0:
            cv2.circle(img, (int(p[0]), int(p[1])), r, c, -1, cv2.LINE_AA)
        elif kind == 1:
            q = np.clip(p + rng.integers(-r, r + 1, 2), 0, s - 1)
            cv2.rectangle(img, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), c, -1)
        else:
            pts = rng.integers(0, s, (3, 2)).astype(np.int32)
            cv2.fillPoly(img, [pts], c, cv2.LINE_AA)
    return img


def _grating(rng: np.random.Generator, s: int) -> np.ndarray:
    theta = rng.uniform(0, np.pi)
    freq = rng.uniform(2, 10) / s
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)))
    a, b = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
    return (a + wave[..., None] * (b - a)).astype(np.uint8)


def _blobs(rng: np.random.Generator, s: int) -> np.ndarray:
    small = rng.integers(0, 256, (max(2, s // 8), max(2, s // 8), 3)).astype(np.uint8)
    return cv2.resize(small, (s, s), interpolation=cv2.INTER_CUBIC)


def _checker(rng: np.random.Generator, s: int) -> np.ndarray:
    cell = int(rng.integers(3, max(4, s // 4)))
    theta = rng.uniform(0, np.pi / 2)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    u = xx * np.cos(theta) - yy * np.sin(theta)
    v = xx * np.sin(theta) + yy * np.cos(theta)
    on = ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(bool)
    img = np.empty((s, s, 3), np.uint8)
    img[:] = _colour(rng)
    img[on] = _colour(rng)
    return img


def from_dict(d: dict[str, Any]) -> IntruderSource:
    """Rebuild a source from :meth:`IntruderSource.to_dict` output.

    Raises
    ------
    InvalidParameterError
        Unknown ``kind`` (the message lists the known ones).
    TypeError
        Unknown constructor arguments.
    """
    if not isinstance(d, dict) or "kind" not in d:
        raise InvalidParameterError(f"an intruder source dict needs a 'kind' key, got {d!r}")
    args = {k: v for k, v in d.items() if k != "kind"}
    cls = _KINDS.get(d["kind"])
    if cls is None:
        raise InvalidParameterError(
            f"unknown intruder source kind {d['kind']!r}; known: {', '.join(sorted(_KINDS))}"
        )
    check_known_keys(args, init_arg_names(cls), f"intruder source {d['kind']!r}")
    return cls(**args)


def as_source(obj: Any) -> IntruderSource:
    """Turn ``obj`` into an intruder source.

    Parameters
    ----------
    obj : IntruderSource, dict, str, os.PathLike or None
        A source (returned as is), a ``to_dict`` dict, a path (a ``.tar.gz`` file or a folder
        with ``cifar-100-python`` -> :class:`Cifar100Source`; a folder of images ->
        :class:`ImageFolderSource`; a folder of frame folders -> :class:`VideoFramesSource`)
        or None (-> :class:`EmbeddedSource`).
    """
    if obj is None:
        return EmbeddedSource()
    if isinstance(obj, IntruderSource):
        return obj
    if isinstance(obj, dict):
        return from_dict(obj)
    if isinstance(obj, (str, os.PathLike)):
        p = Path(obj)
        if not p.exists():
            raise IntruderNotFoundError(f"intruder path not found: {p}")
        if p.is_file() or (p / "cifar-100-python").is_dir() or (p / "train").is_file():
            return Cifar100Source(p)
        if _list_images(p, False):
            return ImageFolderSource(p)
        return VideoFramesSource(p)
    raise TypeError(
        f"intruders must be an IntruderSource, a dict, a path or None, got {type(obj).__name__}"
    )


def fit_intruder(
    img: np.ndarray,
    out_hw: tuple[int, int],
    channels: int,
    rng: np.random.Generator,
    crop_scale: tuple[float, float] = (0.5, 1.0),
    hflip: bool = True,
) -> np.ndarray:
    """Random crop, random horizontal flip, colour conversion and resize of one intruder.

    Crop and flip are drawn with NumPy from ``rng`` (so results never depend on a library's
    own random state); OpenCV does the deterministic colour conversion and bilinear resize.

    Parameters
    ----------
    img : numpy.ndarray
        uint8 ``(h, w, c)``, c in {1, 3} (RGB).
    out_hw : tuple of int
        Output ``(H, W)``.
    channels : int
        Output channels: 1 (grayscale, ITU-R 601 luma) or 3.
    rng : numpy.random.Generator
        Source of the crop position/size and the flip.
    crop_scale : tuple of float
        Crop side as a fraction of the image side, drawn uniformly per axis in this range.
    hflip : bool
        Flip left-right with probability 0.5.

    Returns
    -------
    numpy.ndarray
        uint8 ``(H, W, channels)``.
    """
    crop = convert_channels(crop_flip(img, rng, crop_scale, hflip), channels)
    out = cv2.resize(crop, (out_hw[1], out_hw[0]), interpolation=cv2.INTER_LINEAR)
    return out.reshape(out_hw[0], out_hw[1], channels)


def crop_flip(
    img: np.ndarray,
    rng: np.random.Generator,
    crop_scale: tuple[float, float] = (0.5, 1.0),
    hflip: bool = True,
) -> np.ndarray:
    """Random crop (side fraction drawn per axis in ``crop_scale``) and left-right flip.

    Draws, in order: two uniforms (crop sides), two integers (crop corner) and, with
    ``hflip``, one uniform (flip with probability 0.5). Returns a contiguous uint8 array.
    """
    h, w = img.shape[:2]
    ch = max(1, round(h * rng.uniform(*crop_scale)))
    cw = max(1, round(w * rng.uniform(*crop_scale)))
    y0 = int(rng.integers(h - ch + 1))
    x0 = int(rng.integers(w - cw + 1))
    crop = img[y0 : y0 + ch, x0 : x0 + cw]
    if hflip and rng.random() < 0.5:
        # cv2.flip writes the mirrored copy directly (NumPy's copy of a reversed 3-channel
        # view goes pixel by pixel: ~10x slower for these small crops).
        return cv2.flip(crop, 1)
    return np.ascontiguousarray(crop)


def convert_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """uint8 ``(h, w, c)`` (c in {1, 3}, or 2-D) to ``channels`` (ITU-R 601 luma for gray).

    Returns the image itself when nothing changes, else a new contiguous array; 2-D for one
    channel produced by OpenCV (callers reshape).
    """
    c_in = 1 if img.ndim == 2 else img.shape[2]
    if channels == 1 and c_in == 3:
        return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
    if channels == 3 and c_in == 1:
        return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_GRAY2RGB)
    return img


def _align_corners_axis(n_in: int, n_out: int, lo: int, hi: int) -> tuple[np.ndarray, ...]:
    """Source indices and weights of output positions ``[lo, hi)`` of an align-corners resize."""
    pos = np.arange(lo, hi, dtype=np.float64)
    if n_out > 1:
        pos *= (n_in - 1) / (n_out - 1)
    else:
        pos *= 0.0
    i0 = np.minimum(np.floor(pos).astype(np.intp), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    f = (pos - i0).astype(np.float32)
    return i0, i1, f


def frame_content(
    img: np.ndarray,
    frame_hw: tuple[int, int],
    value_range: tuple[float, float] | None,
    rows: tuple[int, int] | None = None,
    cols: tuple[int, int] | None = None,
) -> np.ndarray:
    """An intruder stretched over the whole frame, as the paper's code does (Eq. 6).

    The authors' code maps the grayscale intruder to [-1, 1] and resizes it to the frame with
    ``F.interpolate(..., mode="bilinear", align_corners=True)``; a patch is then a window of
    that picture. This computes the same picture (float32 arithmetic), only for the frame rows
    ``[r0, r1)`` and columns ``[c0, c1)`` that a patch can cover.

    Parameters
    ----------
    img : numpy.ndarray
        uint8 ``(h, w, C)``, already in the clip's channels.
    frame_hw : tuple of int
        ``(H, W)`` of the frame.
    value_range : tuple of float or None
        ``(lo, hi)``: pixel ``k`` maps to ``lo + k * (hi - lo) / 255`` before the resize. None:
        stay in [0, 255] (for uint8 clips; the caller rounds).
    rows, cols : tuple of int, optional
        Output rows / columns to compute (default: all).

    Returns
    -------
    numpy.ndarray
        float32 ``(r1 - r0, c1 - c0, C)``.
    """
    h_in, w_in = img.shape[:2]
    src = img.astype(np.float32).reshape(h_in, w_in, -1)
    if value_range is not None:
        lo, hi = value_range
        src *= np.float32((hi - lo) / 255.0)
        src += np.float32(lo)
    r0, r1 = rows if rows is not None else (0, frame_hw[0])
    c0, c1 = cols if cols is not None else (0, frame_hw[1])
    y0, y1, fy = _align_corners_axis(h_in, frame_hw[0], r0, r1)
    x0, x1, fx = _align_corners_axis(w_in, frame_hw[1], c0, c1)
    fy, fx = fy[:, None, None], fx[None, :, None]
    top, bottom = src[y0], src[y1]  # (rows, w_in, C)
    tall = top + (bottom - top) * fy
    left, right = tall[:, x0], tall[:, x1]
    return left + (right - left) * fx
