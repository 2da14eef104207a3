"""A reference evaluator: walks the resolved tree for every event, resolving fields each time.

Deliberately simple: it is the oracle the compiled code is tested against and the
"naive" peer in bench/rules.py. Same semantics as the compiler (missing field -> false).
"""

from __future__ import annotations

from typing import Any

from mamori.core.events import Event
from mamori.rules import ast
from mamori.rules.checks import convert, dynamic, predicate, set_predicate
from mamori.rules.fields import Multi
from mamori.rules.operands import compile_operand
from mamori.rules.parser import LIST_OPS


def evaluate(node: ast.Expr, event: Event, source: str) -> bool:
    if isinstance(node, ast.And):
        return all(evaluate(c, event, source) for c in node.children)
    if isinstance(node, ast.Or):
        return any(evaluate(c, event, source) for c in node.children)
    if isinstance(node, ast.Not):
        return not evaluate(node.child, event, source)
    if isinstance(node, ast.MacroRef):
        raise ValueError(f"unresolved macro {node.name}")
    left = compile_operand(source, node.left)
    value = left.extract(event)
    if isinstance(node, ast.UnaryCheck):
        return value is not None and (left.multi is Multi.SINGLE or bool(value))
    if value is None:
        return False
    values = (value,) if left.multi is Multi.SINGLE else value
    if left.multi is Multi.LIST and node.op == "in":
        return bool(values) and all(_one(node, v, event, source) for v in values)
    return any(_one(node, v, event, source) for v in values)


def _one(node: ast.BinaryCheck, v: Any, event: Event, source: str) -> bool:
    right = node.right
    if isinstance(right, ast.FieldRef | ast.Transform | ast.Join):
        r = compile_operand(source, right).extract(event)
        return r is not None and dynamic(node.op, v, r)
    left_type = compile_operand(source, node.left).type
    if isinstance(right, ast.ListRef):
        right = ast.ListLiteral((right.name,))
    if isinstance(right, ast.ListLiteral):
        items = [convert(i, left_type, right) for i in right.items]
        if node.modifier:
            hits = [predicate(node.op, c)(v) for c in items]
            if node.modifier == "allof":
                return bool(hits) and all(hits)
            if node.modifier == "oneof":
                return hits.count(True) == 1
            return any(hits)
        return set_predicate(node.op, items)(v)
    c = convert(right.text, left_type, right)
    if node.op in LIST_OPS:
        return set_predicate(node.op, [c])(v)
    return predicate(node.op, c)(v)
