"""The library's exception classes (the checks that raise them are in :mod:`pseudoanom.validation`).

Every error ``pseudoanom`` raises on purpose derives from :class:`PseudoAnomError`, and also
from the built-in class a caller would catch without knowing this library (``ValueError``,
``FileNotFoundError``). They are importable from ``pseudoanom``, ``pseudoanom.errors`` and, as
before, ``pseudoanom.validation``.
"""

from __future__ import annotations

__all__ = [
    "PseudoAnomError",
    "InvalidParameterError",
    "InvalidClipError",
    "UnknownTransformError",
    "IntruderSourceError",
    "IntruderNotFoundError",
    "ValueRangeWarning",
]


class PseudoAnomError(Exception):
    """Base class of every error raised on purpose by ``pseudoanom``."""


class InvalidParameterError(PseudoAnomError, ValueError):
    """A constructor or call parameter is outside its allowed range."""


class InvalidClipError(PseudoAnomError, ValueError):
    """A clip, batch or video has the wrong shape, dtype or values."""


class UnknownTransformError(PseudoAnomError, ValueError):
    """A transform name is not registered (the message lists the known names)."""


class IntruderSourceError(PseudoAnomError, ValueError):
    """An intruder source is empty, unreadable or holds a corrupt file."""


class IntruderNotFoundError(PseudoAnomError, FileNotFoundError):
    """An intruder path does not exist."""


class ValueRangeWarning(UserWarning):
    """A float clip is valid for its ``value_range`` but looks like it uses another one
    (values all in [0, 1] with the default ``(-1, 1)``)."""
