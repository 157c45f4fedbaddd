"""Registry: names, user transforms, entry-point plug-ins, import isolation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pseudoanom
from pseudoanom import registry

BUILTINS = {
    "smoothmix_s",
    "smoothmix_c",
    "cutmix",
    "mixup_patch",
    "skip_frame",
    "reverse",
    "freeze",
    "noise_patch",
}


@pytest.fixture
def clean_registry():
    """Let a test register transforms / entry points without leaking them to other tests."""
    with registry.preserved(fresh_entry_points=True):
        yield


class Invert(pseudoanom.Transform):
    """Test transform: inverts the whole clip (uint8 only)."""

    def __init__(self, strength: float = 1.0) -> None:
        self.strength = float(strength)

    def sample_params(self, shape, rng):
        return {"frame": int(rng.integers(shape[0]))}

    def apply(self, clip, frame):
        out = clip.copy()
        out[frame] = 255 - out[frame]
        mask = np.zeros(clip.shape[:3], np.float32)
        mask[frame] = 1.0
        return out, mask


def test_available_lists_builtins():
    assert BUILTINS <= set(pseudoanom.available())
    assert pseudoanom.available() == sorted(pseudoanom.available())


def test_unknown_name_lists_known():
    with pytest.raises(pseudoanom.UnknownTransformError) as err:
        pseudoanom.create("smoothmix")
    assert "smoothmix" in str(err.value)
    for name in BUILTINS:
        assert name in str(err.value)


def test_unknown_constructor_param():
    with pytest.raises(TypeError, match=r"alpah.*accepted: alpha"):
        pseudoanom.create("smoothmix_s", alpah=0.5)
    with pytest.raises(TypeError, match="bogus"):
        pseudoanom.from_dict({"name": "cutmix", "params": {"bogus": 1}})


def test_user_registered_transform(clean_registry):
    pseudoanom.register("invert")(Invert)
    assert "invert" in pseudoanom.available()
    t = pseudoanom.create("invert", strength=2)
    clip = np.zeros((3, 4, 4, 1), np.uint8)
    res = t(clip, rng=0)
    assert res.label == 1 and (res.clip[res.params["frame"]] == 255).all()
    d = t.to_dict()
    assert d == {"name": "invert", "params": {"strength": 2.0}}
    pipe = pseudoanom.Pipeline([pseudoanom.from_dict(d)], p=1.0)
    back = pseudoanom.from_dict(pipe.to_dict())
    assert back.transforms[0].strength == 2.0
    with pytest.raises(pseudoanom.InvalidParameterError, match="already registered"):
        pseudoanom.register("invert")(type("Other", (Invert,), {}))
    with pytest.raises(TypeError, match="Transform subclass"):
        pseudoanom.register("not_a_transform")(object)


class FakeEntryPoint:
    def __init__(self, name, obj):
        self.name, self.value, self._obj = name, f"fake_pkg:{name}", obj
        self.loads = 0

    def load(self):
        self.loads += 1
        if isinstance(self._obj, Exception):
            raise self._obj
        return self._obj


def test_registered_and_preserved_restore_the_registry():
    before, name = pseudoanom.available(), Invert.name
    with registry.registered("invert_tmp", Invert) as cls:
        assert cls is Invert and Invert.name == "invert_tmp"
        assert pseudoanom.create("invert_tmp").to_dict()["name"] == "invert_tmp"
    assert pseudoanom.available() == before and Invert.name == name
    with registry.preserved():
        pseudoanom.register("cutmix", override=True)(Invert)
        assert registry.get("cutmix") is Invert
    assert registry.get("cutmix") is pseudoanom.CutMix and pseudoanom.available() == before
    Invert.name = name


def test_entry_point_plugin_loaded_lazily(clean_registry, monkeypatch):
    good = FakeEntryPoint("plugin_invert", type("PluginInvert", (Invert,), {}))
    broken = FakeEntryPoint("plugin_broken", ImportError("no such module"))
    calls = []

    def fake_entry_points(group=None, **kw):
        calls.append(group)
        return [good, broken]

    monkeypatch.setattr(registry.importlib.metadata, "entry_points", fake_entry_points)
    assert isinstance(pseudoanom.create("cutmix"), pseudoanom.CutMix)
    assert calls == []  # a known name does not touch entry points
    with pytest.warns(RuntimeWarning, match="plugin_broken"):
        t = pseudoanom.create("plugin_invert")
    assert calls == ["pseudoanom.transforms"] and good.loads == 1
    assert t.to_dict()["name"] == "plugin_invert"
    assert (
        "plugin_invert" in pseudoanom.available() and "plugin_broken" not in pseudoanom.available()
    )
    assert calls == ["pseudoanom.transforms"]  # loaded once


def test_import_does_not_load_frameworks():
    code = (
        "import sys, numpy as np, pseudoanom\n"
        "pseudoanom.available()\n"
        "pseudoanom.create('smoothmix_s')(np.zeros((2, 16, 16, 1), np.uint8), rng=0)\n"
        "mods = ('tensorflow', 'keras', 'torch', 'sklearn', 'jax')\n"
        "bad = [m for m in mods if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    root = Path(__file__).parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
