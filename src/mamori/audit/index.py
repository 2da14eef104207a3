"""Rules indexed by the audit event's target resource, as the engine indexes syscalls by type.

Most audit rules require ``ka.target.resource`` to be one of a few values; most audit events
(lease renewals, status patches) match none of them. Reading that constraint off each
compiled rule's resolved condition lets an event be checked only against rules that can match
it. Results are identical to the full ruleset (tests/audit/test_index.py checks it on the
corpus); the index is a candidate to move into the rules engine next to ``evttypes``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mamori.core.events import Event
from mamori.rules import ast
from mamori.rules.ruleset import CompiledRule, Match, RuleMatching, Ruleset

FIELD = "ka.target.resource"


def required_values(expr: ast.Expr, field: str = FIELD) -> frozenset[str] | None:
    """The values ``field`` must take for ``expr`` to hold; None when it is not constrained."""
    if isinstance(expr, ast.BinaryCheck):
        return _check_values(expr, field)
    if isinstance(expr, ast.And):
        found = [v for c in expr.children if (v := required_values(c, field)) is not None]
        if not found:
            return None
        out = found[0]
        for values in found[1:]:
            out &= values
        return out
    if isinstance(expr, ast.Or):
        parts = [required_values(c, field) for c in expr.children]
        if any(p is None for p in parts):
            return None
        return frozenset().union(*(p for p in parts if p is not None))
    return None


def _check_values(check: ast.BinaryCheck, field: str) -> frozenset[str] | None:
    left = check.left
    if not isinstance(left, ast.FieldRef) or left.name != field or left.arg is not None:
        return None
    if check.modifier is not None:
        return None
    if check.op in ("=", "==") and isinstance(check.right, ast.Literal):
        return frozenset({check.right.text})
    if check.op == "in" and isinstance(check.right, ast.ListLiteral):
        return frozenset(check.right.items)
    return None


def resource_of(raw: Mapping[str, Any]) -> str | None:
    ref = raw.get("objectRef")
    value = ref.get("resource") if isinstance(ref, dict) else None
    if value is None or isinstance(value, dict | list):
        return None
    return value if isinstance(value, str) else str(value)


class ResourceIndexedRules:
    """Like ``Ruleset.match`` for k8s_audit events, checking only rules that can match."""

    def __init__(self, rules: Sequence[CompiledRule], matching: RuleMatching) -> None:
        self.matching = matching
        self.full = Ruleset(rules, matching)
        self._needs = [(r, required_values(r.expr)) for r in self.full.rules]
        self._by_resource: dict[str | None, Ruleset] = {}

    def subset(self, resource: str | None) -> Ruleset:
        rs = self._by_resource.get(resource)
        if rs is None:
            chosen = [r for r, need in self._needs if need is None or resource in need]
            rs = self._by_resource[resource] = Ruleset(chosen, self.matching)
        return rs

    def match(self, event: Event) -> list[Match]:
        if event.audit is None:
            return self.full.match(event)
        return self.subset(resource_of(event.audit.raw)).match(event)
