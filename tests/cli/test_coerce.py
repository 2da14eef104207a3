"""Plain option values are converted without pydantic, exactly as Typer's own conversion does."""

from __future__ import annotations

import json
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
    """Typer's pydantic adapters and Rich cost more start-up than scanning a hundred files.
    (Read from ``-X importtime``: the command ends the process itself.)"""
    (tmp_path / "p.yaml").write_text(POD)
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    scan = ["scan", "manifests", str(tmp_path / "p.yaml"), "--format", "json"]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mamori", *scan],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-2000:]  # findings, at the default --fail-on
    assert json.loads(done.stdout)["summary"]["fail"] > 0
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()]
    assert "yaml" in imported
    assert not [m for m in imported if m.split(".")[0] in ("pydantic", "rich")]
