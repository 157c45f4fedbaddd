"""The documentation site builds with ``mkdocs build --strict``: any warning fails.

A broken link or anchor, a page missing from the nav, an API page whose module cannot be found
by mkdocstrings, or a config/CLI reference that no longer generates all fail this test. The
build uses static analysis (griffe): it imports neither TensorFlow nor the documented modules,
only ``trainer.config``, ``trainer.cli`` and ``pseudoanom.__main__`` for the generated
references.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None, reason="mkdocs is not installed (docs extra)"
)


def _build(site: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    proc = _build(site)
    log = proc.stdout + proc.stderr
    warnings = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert proc.returncode == 0 and not warnings, f"mkdocs build --strict failed:\n{log[-6000:]}"
    return site


def test_build_is_strict_clean(site: Path) -> None:
    assert (site / "index.html").is_file()


def test_every_page_of_docs_is_built(site: Path) -> None:
    pages = [p.relative_to(DOCS) for p in DOCS.rglob("*.md")]
    assert pages
    for page in pages:
        html = site / page.with_suffix("") / "index.html"
        if page.name == "index.md":
            html = site / page.parent / "index.html"
        assert html.is_file(), f"{page} was not built ({html})"


def test_api_pages_render_the_modules(site: Path) -> None:
    """mkdocstrings rendered real content (a signature) for every documented module."""
    for md in sorted((DOCS / "api").glob("*.*.md")):
        module = md.stem
        html = (site / "api" / module / "index.html").read_text(encoding="utf-8")
        assert 'class="doc doc-' in html, f"no API content rendered for {module}"


def test_config_reference_is_generated_from_the_dataclass(site: Path) -> None:
    import dataclasses

    from trainer.config import PRESETS, TrainConfig

    html = (site / "trainer" / "index.html").read_text(encoding="utf-8")
    assert "gen:" not in html, "a <!-- gen:... --> marker was left unreplaced"
    for f in dataclasses.fields(TrainConfig):
        assert f"<code>{f.name}</code>" in html, f"config key {f.name} missing from trainer.md"
    for name in PRESETS:
        assert f"<code>{name}</code>" in html
    assert "usage: python -m trainer train" in html  # the CLI reference


def test_api_pages_cover_every_module() -> None:
    """Each pseudoanom / trainer module has an API page (new modules need one)."""
    documented = {p.stem for p in (DOCS / "api").glob("*.*.md")}
    skip = {"__init__", "__main__"}
    for package in ("pseudoanom", "trainer"):
        for py in sorted((ROOT / package).glob("*.py")):
            if py.stem not in skip:
                assert f"{package}.{py.stem}" in documented, (
                    f"no docs/api page for {package}.{py.stem}"
                )


def test_measured_numbers_name_their_command() -> None:
    """Pages quoting measured values (AUC, seconds) also show a command and a commit."""
    for page in ("examples.md", "results.md"):
        text = (DOCS / page).read_text(encoding="utf-8")
        if re.search(r"micro_auc=\d|\bAUC\b.*\b0\.\d{3}", text):
            assert "python " in text and re.search(r"commit\s+`?[0-9a-f]{7}", text), page
