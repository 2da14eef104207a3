"""The event types a condition can match, derived as Falco does (negations included).

A set is finite (``{execve, execveat}``) or co-finite (every type except some): ``evt.type = x``
gives ``{x}``, ``evt.type != x`` and ``not evt.type = x`` every type but ``x``; ``and`` intersects,
``or`` unites, ``not`` swaps them (De Morgan); any other check allows every type.
"""

from __future__ import annotations

from dataclasses import dataclass

from mamori.rules import ast


@dataclass(frozen=True, slots=True)
class EvtTypes:
    names: frozenset[str]
    # True: every type except ``names``; False: exactly ``names``.
    complement: bool = False

    @property
    def is_all(self) -> bool:
        return self.complement and not self.names

    def __contains__(self, name: object) -> bool:
        return (name in self.names) != self.complement

    def __and__(self, other: EvtTypes) -> EvtTypes:
        if not self.complement and not other.complement:
            return EvtTypes(self.names & other.names)
        if self.complement and other.complement:
            return EvtTypes(self.names | other.names, True)
        finite, co = (self, other) if not self.complement else (other, self)
        return EvtTypes(finite.names - co.names)

    def __or__(self, other: EvtTypes) -> EvtTypes:
        if not self.complement and not other.complement:
            return EvtTypes(self.names | other.names)
        if self.complement and other.complement:
            return EvtTypes(self.names & other.names, True)
        finite, co = (self, other) if not self.complement else (other, self)
        return EvtTypes(co.names - finite.names, True)

    def invert(self) -> EvtTypes:
        return EvtTypes(self.names, not self.complement)

    def describe(self) -> list[str]:
        """Sorted names; ``["*"]`` for all types; ``["*", "!open", ...]`` for exclusions."""
        if not self.complement:
            return sorted(self.names)
        return ["*", *(f"!{n}" for n in sorted(self.names))]


ALL = EvtTypes(frozenset(), True)


def evttypes(node: ast.Expr, negated: bool = False) -> EvtTypes:
    if isinstance(node, ast.And | ast.Or):
        sets = [evttypes(c, negated) for c in node.children]
        intersect = isinstance(node, ast.And) != negated
        out = sets[0]
        for s in sets[1:]:
            out = out & s if intersect else out | s
        return out
    if isinstance(node, ast.Not):
        return evttypes(node.child, not negated)
    if isinstance(node, ast.BinaryCheck) and _is_evt_type(node.left) and not node.modifier:
        names = _names(node)
        if names is None:
            return ALL
        positive = EvtTypes(names, node.op == "!=")
        return positive.invert() if negated else positive
    return ALL


def _is_evt_type(left: ast.Operand) -> bool:
    return isinstance(left, ast.FieldRef) and left.name == "evt.type" and left.arg is None


def _names(node: ast.BinaryCheck) -> frozenset[str] | None:
    right = node.right
    if node.op in ("=", "==", "!=") and isinstance(right, ast.Literal):
        return frozenset((right.text,))
    if node.op in ("in", "intersects") and isinstance(right, ast.ListLiteral):
        return frozenset(right.items)
    return None
