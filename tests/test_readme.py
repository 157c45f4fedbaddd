"""The README's promises: its library snippet runs, and CI runs exactly its test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_library_snippet_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks, "README has no python block"
    monkeypatch.chdir(tmp_path)  # the snippet writes pipeline.yaml
    exec(compile(blocks[0], "README.md", "exec"), {})
    assert "smoothmix_s" in capsys.readouterr().out
    import pseudoanom

    again = pseudoanom.Pipeline.from_yaml(tmp_path / "pipeline.yaml")
    assert [type(t).__name__ for t in again.transforms] == ["SmoothMixS", "SkipFrame"]


def test_ci_runs_the_readme_test_command():
    bash = re.findall(r"```bash\n(.*?)```", README, re.S)
    test_cmd = next(b.strip() for b in bash if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines(), f"{test_cmd!r} is not a line of .ci/run"
