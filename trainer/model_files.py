"""What identifies a model file: its SHA-256 and, for an exported model, the sidecar JSON
that ``python -m trainer export`` writes beside it (``model.onnx.json``).

A calibration records the SHA-256 of the ``.keras`` file it was made with; an export's sidecar
records the same digest as ``source_model_sha256``, so a calibration can be checked against an
exported model too (:func:`source_model_sha256`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

__all__ = [
    "SIDECAR_FORMAT",
    "SidecarError",
    "file_sha256",
    "read_sidecar",
    "sidecar_path",
    "source_model_sha256",
]

SIDECAR_FORMAT = "pseudoanom-export"


class SidecarError(ValueError):
    """A sidecar file that is not an export description."""


def sidecar_path(artifact: str | os.PathLike) -> Path:
    """The JSON that describes an exported model: ``<artifact>.json`` (``model.onnx.json``)."""
    return Path(str(artifact) + ".json")


def read_sidecar(artifact: str | os.PathLike) -> dict[str, Any] | None:
    """The sidecar of ``artifact``, or ``None`` when it has none.

    Raises
    ------
    SidecarError
        A sidecar that is not an export description.
    """
    path = sidecar_path(artifact)
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SidecarError(f"export sidecar {path}: not JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != SIDECAR_FORMAT:
        raise SidecarError(f"{path} is not an export sidecar (no format {SIDECAR_FORMAT!r})")
    return meta


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def source_model_sha256(path: str | os.PathLike) -> str | None:
    """SHA-256 of the ``.keras`` model a file stands for: the file's own for a ``.keras``,
    its sidecar's ``source_model_sha256`` for an export, ``None`` for an export without one.

    A calibration records the SHA-256 of the ``.keras`` file it was made with; compare it
    with this to know whether it fits an exported model.
    """
    path = Path(path)
    if path.suffix.lower() == ".keras":
        return file_sha256(path)
    meta = read_sidecar(path)
    return None if meta is None else meta.get("source_model_sha256")
