"""Imports point down (ARCHITECTURE.md): edges -> sensor -> capabilities -> core.

Every ``mamori.*`` import in ``src/mamori`` (module level or inside a function) is checked
against the layer of the importing and the imported subpackage. Capabilities do not import
each other, except for the edges listed in ``SIDEWAYS`` with the reason for each; a new one
fails here until it is listed (or the shared part moves down into ``core``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mamori"

CORE = {"core"}
SETTINGS = {"config"}  # settings read by capabilities and edges alike; imports core only
CAPABILITIES = {"rules", "drift", "audit", "posture", "vulns", "store", "rules_data"}
SENSOR = {"sensor"}
EDGES = {"cli", "server", "simulate", "__main__", "__init__"}

# Capability -> capability imports that are the design, not a slip.
SIDEWAYS = {
    ("audit", "rules"): "Kubernetes audit events are judged by the Falco rules engine",
    ("audit", "posture"): "the audit seed reads the live cluster with posture's API client",
}


def _layer(name: str) -> int:
    for rank, members in enumerate((CORE, SETTINGS, CAPABILITIES, SENSOR, EDGES)):
        if name in members:
            return rank
    raise AssertionError(f"src/mamori/{name} is in no layer: add it to tests/test_layers.py")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [(node.lineno, n.split(".")[1]) for n in names if n.startswith("mamori.")]
    return found


def _package(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def test_every_import_points_down() -> None:
    wrong: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        src = _package(path)
        for line, dst in _imports(path):
            if dst == src:
                continue
            up = _layer(dst) > _layer(src)
            sideways = _layer(dst) == _layer(src) and src not in EDGES
            if up or (sideways and (src, dst) not in SIDEWAYS):
                wrong.append(f"{path.relative_to(SRC.parent)}:{line}: {src} -> {dst}")
    assert wrong == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from mamori.sensor.identity.docker import DockerClient\n", [(1, "sensor")]),
        ("import mamori.core.events, os\n", [(1, "core")]),
        ("def f():\n    from mamori.rules import engine\n", [(2, "rules")]),
        ("from .scan import findings\nimport mamorix\n", []),
    ],
)
def test_imports_are_found_wherever_they_are(
    tmp_path: Path, source: str, expected: list[tuple[int, str]]
) -> None:
    """The checker itself: module-level, function-level and ``import a.b`` forms count;
    relative imports (same package) and look-alike names do not."""
    module = tmp_path / "m.py"
    module.write_text(source)
    assert _imports(module) == expected
