"""Plain option values are converted without pydantic, exactly as Typer's own conversion does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mamori.cli import coerce
from mamori.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
POD = """apiVersion: v1
kind: Pod
metadata: {name: p, namespace: apps}
spec:
  containers:
  - {name: app, image: nginx, securityContext: {privileged: true}}
"""


def _invoke(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["-j", "2"],
        ["--jobs", "x"],  # refused, with Typer's message
        ["--jobs", "3.0"],
        ["--jobs", "+1"],
        ["--jobs", "007"],
        ["--include-passed", "--fail-on", "none"],
        ["--params", "missing.yaml"],
        ["--format", "json", "--format", "sarif", "--output", "out.sarif"],
        ["--format"],  # a missing value
        ["--help"],
    ],
)
def test_same_as_typers_own_conversion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "100")
    (tmp_path / "p.yaml").write_text(POD)
    args = ["scan", "manifests", "p.yaml", "--checks", "MAM-K8S-015", *extra]
    direct = _invoke(args)
    sarif = (tmp_path / "out.sarif").read_text() if (tmp_path / "out.sarif").exists() else None
    monkeypatch.setattr(coerce, "RuntimeParam", None)  # Typer converts everything
    assert _invoke(args) == direct
    if sarif is not None:
        assert (tmp_path / "out.sarif").read_text() == sarif


def test_a_json_scan_imports_neither_pydantic_nor_rich(tmp_path: Path) -> None:
    """Typer's pydantic adapters and Rich cost more start-up than scanning a hundred files."""
    (tmp_path / "p.yaml").write_text(POD)
    code = (
        "import sys\n"
        "from mamori.cli.app import main\n"
        "sys.argv = ['mamori', 'scan', 'manifests', sys.argv[1], '--format', 'json']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code == 1, exc.code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'rich'))\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "p.yaml")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
