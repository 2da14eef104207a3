"""The stock Falco rules files (../shared/conformance/falco/rules/) load and compile cleanly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mamori.rules.engine import LoadResult, load_ruleset

RULES_DIR = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "falco" / "rules"
)
INDEX: dict[str, Any] = json.loads((RULES_DIR / "index.json").read_text())
FILES = [f["file"] for f in INDEX["files"]]
SYSCALL_FILES = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]


def _load(*names: str) -> LoadResult:
    return load_ruleset([RULES_DIR / n for n in names])


@pytest.fixture(scope="module", params=INDEX["files"], ids=FILES)
def loaded(request: pytest.FixtureRequest) -> tuple[dict[str, Any], LoadResult]:
    entry: dict[str, Any] = request.param
    return entry, _load(entry["file"])


def test_file_loads_with_zero_errors(loaded: tuple[dict[str, Any], LoadResult]) -> None:
    _, result = loaded
    assert [str(d) for d in result.errors] == []


def test_counts_equal_the_index(loaded: tuple[dict[str, Any], LoadResult]) -> None:
    entry, result = loaded
    counts = result.collected.counts[str(RULES_DIR / entry["file"])]
    assert counts == entry["counts"]
    assert len(result.collected.rules) == entry["counts"]["rule"]
    assert len(result.collected.macros) == entry["counts"]["macro"]
    assert len(result.collected.lists) == entry["counts"]["list"]


def test_every_rule_compiles(loaded: tuple[dict[str, Any], LoadResult]) -> None:
    entry, result = loaded
    assert len(result.rules) == entry["counts"]["rule"]
    disabled = [r for r in result.rules if not r.enabled]
    assert len(disabled) == entry["rules_enabled_false"]
    assert len(result.ruleset.rules) == entry["counts"]["rule"] - entry["rules_enabled_false"]
    assert sorted({r.source for r in result.rules}) == entry["rule_sources"]


def test_versions_are_recorded(loaded: tuple[dict[str, Any], LoadResult]) -> None:
    entry, result = loaded
    assert result.collected.required_engine_versions == [
        str(v) for v in entry["required_engine_version"]
    ]
    names = [p["name"] for p in result.collected.required_plugins]
    assert names == [p["name"] for p in entry["required_plugin_versions"]]


def test_event_type_sets_are_reported(loaded: tuple[dict[str, Any], LoadResult]) -> None:
    _, result = loaded
    for rule in result.rules:
        described = rule.evttypes.describe()
        assert described, rule.name
        if rule.source == "k8s_audit":
            assert described == ["*"]


def test_known_event_type_sets() -> None:
    result = _load("falco_rules.yaml")
    types = {r.name: r.evttypes.describe() for r in result.rules}
    # spawned_process is "evt.type in (execve, execveat) and evt.dir=<" in this file.
    assert types["Terminal shell in container"] == ["execve", "execveat"]
    assert types["Contact K8S API Server From Container"] == ["connect"]
    assert types["Create Symlink Over Sensitive Files"] == ["symlink", "symlinkat"]


def test_syscall_files_load_together() -> None:
    result = _load(*SYSCALL_FILES)
    assert [str(d) for d in result.errors] == []
    # Rule names are unique across the three files; later lists/macros replace earlier ones.
    total = sum(e["counts"]["rule"] for e in INDEX["files"] if e["file"] in SYSCALL_FILES)
    assert len(result.rules) == total


def test_all_files_load_together() -> None:
    result = _load(*FILES)
    assert [str(d) for d in result.errors] == []
    assert len(result.rules) == sum(e["counts"]["rule"] for e in INDEX["files"])
