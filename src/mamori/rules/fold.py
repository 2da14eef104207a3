"""Partial evaluation: a condition specialised for one event type.

The ruleset already picks rules by (source, evt.type), so inside a bucket every ``evt.type``
check (and ``evt.dir``, always ``<`` for syscall events) has a known result. Folding them away
before compiling removes the most common first checks of Falco rules from the hot path.
"""

from __future__ import annotations

from collections.abc import Callable

from mamori.rules import ast

Folded = ast.Expr | bool


def fold(node: ast.Expr, source: str, evt_type: str | None) -> Folded:
    if isinstance(node, ast.And | ast.Or):
        is_and = isinstance(node, ast.And)
        kept: list[ast.Expr] = []
        for child in node.children:
            value = fold(child, source, evt_type)
            if value is (not is_and):
                return not is_and  # false in an and / true in an or decides
            if not isinstance(value, bool):
                kept.append(value)
        if not kept:
            return is_and
        return kept[0] if len(kept) == 1 else type(node)(tuple(kept), node.pos)
    if isinstance(node, ast.Not):
        inner = fold(node.child, source, evt_type)
        return (not inner) if isinstance(inner, bool) else ast.Not(inner, node.pos)
    if isinstance(node, ast.BinaryCheck) and not node.modifier:
        known = _known(node.left, source, evt_type)
        if known is not None:
            return _decide(node, known)
    return node


def _known(left: ast.Operand, source: str, evt_type: str | None) -> str | None:
    if not isinstance(left, ast.FieldRef) or left.arg is not None or source != "syscall":
        return None
    if left.name == "evt.type":
        return evt_type
    if left.name == "evt.dir":
        return "<"
    return None


def _decide(node: ast.BinaryCheck, value: str) -> Folded:
    right = node.right
    if node.op in ("=", "==", "!=") and isinstance(right, ast.Literal):
        return (value == right.text) != (node.op == "!=")
    if node.op in ("in", "intersects") and isinstance(right, ast.ListLiteral):
        return value in right.items
    return node


Decide = Callable[[ast.Expr], "bool | None"]


def fold_with(node: ast.Expr, decide: Decide) -> Folded:
    """Partial evaluation with a caller's knowledge: ``decide(check)`` is True/False when the
    check's result is known for every event this condition will see, None when it is not."""
    if isinstance(node, ast.And | ast.Or):
        is_and = isinstance(node, ast.And)
        kept: list[ast.Expr] = []
        changed = False
        for child in node.children:
            value = fold_with(child, decide)
            if value is (not is_and):
                return not is_and
            if isinstance(value, bool):
                changed = True
            else:
                changed = changed or value is not child
                kept.append(value)
        if not kept:
            return is_and
        if not changed:
            return node  # unchanged: keep the node (shared sub-conditions stay shared)
        return kept[0] if len(kept) == 1 else type(node)(tuple(kept), node.pos)
    if isinstance(node, ast.Not):
        inner = fold_with(node.child, decide)
        if isinstance(inner, bool):
            return not inner
        return node if inner is node.child else ast.Not(inner, node.pos)
    if isinstance(node, ast.UnaryCheck | ast.BinaryCheck):
        known = decide(node)
        return node if known is None else known
    return node
