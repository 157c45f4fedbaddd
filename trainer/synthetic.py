"""The embedded synthetic dataset: a tiny Ped2-like scene generated on the fly.

It lets the trainer's main job run with no download. The scene is a static textured background
(smooth noise plus paving lines) seen by a fixed camera, with mild per-frame sensor noise.

* **Normal** (training and testing): two to four figure-like objects (an elliptic body and a
  round head, dark or bright) walking at 1-2 px/frame, bouncing off the image borders.
* **Anomalous** (testing only), during one contiguous interval per test video, drawn on top of
  everything else:

  - ``"fast"``: a figure like the walkers but moving at 5-8 px/frame (a runner / cyclist);
  - ``"vehicle"``: a large bright rectangle with dark windows moving at 2-3 px/frame.

  Test videos alternate the two kinds (``fast`` first). The pixel mask of a frame is exactly
  the set of pixels drawn for the anomalous object; a frame is labelled anomalous exactly when
  its mask is non-empty, so labels and masks agree by construction. Each test video has
  normal frames before and after the interval.

Sizes and speeds are given for 64x64 frames and scale with ``min(H, W) / 64``.

Written layout (the frames-folder layout read by :func:`trainer.datasets.load_split`)::

    <root>/training/frames/01/000.png ...        grayscale PNG
    <root>/testing/frames/01/000.png ...
    <root>/testing/pixel_masks/01/000.png ...    0 / 255
    <root>/frame_labels_synthetic.npy            int64 (1, n_test * frames)
    <root>/synthetic.json                        the generation parameters
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from trainer.data import DatasetError

__all__ = [
    "ANOMALY_KINDS",
    "DEMO_ANOMALY_KINDS",
    "make_demo_dataset",
    "make_synthetic_dataset",
    "render_demo_video",
    "render_video",
    "resolve_dataset",
    "synthetic_root",
]

ANOMALY_KINDS: tuple[str, ...] = ("fast", "vehicle")
"""Kinds of anomalies drawn in test videos, in the order test videos cycle through them."""

_FORMAT_VERSION = 1


def _background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    s = min(h, w) / 64.0
    field = rng.normal(0.0, 1.0, (h, w)).astype(np.float32)
    field = cv2.GaussianBlur(field, (0, 0), sigmaX=max(1.0, 2.0 * s))
    field = (field - field.mean()) / (field.std() + 1e-6)
    bg = 115.0 + 14.0 * field
    # paving: faint darker lines every ~16 px (scaled), a fixed texture the model must learn
    step = max(4, round(16 * s))
    bg[::step, :] -= 18.0
    bg[:, ::step] -= 12.0
    fine = rng.normal(0.0, 4.0, (h, w)).astype(np.float32)
    return np.clip(bg + fine, 0, 255).astype(np.float32)


class _Mover:
    """A shape with a position (top-left, float), a velocity and a bounding box."""

    def __init__(
        self,
        kind: str,
        hw: tuple[int, int],
        speed: float,
        intensity: float,
        size: tuple[int, int],
        rng: np.random.Generator,
    ) -> None:
        self.kind = kind
        self.h, self.w = hw
        self.intensity = intensity
        self.frame_h, self.frame_w = size
        self.y = float(rng.uniform(0, max(size[0] - self.h, 0)))
        self.x = float(rng.uniform(0, max(size[1] - self.w, 0)))
        angle = rng.uniform(0, 2 * np.pi)
        self.vy = speed * float(np.sin(angle))
        self.vx = speed * float(np.cos(angle))

    def step(self) -> None:
        for pos, vel, extent, limit in (
            ("y", "vy", self.h, self.frame_h),
            ("x", "vx", self.w, self.frame_w),
        ):
            p = getattr(self, pos) + getattr(self, vel)
            hi = max(limit - extent, 0)
            if p < 0 or p > hi:  # bounce off the border
                setattr(self, vel, -getattr(self, vel))
                p = -p if p < 0 else 2 * hi - p
                p = min(max(p, 0.0), float(hi))
            setattr(self, pos, p)

    def shape_mask(self) -> np.ndarray:
        """Bool (h, w) of the object's own pixels (its bounding box is (h, w))."""
        h, w = self.h, self.w
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
        if self.kind == "vehicle":
            return np.ones((h, w), dtype=bool)
        # figure: round head on top of an elliptic body
        head_r = w / 2.0
        head = (yy - head_r) ** 2 + (xx - w / 2.0) ** 2 <= head_r**2
        by0 = head_r * 1.6
        body_ry = (h - by0) / 2.0
        body_rx = w / 2.0
        body = ((yy - by0 - body_ry) / body_ry) ** 2 + ((xx - w / 2.0) / body_rx) ** 2 <= 1.0
        return head | body

    def draw(self, img: np.ndarray) -> np.ndarray:
        """Draw onto ``img`` (float32 (H, W)) in place; return the bool (H, W) drawn mask."""
        full = np.zeros(img.shape, dtype=bool)
        y0, x0 = int(round(self.y)), int(round(self.x))
        local = self.shape_mask()
        y1, x1 = min(y0 + self.h, img.shape[0]), min(x0 + self.w, img.shape[1])
        local = local[: y1 - y0, : x1 - x0]
        full[y0:y1, x0:x1] = local
        img[full] = self.intensity
        if self.kind == "vehicle":  # dark windows: texture inside the same mask
            wy0, wy1 = y0 + max(1, self.h // 5), y0 + max(2, self.h // 2)
            for k in range(3):
                wx0 = x0 + max(1, (k * self.w) // 3 + self.w // 12)
                wx1 = x0 + max(2, ((k + 1) * self.w) // 3 - self.w // 12)
                img[wy0:wy1, wx0:wx1] = 60.0
        return full


def _walker(rng: np.random.Generator, size: tuple[int, int], s: float, speed: float) -> _Mover:
    h = max(4, round(rng.uniform(10, 14) * s))
    w = max(2, round(rng.uniform(4, 6) * s))
    intensity = float(rng.choice([rng.uniform(25, 60), rng.uniform(180, 215)]))
    return _Mover("figure", (h, w), speed, intensity, size, rng)


def render_video(
    rng: np.random.Generator,
    background: np.ndarray,
    n_frames: int,
    anomaly: str | None = None,
    interval: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one synthetic video.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of every random choice (objects, speeds, noise).
    background : np.ndarray
        ``float32`` ``(H, W)`` static background in ``[0, 255]``.
    n_frames : int
        Number of frames K.
    anomaly : str or None
        ``None`` (normal video) or one of :data:`ANOMALY_KINDS`.
    interval : tuple of int or None
        ``[start, end)`` frame interval (0-based) where the anomaly is on screen.

    Returns
    -------
    frames : np.ndarray
        ``uint8`` ``(K, H, W)``.
    masks : np.ndarray
        ``bool`` ``(K, H, W)``, the anomalous object's pixels (all False for normal videos).
    """
    size = background.shape
    s = min(size) / 64.0
    walkers = [
        _walker(rng, size, s, float(rng.uniform(1.0, 2.0)) * s)
        for _ in range(int(rng.integers(2, 5)))
    ]
    odd = None
    if anomaly is not None:
        if anomaly not in ANOMALY_KINDS:
            raise ValueError(f"anomaly must be one of {ANOMALY_KINDS} or None, got {anomaly!r}")
        if interval is None:
            raise ValueError("interval is required with an anomaly")
        if anomaly == "fast":
            odd = _walker(rng, size, s, float(rng.uniform(5.0, 8.0)) * s)
        else:
            hw = (max(4, round(rng.uniform(12, 16) * s)), max(6, round(rng.uniform(20, 26) * s)))
            odd = _Mover("vehicle", hw, float(rng.uniform(2.0, 3.0)) * s, 235.0, size, rng)
    frames = np.empty((n_frames, *size), dtype=np.uint8)
    masks = np.zeros((n_frames, *size), dtype=bool)
    for t in range(n_frames):
        img = background.copy()
        for m in walkers:
            m.draw(img)
            m.step()
        if odd is not None and interval is not None and interval[0] <= t < interval[1]:
            masks[t] = odd.draw(img)
            odd.step()
        img += rng.normal(0.0, 2.0, size).astype(np.float32)
        frames[t] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return frames, masks


def _write_frames(folder: Path, frames: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        if not cv2.imwrite(str(folder / f"{i:03d}.png"), f):
            raise OSError(f"cannot write {folder / f'{i:03d}.png'}")


def _same_dataset(meta: Path, params: dict) -> bool:
    """Whether ``meta`` (a ``synthetic.json``) describes a dataset made with ``params``."""
    try:
        return json.loads(meta.read_text())["params"] == params
    except (OSError, ValueError, KeyError, TypeError):
        return False


def make_synthetic_dataset(
    root: str | os.PathLike,
    *,
    n_train: int = 8,
    n_test: int = 4,
    frames: int = 80,
    size: tuple[int, int] = (64, 64),
    seed: int = 0,
) -> Path:
    """Generate (or reuse) the synthetic dataset in the frames-folder layout.

    Generation is deterministic given the arguments (video ``i`` of a split draws from
    ``numpy.random.default_rng([seed, split, i])``, so train videos do not depend on
    ``n_test``). The dataset is written to a temporary sibling folder and renamed into place.
    When ``root`` already holds a synthetic dataset made with the same arguments it is reused
    as is; one made with other arguments is replaced. A non-empty ``root`` that is not a
    synthetic dataset is never touched (:class:`FileExistsError`).

    Parameters
    ----------
    root : str or os.PathLike
        Output folder.
    n_train, n_test : int
        Number of training (normal only) and test (each with one anomalous interval) videos.
    frames : int
        Frames per video (>= 4, so every test video has normal frames around its anomaly).
    size : tuple of int
        ``(H, W)`` of the frames (>= 16 each); sizes/speeds are for 64x64 and scale.
    seed : int
        Random seed.

    Returns
    -------
    pathlib.Path
        ``root``; load it with ``trainer.datasets.load_split(root, "testing", ...)``.

    Raises
    ------
    ValueError
        Bad counts or sizes.
    FileExistsError
        ``root`` is a non-empty folder not created by this function.
    """
    h, w = _check_counts(n_train, n_test, frames, size)
    params = {
        "format": _FORMAT_VERSION,
        "n_train": int(n_train),
        "n_test": int(n_test),
        "frames": int(frames),
        "size": [h, w],
        "seed": int(seed),
    }

    return _generate(Path(root).expanduser(), params, _writer(params, render_video, ANOMALY_KINDS))


def _check_counts(n_train: int, n_test: int, frames: int, size: tuple[int, int]) -> tuple[int, int]:
    if n_train < 0 or n_test < 0 or n_train + n_test == 0:
        raise ValueError(f"need n_train >= 0, n_test >= 0, not both 0; got {n_train}, {n_test}")
    if frames < 4:
        raise ValueError(f"frames must be >= 4, got {frames}")
    h, w = (int(v) for v in size)
    if h < 16 or w < 16:
        raise ValueError(f"size must be at least (16, 16), got {size!r}")
    return h, w


def _write_test_split(
    tmp: Path,
    n_test: int,
    frames: int,
    seed: int,
    kinds: tuple[str, ...],
    render: Callable[[np.random.Generator, str, tuple[int, int]], tuple[np.ndarray, np.ndarray]],
) -> list[dict]:
    """Test video ``i`` (``default_rng([seed, 2, i])``): one anomalous interval of kind
    ``kinds[i % len(kinds)]``; writes frames, masks and the label file."""
    labels = []
    intervals = []
    for i in range(n_test):
        rng = np.random.default_rng([seed, 2, i])
        start = int(rng.integers(max(1, frames // 4), max(2, frames * 45 // 100) + 1))
        length = int(rng.integers(max(1, frames * 3 // 10), max(2, frames * 45 // 100) + 1))
        end = min(start + length, frames - 1)
        kind = kinds[i % len(kinds)]
        video, masks = render(rng, kind, (start, end))
        name = f"{i + 1:02d}"
        _write_frames(tmp / "testing" / "frames" / name, video)
        _write_frames(tmp / "testing" / "pixel_masks" / name, masks.astype(np.uint8) * 255)
        labels.append(masks.reshape(frames, -1).any(axis=1).astype(np.int64))
        intervals.append({"video": name, "kind": kind, "start": start, "end": end})
    if n_test:
        np.save(tmp / "frame_labels_synthetic.npy", np.concatenate(labels)[None, :])
    return intervals


def _generate(root: Path, params: dict, write: Callable[[Path], list[dict]]) -> Path:
    """Reuse ``root`` when it holds a dataset made with ``params``; else have ``write`` fill a
    temporary sibling folder (returning the anomaly intervals) and rename it into place."""
    meta = root / "synthetic.json"
    if root.exists():
        if _same_dataset(meta, params):
            return root
        if not meta.is_file() and root.is_dir() and any(root.iterdir()):
            raise FileExistsError(
                f"{root} is not empty and is not a synthetic dataset (no synthetic.json); "
                f"choose another folder"
            )

    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        intervals = write(tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "synthetic.json").write_text(
            json.dumps({"params": params, "anomalies": intervals}, indent=2) + "\n"
        )
        if root.exists():
            if _same_dataset(meta, params):
                # Another process (e.g. a second training worker) made the same one meanwhile
                # and may be reading it: keep it, drop ours.
                return root
            if root.is_dir() and not (root / "synthetic.json").is_file() and any(root.iterdir()):
                raise FileExistsError(f"{root} appeared while generating; not replacing it")
            shutil.rmtree(root) if root.is_dir() else root.unlink()
        os.replace(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


# ---------------------------------------------------------------------------- the demo set

DEMO_ANOMALY_KINDS: tuple[str, ...] = ("textured", "large", "fast")
"""Kinds of anomalies of the demo set (:func:`make_demo_dataset`), cycled by test video."""

_DEMO_FORMAT_VERSION = 1


class _Body:
    """A demo object: a float top-left position that may lie partly outside the frame, a
    velocity and a ``float32`` sprite with its bool footprint (no bouncing: it walks through)."""

    def __init__(self, y: float, x: float, vy: float, vx: float, sprite: np.ndarray) -> None:
        self.y, self.x, self.vy, self.vx = y, x, vy, vx
        self.sprite = sprite
        self.footprint = ~np.isnan(sprite)

    def visible(self, size: tuple[int, int]) -> bool:
        h, w = self.sprite.shape
        return -h < self.y < size[0] and -w < self.x < size[1]

    def draw(self, img: np.ndarray) -> np.ndarray:
        """Draw onto ``img`` in place; return the bool (H, W) drawn mask."""
        full = np.zeros(img.shape, dtype=bool)
        h, w = self.sprite.shape
        y0, x0 = int(round(self.y)), int(round(self.x))
        ty0, tx0 = max(y0, 0), max(x0, 0)
        ty1, tx1 = min(y0 + h, img.shape[0]), min(x0 + w, img.shape[1])
        if ty1 <= ty0 or tx1 <= tx0:
            return full
        local = self.footprint[ty0 - y0 : ty1 - y0, tx0 - x0 : tx1 - x0]
        full[ty0:ty1, tx0:tx1] = local
        img[full] = self.sprite[ty0 - y0 : ty1 - y0, tx0 - x0 : tx1 - x0][local]
        return full

    def step(self) -> None:
        self.y += self.vy
        self.x += self.vx


def _ellipse(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    return ((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2 <= 1.0


def _shaded(inside: np.ndarray, level: float, amplitude: float) -> np.ndarray:
    """A smooth sprite: ``level`` shaded from the top-left (``amplitude``), NaN outside."""
    h, w = inside.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = ((yy / max(h - 1, 1)) + (xx / max(w - 1, 1))) / 2.0 - 0.5
    sprite = (level - amplitude * shade).astype(np.float32)
    sprite[~inside] = np.nan
    return sprite


def _demo_person(rng: np.random.Generator, s: float) -> np.ndarray:
    h = max(4, round(rng.uniform(12, 16) * s))
    w = max(2, round(rng.uniform(6, 8) * s))
    inside = _ellipse(h, w)
    level = float(rng.choice([rng.uniform(40, 75), rng.uniform(160, 200)]))
    return _shaded(inside, level, 30.0)


def _entering(
    rng: np.random.Generator, size: tuple[int, int], sprite: np.ndarray, speed: float
) -> _Body:
    """A body just outside a random border, walking into the frame (at most 35 deg off the
    inward normal), so it crosses the scene and leaves."""
    h, w = sprite.shape
    side = int(rng.integers(4))
    angle = float(rng.uniform(-0.6, 0.6))
    inward = {0: (0.0, 1.0), 1: (0.0, -1.0), 2: (1.0, 0.0), 3: (-1.0, 0.0)}[side]
    c, sn = np.cos(angle), np.sin(angle)
    vy = speed * (inward[0] * c - inward[1] * sn)
    vx = speed * (inward[0] * sn + inward[1] * c)
    if side in (0, 1):  # enters from the left / right
        x = -w + 1.0 if side == 0 else size[1] - 1.0
        y = float(rng.uniform(0, size[0] - h))
    else:  # from the top / bottom
        y = -h + 1.0 if side == 2 else size[0] - 1.0
        x = float(rng.uniform(0, size[1] - w))
    return _Body(y, x, vy, vx, sprite)


def _demo_anomaly(rng: np.random.Generator, kind: str, s: float) -> tuple[np.ndarray, float]:
    """The sprite and speed (px/frame) of an anomalous object of ``kind``."""
    if kind == "textured":  # a cart of walker size, striped: another texture, normal pace
        h, w = max(6, round(rng.uniform(12, 15) * s)), max(6, round(rng.uniform(12, 15) * s))
        yy, xx = np.mgrid[0:h, 0:w]
        period = max(2, round(4 * s))
        stripes = ((xx + yy) // max(1, period // 2)) % 2
        sprite = np.where(stripes, 170.0, 60.0).astype(np.float32)
        return sprite, float(rng.uniform(0.8, 1.6)) * s
    if kind == "large":  # a smooth body of normal shading but three times a walker's area
        inside = _ellipse(
            max(8, round(rng.uniform(22, 26) * s)), max(8, round(rng.uniform(14, 18) * s))
        )
        level = float(rng.choice([rng.uniform(40, 75), rng.uniform(160, 200)]))
        return _shaded(inside, level, 30.0), float(rng.uniform(0.8, 1.6)) * s
    if kind == "fast":  # a walker at four times walking pace
        return _demo_person(rng, s), float(rng.uniform(4.0, 6.0)) * s
    raise ValueError(f"anomaly must be one of {DEMO_ANOMALY_KINDS} or None, got {kind!r}")


def render_demo_video(
    rng: np.random.Generator,
    background: np.ndarray,
    n_frames: int,
    anomaly: str | None = None,
    interval: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one video of the demo set (see :func:`make_demo_dataset`).

    Parameters and returns as :func:`render_video`; ``anomaly`` is ``None`` or one of
    :data:`DEMO_ANOMALY_KINDS`.
    """
    size = background.shape
    s = min(size) / 64.0
    if anomaly is not None:
        if anomaly not in DEMO_ANOMALY_KINDS:
            raise ValueError(
                f"anomaly must be one of {DEMO_ANOMALY_KINDS} or None, got {anomaly!r}"
            )
        if interval is None:
            raise ValueError("interval is required with an anomaly")

    def walker() -> _Body:
        return _entering(rng, size, _demo_person(rng, s), float(rng.uniform(0.8, 1.6)) * s)

    # People cross the scene: 1-4 on screen at the start, a new one enters with probability
    # 1/12 per frame, so the number on screen varies (an extra object alone is not anomalous).
    bodies = []
    for _ in range(int(rng.integers(1, 5))):
        b = walker()
        b.y = float(rng.uniform(0, size[0] - b.sprite.shape[0]))
        b.x = float(rng.uniform(0, size[1] - b.sprite.shape[1]))
        bodies.append(b)
    odd = None
    if anomaly is not None:
        sprite, speed = _demo_anomaly(rng, anomaly, s)
        odd = _entering(rng, size, sprite, speed)
        # start inside the frame so the interval shows it from its first frame
        odd.y = float(np.clip(odd.y, 0, size[0] - sprite.shape[0]))
        odd.x = float(np.clip(odd.x, 0, size[1] - sprite.shape[1]))
    frames = np.empty((n_frames, *size), dtype=np.uint8)
    masks = np.zeros((n_frames, *size), dtype=bool)
    for t in range(n_frames):
        if rng.random() < 1 / 12 or not bodies:
            bodies.append(walker())
        img = background.copy()
        for b in bodies:
            b.draw(img)
            b.step()
        bodies = [b for b in bodies if b.visible(size)]
        if odd is not None and interval is not None and interval[0] <= t < interval[1]:
            if not odd.visible(size):  # walked out: it comes back in elsewhere
                odd = _entering(rng, size, odd.sprite, float(np.hypot(odd.vy, odd.vx)))
                odd.step()
            masks[t] = odd.draw(img)
            odd.step()
        img += rng.normal(0.0, 2.0, size).astype(np.float32)
        frames[t] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return frames, masks


def make_demo_dataset(
    root: str | os.PathLike,
    *,
    n_train: int = 8,
    n_test: int = 6,
    frames: int = 120,
    size: tuple[int, int] = (32, 32),
    seed: int = 0,
) -> Path:
    """Generate (or reuse) the demo set of ``python -m trainer.demo``, frames-folder layout.

    Made so that an untrained model does not separate it, unlike
    :func:`make_synthetic_dataset`: normal people (smooth shaded ellipses, dark or bright)
    walk through the scene at 0.8-1.6 px/frame (at 64x64; sizes and speeds scale), entering
    and leaving, so the number on screen varies; each test video adds, for one interval, an
    object of one of :data:`DEMO_ANOMALY_KINDS` (cycled by video): ``textured`` (a striped
    square of a walker's height, mean grey like the background, walking pace), ``large`` (a
    shaded ellipse of three times a walker's area) or ``fast`` (a walker at 4-6 px/frame).

    Same layout, determinism (``default_rng([seed, split, i])`` per video), reuse and
    :class:`FileExistsError` rules as :func:`make_synthetic_dataset`; ``synthetic.json``
    records ``variant: demo``.
    """
    h, w = _check_counts(n_train, n_test, frames, size)
    params = {
        "format": _DEMO_FORMAT_VERSION,
        "variant": "demo",
        "n_train": int(n_train),
        "n_test": int(n_test),
        "frames": int(frames),
        "size": [h, w],
        "seed": int(seed),
    }

    writer = _writer(params, render_demo_video, DEMO_ANOMALY_KINDS)
    return _generate(Path(root).expanduser(), params, writer)


def _writer(
    params: dict, render: Callable[..., tuple[np.ndarray, np.ndarray]], kinds: tuple[str, ...]
) -> Callable[[Path], list[dict]]:
    """Writes a dataset of ``params`` into a folder: training videos from
    ``default_rng([seed, 1, i])``, then the test split (:func:`_write_test_split`)."""
    seed, frames, (h, w) = params["seed"], params["frames"], params["size"]

    def write(tmp: Path) -> list[dict]:
        background = _background(np.random.default_rng([seed, 0]), (h, w))
        for i in range(params["n_train"]):
            video, _ = render(np.random.default_rng([seed, 1, i]), background, frames)
            _write_frames(tmp / "training" / "frames" / f"{i + 1:02d}", video)
        return _write_test_split(
            tmp,
            params["n_test"],
            frames,
            seed,
            kinds,
            lambda rng, kind, iv: render(rng, background, frames, kind, iv),
        )

    return write


def synthetic_root(cache_dir: str | os.PathLike | None) -> Path:
    """Where the embedded synthetic dataset is generated (under the cache dir)."""
    return Path(cache_dir or ".cache/pseudoanom") / "synthetic"


def resolve_dataset(data: str | None, cache_dir: str | None) -> Path:
    """The dataset root: ``data``, or the embedded synthetic dataset generated on first use.

    Raises
    ------
    trainer.data.DatasetError
        ``data`` names a folder that does not exist.
    """
    if data is not None:
        root = Path(data).expanduser()
        if not root.exists():
            raise DatasetError(f"dataset folder {root} does not exist")
        return root
    return make_synthetic_dataset(synthetic_root(cache_dir))
