"""The resource index gives exactly the full ruleset's matches."""

from __future__ import annotations

import pytest

from mamori.audit.detection import default_rules_path
from mamori.audit.events import to_event
from mamori.audit.index import ResourceIndexedRules, required_values
from mamori.rules import ast
from mamori.rules.engine import load_ruleset
from mamori.rules.parser import parse
from mamori.rules.ruleset import RuleMatching
from tests.audit.corpus_util import STOCK_RULES, all_cases, case


@pytest.mark.parametrize("matching", list(RuleMatching))
def test_indexed_matches_equal_full_matches_on_the_corpus(matching: RuleMatching) -> None:
    rules = load_ruleset([default_rules_path(), STOCK_RULES], matching).rules
    indexed = ResourceIndexedRules(rules, matching)
    for name in all_cases():
        event = to_event(case(name))
        full = [m.rule.name for m in indexed.full.match(event)]
        assert [m.rule.name for m in indexed.match(event)] == full, name


@pytest.mark.parametrize(
    ("condition", "values"),
    [
        ("ka.target.resource = pods", {"pods"}),
        ("ka.target.resource in (pods, secrets) and ka.verb = get", {"pods", "secrets"}),
        (
            "ka.verb = get and ka.target.resource in (pods, secrets) and "
            "ka.target.resource = secrets",
            {"secrets"},
        ),
        ("ka.target.resource = pods or ka.target.resource = secrets", {"pods", "secrets"}),
        ("ka.target.resource = pods or ka.verb = get", None),
        ("not ka.target.resource = pods", None),
        ("ka.target.resource != pods", None),
        ("ka.target.resource startswith pod", None),
        ("ka.verb = get", None),
    ],
)
def test_required_values(condition: str, values: set[str] | None) -> None:
    tree: ast.Expr = parse(condition)
    got = required_values(tree)
    assert (set(got) if got is not None else None) == values
