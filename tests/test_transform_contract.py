"""The contract every registered transform keeps, built-in or user-registered.

The checks are :mod:`pseudoanom.testing`'s, the ones a plug-in author runs on their own
transform: each runs on every name in ``pseudoanom.available()`` (entry-point plug-ins
included, patch transforms with every ``content``) and on a transform registered by this test
(:class:`InvertBox`, registered for the module's tests with
:func:`pseudoanom.registry.registered` and removed afterwards). A new transform gets all of
these checks by being registered: seeds and replay, untouched input, shape/dtype/range and
mask, dict/YAML/pickle/deepcopy copies, threads, and one ``spawn`` worker process for all.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import pseudoanom
from pseudoanom import registry
from pseudoanom.testing import CHECKS, check_spawn_worker, check_transform, parametrize_with_checks

USER = "contract_invert_box"


class InvertBox(pseudoanom.Transform):
    """User transform: one random box inverted on every frame from a random frame on."""

    def __init__(self, max_side: int = 12, value_range: tuple[float, float] = (-1.0, 1.0)):
        self.max_side = int(max_side)
        self.value_range = tuple(value_range)

    def sample_params(self, shape, rng):
        t, h, w, _ = shape
        side = int(rng.integers(1, self.max_side + 1))
        y, x = int(rng.integers(h)), int(rng.integers(w))
        return {"first": int(rng.integers(t)), "box": [y, x, side]}

    def apply(self, clip, first, box):
        y, x, side = box
        out = clip.copy()
        window = out[first:, y : y + side, x : x + side]
        if clip.dtype == np.uint8:
            window[...] = 255 - window
        else:
            lo, hi = self.value_range
            window[...] = np.float32(lo + hi) - window
        mask = np.zeros(clip.shape[:3], np.float32)
        mask[first:, y : y + side, x : x + side] = 1.0
        return out, mask


@pytest.fixture(scope="module", autouse=True)
def user_transform():
    """Register :class:`InvertBox` for this module only; the registry is restored after."""
    with registry.registered(USER, InvertBox):
        yield


def small_intruders() -> pseudoanom.EmbeddedSource:
    return pseudoanom.EmbeddedSource(n=6, size=16)


def build(name: str, **kwargs: Any) -> pseudoanom.Transform:
    """``create(name)``, with small embedded intruders where the transform takes intruders."""
    if "intruders" in registry.init_arg_names(registry.get(name)):
        kwargs.setdefault("intruders", small_intruders())
    return pseudoanom.create(name, **kwargs)


def variants(name: str) -> list[pseudoanom.Transform]:
    """The transform as created, and with every ``content`` it accepts (patch transforms)."""
    if "content" not in registry.init_arg_names(registry.get(name)):
        return [build(name)]
    return [build(name, content=c) for c in pseudoanom.transforms.PATCH_CONTENTS]


def every_transform() -> list[pseudoanom.Transform]:
    """Every registered transform (with its variants) and the user transform."""
    return [tr for name in pseudoanom.available() for tr in variants(name)] + [InvertBox()]


def test_the_user_transform_is_registered_for_these_tests_only():
    assert USER in pseudoanom.available() and InvertBox.name == USER
    with registry.registered("contract_inner", InvertBox, override=True):
        assert InvertBox.name == "contract_inner" and "contract_inner" in pseudoanom.available()
    assert "contract_inner" not in pseudoanom.available() and InvertBox.name == USER


@parametrize_with_checks(every_transform(), skip=["spawn_worker"])
def test_contract(transform, check):
    check(transform)


def test_a_spawned_worker_gives_the_parents_outputs():
    """A fresh interpreter (the ``spawn`` start method) gets each transform pickled."""
    check_spawn_worker(every_transform())


class Stateful(InvertBox):
    """Breaks the contract: its draws do not come from the rng alone."""

    calls = 0

    def sample_params(self, shape, rng):
        Stateful.calls += 1
        params = super().sample_params(shape, rng)
        params["first"] = Stateful.calls % shape[0]
        return params


def test_check_transform_fails_on_a_broken_transform_and_names_the_check():
    with registry.registered("contract_stateful", Stateful):
        with pytest.raises(AssertionError, match="check 'seed_and_replay' failed: .*differs"):
            check_transform(Stateful(), skip=["spawn_worker"])
    with pytest.raises(KeyError, match="unknown checks"):
        check_transform(InvertBox(), skip=["no_such_check"])
    assert list(CHECKS)[-1] == "spawn_worker"


def test_testing_does_not_import_pytest():
    import subprocess
    import sys

    code = "import sys, pseudoanom.testing; print('pytest' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
