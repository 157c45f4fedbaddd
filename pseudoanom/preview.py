"""PNG grid of a normal clip next to its pseudo anomalies (like Fig. 3 / Fig. 5(a) of the paper).

Rows: the normal clip first, then one row per registered transform; columns: a few frames
spread over the clip, labelled with their time index. Written with OpenCV (no matplotlib).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import registry
from .errors import IntruderNotFoundError, InvalidParameterError
from .intruders import IMAGE_EXTENSIONS, IntruderSource, as_source, read_image
from .validation import as_generator

__all__ = ["load_frames", "make_grid", "preview"]

_LABEL_W = 130
_HEADER_H = 22
_PAPER_ORDER = ("smoothmix_s", "smoothmix_c", "cutmix", "mixup_patch", "skip_frame")


def load_frames(
    folder: str | os.PathLike,
    size: tuple[int, int] = (256, 256),
    channels: int = 1,
    start: int = 0,
    count: int | None = None,
) -> np.ndarray:
    """Read a video's frames into uint8 ``(K, H, W, C)``: its frame images (sorted by name),
    or the frames of a video file.

    Parameters
    ----------
    folder : str or os.PathLike
        Folder of frame images, e.g. ``ped2/training/frames/01``, or a video file
        (``.avi``, ``.mp4``, ...).
    size : tuple of int
        Output ``(H, W)`` (the paper uses 256 x 256).
    channels : int
        1 (grayscale) or 3 (RGB).
    start, count : int
        Which frames to read (default: all from ``start``).
    """
    folder = Path(folder)
    if folder.is_file() and folder.suffix.lower() in VIDEO_EXTENSIONS:
        images = _video_frames(folder, start, count)
    elif not folder.is_dir():
        raise IntruderNotFoundError(f"frames folder or video file not found: {folder}")
    else:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        images = [read_image(f) for f in files[start : None if count is None else start + count]]
        videos = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
        if not files and videos:
            raise InvalidParameterError(
                f"{folder} holds video files, not frame images: name one of them, e.g. "
                f"{folder / videos[0]}"
            )
    if not images:
        raise InvalidParameterError(f"no frame images in {folder} from frame {start}")
    out = []
    for img in images:
        img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        if channels == 1:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None]
        out.append(img)
    return np.stack(out)


VIDEO_EXTENSIONS = frozenset({".avi", ".mp4", ".mov", ".mkv", ".mpg", ".mpeg"})
"""Video files :func:`load_frames` reads with OpenCV."""


def _video_frames(path: Path, start: int, count: int | None) -> list[np.ndarray]:
    """RGB frames ``start`` .. ``start + count`` of a video file."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise InvalidParameterError(f"cannot read video file {path}")
    frames: list[np.ndarray] = []
    try:
        index = 0
        while count is None or len(frames) < count:
            ok, frame = capture.read()
            if not ok:
                break
            if index >= start:
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            index += 1
    finally:
        capture.release()
    return frames


def _tile(frame: np.ndarray, tile: int) -> np.ndarray:
    img = frame[..., 0] if frame.shape[-1] == 1 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)


def make_grid(
    video: np.ndarray,
    transforms: dict[str, Any],
    rng: np.random.Generator | int,
    length: int = 16,
    start: int = 0,
    columns: int = 6,
    tile: int = 128,
    same_draws: bool = False,
) -> np.ndarray:
    """Grid image: the normal clip ``video[start : start + length]`` then one row per transform.

    Parameters
    ----------
    video : numpy.ndarray
        uint8 ``(K, H, W, C)``.
    transforms : dict
        Row label -> transform (``skip_frame``-like ones are called with ``from_video``).
    rng : numpy.random.Generator or int
        Source of randomness.
    length, start : int
        The clip.
    columns : int
        Frames shown per row, spread evenly over the clip.
    tile : int
        Side of each frame in the grid, pixels.
    same_draws : bool
        Every row starts from the same seed (drawn once from ``rng``), so rows that draw alike
        (e.g. one transform with ``content="window"`` and ``"object"``) get the same patch size,
        path and intruder image.

    Returns
    -------
    numpy.ndarray
        uint8 grayscale image ``(22 + rows * tile, label + columns * tile)``, the label
        column at least 130 pixels wide.
    """
    rng = as_generator(rng)
    idx = np.unique(np.round(np.linspace(0, length - 1, columns)).astype(int))
    rows = [("normal", "", video[start : start + length])]
    row_seed = int(rng.integers(2**63)) if same_draws else None
    for label, t in transforms.items():
        row_rng = rng if row_seed is None else np.random.default_rng(row_seed)
        res = t.from_video(video, start, length, rng=row_rng)
        p = res.params
        note = ""
        if "step" in p:
            note = f"s={p['step']}"
        elif "size" in p:  # smoothmix_c draws sigmas where the others draw box sides
            sigma = "sigma " if getattr(t, "name", "") == "smoothmix_c" else ""
            note = f"{sigma}{p['size'][0]}x{p['size'][1]}"
            if same_draws and hasattr(t, "content"):  # rows compare contents: say which
                note = f"{t.content}, {note}"
        rows.append((label, note, res.clip))
    font = cv2.FONT_HERSHEY_SIMPLEX
    label_w = max([_LABEL_W] + [cv2.getTextSize(r[0], font, 0.5, 1)[0][0] + 12 for r in rows])
    h, w = _HEADER_H + len(rows) * tile, label_w + len(idx) * tile
    grid = np.full((h, w), 255, np.uint8)
    for j, t_idx in enumerate(idx):
        x = label_w + j * tile
        cv2.putText(grid, f"t={t_idx}", (x + 4, 16), font, 0.45, 0, 1, cv2.LINE_AA)
    for i, (label, note, clip) in enumerate(rows):
        y = _HEADER_H + i * tile
        cv2.putText(grid, label, (6, y + tile // 2), font, 0.5, 0, 1, cv2.LINE_AA)
        cv2.putText(grid, note, (6, y + tile // 2 + 20), font, 0.42, 90, 1, cv2.LINE_AA)
        for j, t_idx in enumerate(idx):
            x = label_w + j * tile
            grid[y : y + tile, x : x + tile] = _tile(clip[t_idx], tile)
        cv2.line(grid, (0, y), (w - 1, y), 255, 1)
    return grid


def preview(
    frames: str | os.PathLike,
    intruders: str | os.PathLike | IntruderSource | None,
    out: str | os.PathLike,
    seed: int = 0,
    size: int = 256,
    length: int = 16,
    start: int = 0,
    columns: int = 6,
    tile: int = 128,
    names: list[str] | None = None,
    contents: tuple[str, ...] = ("window",),
) -> Path:
    """Write the preview grid PNG of every (or the named) registered transform(s).

    Parameters
    ----------
    frames : str or os.PathLike
        Frame folder of one video (needs enough frames after ``start`` for ``skip_frame``).
    intruders : str, os.PathLike, IntruderSource or None
        Intruder images for the patch transforms (see :func:`pseudoanom.intruders.as_source`).
    out : str or os.PathLike
        PNG path to write.
    seed : int
        Seed of every draw.
    size : int
        Frames are resized to ``size`` x ``size`` grayscale, as in the paper.
    contents : tuple of str
        ``content`` of each patch transform, one row each (label ``name`` for the paper's
        ``"window"``, ``name (object)`` for ``"object"``). With more than one, every row
        starts from the same seed, so rows of one transform differ only in their content.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    source = as_source(intruders)
    video = load_frames(frames, (size, size), 1, start=start)
    if names is None:  # the paper's order first, then any other registered transform
        paper = [n for n in _PAPER_ORDER if n in registry.available()]
        names = paper + [n for n in registry.available() if n not in paper]
    transforms = {}
    for name in names:
        cls = registry.get(name)
        args = registry.init_arg_names(cls)
        kwargs = {"intruders": source} if "intruders" in args else {}
        for content in contents if "content" in args else (None,):
            label = name if content in (None, "window") else f"{name} ({content})"
            transforms[label] = cls(**kwargs, **({} if content is None else {"content": content}))
    grid = make_grid(
        video,
        transforms,
        seed,
        length=length,
        start=0,
        columns=columns,
        tile=tile,
        same_draws=len(contents) > 1,
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), grid, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"cannot write {out}")
    return out
