"""docs/rules-fields.md is generated from the field table and must be up to date."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mamori.rules.fields import ALL_FIELDS, CATALOG, lookup
from mamori.rules.fields.docs import render

ROOT = Path(__file__).resolve().parents[2]
STOCK = ROOT / ".." / "shared" / "conformance" / "falco" / "rules"


def test_doc_is_up_to_date() -> None:
    assert (ROOT / "docs" / "rules-fields.md").read_text() == render(), (
        "regenerate: python -m mamori.rules.fields.docs > docs/rules-fields.md"
    )


def test_names_are_unique_per_source() -> None:
    for source, table in CATALOG.items():
        assert len(table) == len([f for f in ALL_FIELDS if f.source == source])


def test_every_field_the_stock_rules_use_is_known() -> None:
    used: set[tuple[str, str]] = set()
    field_rx = re.compile(r"(?<![\w./-])((?:evt|proc|user|group|thread|container|k8s|fd|ka|jevt)"
                          r"(?:\.[a-zA-Z_][a-zA-Z0-9_]*)+)")  # fmt: skip
    for path in STOCK.glob("*.yaml"):
        source = "k8s_audit" if path.name.startswith("k8s") else "syscall"
        for item in yaml.safe_load(path.read_text()):
            for key in ("condition", "output"):
                for m in field_rx.finditer(str(item.get(key, ""))):
                    used.add((source, m.group(1)))
    unknown = sorted(n for s, n in used if lookup(s, n) is None)
    assert unknown == []
    assert len({n for s, n in used if s == "syscall"}) >= 90
