"""Merging sibling checks on one field: fewer, wider checks for the generated code.

Falco rules spell lists out as chains: ``fd.name startswith /bin/ or fd.name startswith /sbin/
or ...``, ``container.image.repository endswith /a or ... endswith /b``, exceptions as
``not proc.name = a and not proc.name = b``. Inside one ``or`` (or one ``and`` of negations)
such checks on the same single-valued string field become one:

* ``=``/``==``/``in``          -> ``in (a, b, ...)``        (one set lookup)
* ``startswith``/``endswith`` -> ``startswith anyof (...)`` (one C-level tuple test)
* ``contains``                 -> ``contains anyof (...)``

Every check here is a pure function of the event and each is false on ``<NA>``, so ``x op a or
x op b`` equals ``x op anyof (a, b)``, and ``not x = a and not x = b`` equals ``not x in (a,
b)``. The merged check takes the place of the first one it replaces.
"""

from __future__ import annotations

from collections.abc import Callable

from mamori.rules import ast
from mamori.rules.errors import CompileError
from mamori.rules.fields import FieldType, Multi
from mamori.rules.fold import Folded
from mamori.rules.operands import compile_operand

_SET_OPS = frozenset(("=", "==", "in"))
_ANYOF_OPS = frozenset(("startswith", "endswith", "contains"))


def merge(node: Folded, source: str) -> Folded:
    if isinstance(node, bool):
        return node
    return _Merger(source).visit(node)


class _Merger:
    def __init__(self, source: str) -> None:
        self.source = source
        self._plain: dict[ast.Operand, bool] = {}

    def visit(self, node: ast.Expr) -> ast.Expr:
        if isinstance(node, ast.Not):
            child = self.visit(node.child)
            return node if child is node.child else ast.Not(child, node.pos)
        if not isinstance(node, ast.And | ast.Or):
            return node
        children = [self.visit(c) for c in node.children]
        if isinstance(node, ast.Or):
            children = self._merge(children, lambda c: c)
        else:
            children = self._merge(children, _negated_check)
        if len(children) == 1:
            return children[0]
        same = len(children) == len(node.children)
        if same and all(a is b for a, b in zip(children, node.children, strict=True)):
            return node  # unchanged: equal sub-conditions stay shared
        return type(node)(tuple(children), node.pos)

    def _merge(
        self, children: list[ast.Expr], unwrap: Callable[[ast.Expr], ast.Expr | None]
    ) -> list[ast.Expr]:
        """Children with mergeable checks (as ``unwrap`` finds them) folded into the first."""
        groups: dict[tuple[ast.Operand, str], list[int]] = {}
        for i, child in enumerate(children):
            check = unwrap(child)
            kind = self._kind(check) if isinstance(check, ast.BinaryCheck) else None
            if kind is not None:
                assert isinstance(check, ast.BinaryCheck)
                groups.setdefault((check.left, kind), []).append(i)
        out: list[ast.Expr | None] = list(children)
        for (left, kind), where in groups.items():
            if len(where) < 2:
                continue
            items: list[str] = []
            for i in where:
                check = unwrap(children[i])
                assert isinstance(check, ast.BinaryCheck)
                for item in _items(check.right):
                    if item not in items:
                        items.append(item)
                out[i] = None
            first = unwrap(children[where[0]])
            assert isinstance(first, ast.BinaryCheck)
            values = ast.ListLiteral(tuple(items), first.right.pos)
            if kind == "in":
                merged = ast.BinaryCheck(left, "in", values, None, first.pos)
            else:
                merged = ast.BinaryCheck(left, kind, values, "anyof", first.pos)
            wrapped: ast.Expr = merged
            if unwrap is _negated_check:
                wrapped = ast.Not(merged, children[where[0]].pos)
            out[where[0]] = wrapped
        return [c for c in out if c is not None]

    def _kind(self, check: ast.BinaryCheck) -> str | None:
        """The merged operator this check can join (``in`` or an ``anyof`` one), or None."""
        if not isinstance(check.left, ast.FieldRef) or not self._plain_string(check.left):
            return None
        right = check.right
        if not isinstance(right, ast.Literal | ast.ListLiteral):
            return None
        if check.op in _SET_OPS and check.modifier is None:
            if check.op != "in" and not isinstance(right, ast.Literal):
                return None
            return "in"
        if check.op in _ANYOF_OPS and check.modifier in (None, "anyof"):
            if check.modifier is None and not isinstance(right, ast.Literal):
                return None
            return check.op
        return None

    def _plain_string(self, ref: ast.FieldRef) -> bool:
        found = self._plain.get(ref)
        if found is None:
            try:
                op = compile_operand(self.source, ref)
            except CompileError:
                found = False
            else:
                found = op.multi is Multi.SINGLE and op.type is FieldType.STRING
            self._plain[ref] = found
        return found


def _negated_check(node: ast.Expr) -> ast.Expr | None:
    """The check under a ``not`` whose merge is an ``in`` (``not a and not b`` = ``not (a or
    b)``): only set checks, as ``anyof`` chains rarely come negated."""
    if isinstance(node, ast.Not) and isinstance(node.child, ast.BinaryCheck):
        child = node.child
        if child.op in _SET_OPS and child.modifier is None:
            return child
    return None


def _items(right: ast.Value) -> tuple[str, ...]:
    if isinstance(right, ast.Literal):
        return (right.text,)
    assert isinstance(right, ast.ListLiteral)
    return right.items
