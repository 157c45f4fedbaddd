"""The same seed gives the same pseudo anomalies whatever else is installed.

The embedded intruders (the default source) are generated with NumPy and OpenCV only. These
tests compute the digest of seeded ``smoothmix_s`` outputs with the default intruders
(``smoothmix_s/default-intruders`` in tests/data/pseudoanom_digests.json) in a fresh
interpreter where scikit-learn cannot be imported, and in one where it can, and check both
against the recorded digest; nothing in ``pseudoanom`` may import scikit-learn.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DIGESTS = REPO / "tests" / "data" / "pseudoanom_digests.json"
LABEL = "smoothmix_s/default-intruders"

# Runs in the child: optionally make `import sklearn` fail, compute the case, and report
# whether scikit-learn got imported along the way.
CHILD = """
import json, sys
if {block}:
    sys.modules["sklearn"] = None  # `import sklearn` (and its submodules) raise ImportError
sys.path.insert(0, {tests!r})
import pseudoanom
import test_pseudoanom_digests as d
digest = d.cases()[{label!r}]()
print(json.dumps({{"digest": digest, "sklearn": sys.modules.get("sklearn") is not None}}))
"""


def _child(block: bool) -> dict:
    code = CHILD.format(block=block, tests=str(REPO / "tests"), label=LABEL)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _recorded() -> dict:
    return json.loads(DIGESTS.read_text())[LABEL]


def test_without_scikit_learn_the_recorded_digest():
    got = _child(block=True)
    assert got == {"digest": _recorded(), "sklearn": False}


def test_with_scikit_learn_importable_the_same_digest_and_it_is_not_imported():
    pytest.importorskip("sklearn")
    got = _child(block=False)
    assert got == {"digest": _recorded(), "sklearn": False}
