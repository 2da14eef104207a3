"""The fast loader agrees with PyYAML's safe loader on real manifests (the conformance corpus).

Data: ../shared/conformance/posture/ (read at test time, never copied), every YAML and JSON
file: the same documents, the same values, in the same order.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mamori.posture.model import Diagnostic, Manifest
from mamori.posture.yamlload import load_text
from tests.conftest import unavailable

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "posture"


def _files() -> list[Path]:
    return sorted(
        p for p in CORPUS.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file()
    )


def _objects(value: object) -> list[object]:
    """What ``load_text`` yields for one document: lists and ``...List`` kinds opened."""
    if isinstance(value, list):
        return [o for item in value for o in _objects(item)]
    if isinstance(value, dict):
        items, kind = value.get("items"), value.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
            inner = kind[: -len("List")]
            for item in items:
                if isinstance(item, dict) and inner:
                    item.setdefault("kind", inner)
                    item.setdefault("apiVersion", value.get("apiVersion"))
            return [o for item in items for o in _objects(item)]
        if isinstance(kind, str) and kind and isinstance(value.get("apiVersion"), str):
            return [value]
    return []


def test_fast_loader_matches_pyyaml_on_the_corpus() -> None:
    files = _files()
    if not files:
        unavailable("../shared/conformance/posture is not present")
    compared = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            expected = [
                o for doc in yaml.load_all(text, Loader=yaml.SafeLoader) for o in _objects(doc)
            ]
        except yaml.YAMLError:
            continue  # deliberately broken fixtures: located diagnostics, tested elsewhere
        found = list(load_text(text, str(path), is_json=path.suffix == ".json"))
        assert not [d for d in found if isinstance(d, Diagnostic) and d.level == "error"], path
        got = [m.obj for m in found if isinstance(m, Manifest)]
        assert got == expected, path
        compared += len(got)
    assert compared > 100


@pytest.mark.parametrize("path", _files()[:1])
def test_corpus_lines_point_at_the_object(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    for m in load_text(text, str(path), is_json=path.suffix == ".json"):
        if isinstance(m, Manifest):
            pos, _ = m.locate(("kind",))
            assert pos is not None
            assert lines[pos.line - 1][pos.column - 1 :].lstrip('"').startswith("kind")
