"""Name -> transform class registry, entry-point plug-ins and dict (de)serialisation.

The built-in transforms (:data:`pseudoanom.transforms.BUILTINS`) are registered below, under
their ``name``. Third-party packages add theirs through the entry-point group
``pseudoanom.transforms``::

    [project.entry-points."pseudoanom.transforms"]
    my_noise = "my_pkg.transforms:MyNoise"   # a Transform subclass

Entry points are read once, lazily, on the first lookup of a name that is not registered
(or on :func:`available`), so importing ``pseudoanom`` stays cheap.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import InvalidParameterError, UnknownTransformError
from .transforms import BUILTINS, Transform
from .validation import check_known_keys, init_arg_names

if TYPE_CHECKING:  # annotations only: pseudoanom.pipeline imports this module
    from .pipeline import Pipeline

__all__ = [
    "ENTRY_POINT_GROUP",
    "register",
    "registered",
    "preserved",
    "available",
    "get",
    "create",
    "from_dict",
    "init_arg_names",
    "register_loader",
]

ENTRY_POINT_GROUP = "pseudoanom.transforms"
_RESERVED = {"pipeline"}  # ``from_dict`` uses it for pipelines
# Names that ``from_dict`` builds with a loader instead of a transform class: "pipeline",
# added by pseudoanom.pipeline (which imports this module, so this module cannot import it).
_loaders: dict[str, Callable[[dict[str, Any]], Any]] = {}

_registry: dict[str, type[Transform]] = {}
_entry_points_loaded = False
_lock = threading.RLock()

T = TypeVar("T")


def register(name: str, *, override: bool = False) -> Callable[[type[T]], type[T]]:
    """Class decorator that registers a :class:`~pseudoanom.transforms.Transform` subclass.

    Parameters
    ----------
    name : str
        The name used by :func:`create`, ``to_dict`` and YAML files.
    override : bool
        Allow replacing a transform already registered under ``name``.

    Examples
    --------
    >>> @pseudoanom.register("invert_patch")
    ... class InvertPatch(pseudoanom.Transform):
    ...     ...
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise InvalidParameterError(f"transform name must be an identifier string, got {name!r}")
    if name in _RESERVED:
        raise InvalidParameterError(f"transform name {name!r} is reserved")

    def deco(cls: type[T]) -> type[T]:
        if not (isinstance(cls, type) and issubclass(cls, Transform)):
            raise TypeError(f"@register({name!r}) needs a Transform subclass, got {cls!r}")
        with _lock:
            old = _registry.get(name)
            if old is not None and old is not cls and not override:
                raise InvalidParameterError(
                    f"transform {name!r} is already registered ({old.__module__}."
                    f"{old.__qualname__}); pass override=True to replace it"
                )
            cls.name = name
            _registry[name] = cls
        return cls

    return deco


@contextlib.contextmanager
def registered(name: str, cls: type[T], *, override: bool = False) -> Iterator[type[T]]:
    """Register ``cls`` as ``name`` for the duration of a ``with`` block (tests, notebooks).

    On exit the registry is as before: ``name`` is unregistered, or registered to the class
    it had, and ``cls.name`` is restored. Arguments as for :func:`register`.

    Examples
    --------
    >>> with pseudoanom.registry.registered("invert_patch", InvertPatch):
    ...     pseudoanom.testing.check_transform(pseudoanom.create("invert_patch"))
    """
    with _lock:
        old, old_name = _registry.get(name), getattr(cls, "name", "")
    register(name, override=override)(cls)
    try:
        yield cls
    finally:
        with _lock:
            if old is None:
                _registry.pop(name, None)
            else:
                _registry[name] = old
            cls.name = old_name


@contextlib.contextmanager
def preserved(*, fresh_entry_points: bool = False) -> Iterator[None]:
    """Put the registry back as it was when the ``with`` block ends (for tests).

    Whatever the block registers, directly or by loading entry points, is forgotten. With
    ``fresh_entry_points``, entry points are read again on the first lookup inside the block.
    """
    global _entry_points_loaded
    with _lock:
        saved, loaded = dict(_registry), _entry_points_loaded
        if fresh_entry_points:
            _entry_points_loaded = False
    try:
        yield
    finally:
        with _lock:
            _registry.clear()
            _registry.update(saved)
            _entry_points_loaded = loaded


def _load_entry_points() -> None:
    """Import the ``pseudoanom.transforms`` entry points once (a broken one only warns)."""
    global _entry_points_loaded
    with _lock:
        if _entry_points_loaded:
            return
        _entry_points_loaded = True
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in _registry:
                continue
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plug-in must not break the others
                warnings.warn(
                    f"cannot load pseudoanom transform entry point {ep.name!r} "
                    f"({ep.value}): {exc!r}",
                    RuntimeWarning,
                    stacklevel=3,
                )
                continue
            # An entry point may name the class itself, or a module that registers on import.
            if isinstance(obj, type) and issubclass(obj, Transform) and ep.name not in _registry:
                register(ep.name)(obj)


def available() -> list[str]:
    """Sorted names of every registered transform, entry-point plug-ins included."""
    _load_entry_points()
    return sorted(_registry)


def get(name: str) -> type[Transform]:
    """The transform class registered as ``name``.

    Raises
    ------
    UnknownTransformError
        ``name`` is not registered; the message lists the known names.
    """
    cls = _registry.get(name)
    if cls is None:
        _load_entry_points()
        cls = _registry.get(name)
    if cls is None:
        raise UnknownTransformError(
            f"unknown transform {name!r}; known transforms: {', '.join(available())}"
        )
    return cls


def create(name: str, **params: Any) -> Transform:
    """Build the transform registered as ``name`` with constructor ``params``.

    Raises
    ------
    UnknownTransformError
        Unknown ``name`` (lists the known ones).
    TypeError
        A parameter the transform does not accept (lists the accepted ones).
    """
    cls = get(name)
    check_known_keys(params, init_arg_names(cls), f"transform {name!r}")
    return cls(**params)


def register_loader(name: str, load: Callable[[dict[str, Any]], Any]) -> None:
    """Let :func:`from_dict` build ``{"name": name, ...}`` dicts with ``load(d)``.

    For a name reserved for something other than a transform: ``pseudoanom.pipeline``
    registers ``"pipeline"`` with :meth:`Pipeline.from_dict <pseudoanom.Pipeline.from_dict>`.
    """
    if name not in _RESERVED:
        raise InvalidParameterError(f"{name!r} is not a reserved name: register a transform")
    with _lock:
        _loaders[name] = load


def from_dict(d: dict[str, Any]) -> Transform | Pipeline:
    """Rebuild a transform or a pipeline from its ``to_dict()`` form.

    Parameters
    ----------
    d : dict
        ``{"name": <transform name or "pipeline">, "params": {...}}``.
    """
    if not isinstance(d, dict) or "name" not in d:
        raise InvalidParameterError(
            f"expected a dict with 'name' and 'params' keys, got {type(d).__name__}: {d!r}"
        )
    check_known_keys(d, ["name", "params"], "a serialised transform")
    params = d.get("params") or {}
    if not isinstance(params, dict):
        raise InvalidParameterError(f"'params' must be a dict, got {params!r}")
    load = _loaders.get(d["name"])
    if load is not None:
        return load(d)
    return create(d["name"], **params)


for _cls in BUILTINS:
    register(_cls.name)(_cls)
del _cls
