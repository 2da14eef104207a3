"""Compiler: a resolved condition tree -> one Python function per rule.

Each condition becomes the source of a single lambda (``and``/``or``/``not`` are Python's own
short-circuit operators, common checks are inlined, e.g. ``f3(e) in s4``) compiled once with
``compile()``; constants, extractors and predicates are bound in its namespace. No tree is
walked per event. Very deep trees (beyond what CPython's parser nests) fall back to composed
closures with the same checks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mamori.core.events import Event
from mamori.rules import ast
from mamori.rules.checks import Pred, check_op, convert, dynamic, predicate, set_predicate
from mamori.rules.errors import CompileError
from mamori.rules.fields import FieldType, Multi
from mamori.rules.operands import Operand, compile_operand
from mamori.rules.parser import LIST_OPS

Condition = Callable[[Event], bool]
_CODEGEN_MAX_DEPTH = 60
_INLINE_METHODS = {"startswith": "startswith", "endswith": "endswith"}
_ORDER_OPS = frozenset(("<", "<=", ">", ">="))
_INLINE_CONTAINS = 12  # up to this many, ``a in v or b in v ...`` beats one regex search


def compile_condition(expr: ast.Expr, source: str) -> Condition:
    """Compile ``expr`` for events of ``source``; raise ``CompileError`` with a position."""
    builder = _Builder(source)
    if _depth(expr) <= _CODEGEN_MAX_DEPTH:
        code = builder.code(expr)
        fn: Condition = eval(  # noqa: S307 - our own generated code, no user text inside
            compile(f"lambda e: bool({code})", "<mamori-condition>", "eval"), builder.ns
        )
        return fn
    return builder.closure(expr)


def _depth(expr: ast.Expr) -> int:
    best, stack = 0, [(expr, 1)]
    while stack:
        node, d = stack.pop()
        best = max(best, d)
        if isinstance(node, ast.And | ast.Or):
            stack.extend((c, d + 1) for c in node.children)
        elif isinstance(node, ast.Not):
            stack.append((node.child, d + 1))
    return best


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source
        self.ns: dict[str, Any] = {"__builtins__": {"bool": bool, "len": len}}
        self._names: dict[int, str] = {}

    def bind(self, value: Any, prefix: str) -> str:
        key = id(value)
        name = self._names.get(key)
        if name is None:
            name = f"{prefix}{len(self.ns)}"
            self.ns[name] = value
            self._names[key] = name
        return name

    # -- generated code -------------------------------------------------------------------------

    def code(self, node: ast.Expr) -> str:
        if isinstance(node, ast.And):
            return "(" + " and ".join(self.code(c) for c in node.children) + ")"
        if isinstance(node, ast.Or):
            return "(" + " or ".join(self.code(c) for c in node.children) + ")"
        if isinstance(node, ast.Not):
            return f"(not {self.code(node.child)})"
        if isinstance(node, ast.MacroRef):
            raise CompileError("R002", f"undefined macro '{node.name}'", node.pos)
        return self.check_code(node)

    def check_code(self, node: ast.UnaryCheck | ast.BinaryCheck) -> str:
        left = compile_operand(self.source, node.left)
        if isinstance(node, ast.BinaryCheck):
            dyn = self.dynamic_condition(node, left)
            if dyn is not None:
                return f"{self.bind(dyn, 'd')}(e)"
        f = self.value(left)
        inline = self._inline(node, left, f)
        if inline is not None:
            return inline
        test = self.bind(self.check_fn(node, left), "t")
        return f"{test}({f})"

    def value(self, left: Operand) -> str:
        """Code for the operand's value (subclasses memoise it per event)."""
        return f"{self.bind(left.extract, 'f')}(e)"

    def _inline(self, node: ast.UnaryCheck | ast.BinaryCheck, left: Operand, f: str) -> str | None:
        """Code for the common single-valued checks, without a predicate call."""
        if left.multi is Multi.ANY and isinstance(node, ast.BinaryCheck):
            return self._inline_any(node, left, f)
        if left.multi is not Multi.SINGLE:
            return None
        if isinstance(node, ast.UnaryCheck):
            return f"({f} is not None)"
        op, right = node.op, node.right
        if left.type in (FieldType.IPNET, FieldType.IPADDR):
            # the address predicate called directly, without the <NA> wrapper around it
            check_op(op, left.type, node)
            pred = self.bind(self._static_pred(node, left.type), "t")
            return f"((v := {f}) is not None and {pred}(v))"
        if node.modifier:
            return self._inline_anyof(node, left, f)
        if isinstance(right, ast.Literal) and op in _ORDER_OPS:
            check_op(op, left.type, node)
            c = self.bind(convert(right.text, left.type, right), "c")
            return f"((v := {f}) is not None and v {op} {c})"
        if isinstance(right, ast.Literal) and op in ("=", "==", "!=", "contains", *_INLINE_METHODS):
            check_op(op, left.type, node)
            c = self.bind(convert(right.text, left.type, right), "c")
            if op in ("=", "=="):
                return f"({f} == {c})"
            if op == "!=":
                return f"((v := {f}) is not None and v != {c})"
            if op == "contains":
                return f"((v := {f}) is not None and {c} in v)"
            return f"((v := {f}) is not None and v.{_INLINE_METHODS[op]}({c}))"
        if isinstance(right, ast.ListLiteral) and op in ("in", "intersects"):
            s = self.bind(frozenset(convert(i, left.type, right) for i in right.items), "s")
            return f"({f} in {s})"
        return None

    def _inline_any(self, node: ast.BinaryCheck, left: Operand, f: str) -> str | None:
        """A check on a field holding candidates (fd.ip: client and server), true if it holds
        for one: as C-level tuple and set operations, for plain values (not networks)."""
        op, right = node.op, node.right
        if node.modifier or left.type is FieldType.IPNET:
            return None
        if isinstance(right, ast.Literal) and op in ("=", "==", "!="):
            check_op(op, left.type, node)
            value = convert(right.text, left.type, right)
            if not isinstance(value, str | int):
                return None
            c = self.bind(value, "c")
            if op == "!=":  # one candidate differs: fewer than all equal it
                return f"((v := {f}) is not None and v.count({c}) < len(v))"
            return f"((v := {f}) is not None and {c} in v)"
        if isinstance(right, ast.ListLiteral) and op in ("in", "intersects"):
            check_op(op, left.type, node)
            values = frozenset(convert(i, left.type, right) for i in right.items)
            if not all(isinstance(v, str | int) for v in values):
                return None
            return f"((v := {f}) is not None and not {self.bind(values, 's')}.isdisjoint(v))"
        return None

    def _inline_anyof(self, node: ast.BinaryCheck, left: Operand, f: str) -> str | None:
        """``startswith/endswith anyof`` as one tuple test, a short ``contains anyof`` as
        ``in`` tests behind one ``<NA>`` test (a long one stays a regex search)."""
        right = node.right
        if node.modifier != "anyof" or left.type is not FieldType.STRING:
            return None
        if not isinstance(right, ast.ListLiteral) or not right.items:
            return None
        check_op(node.op, left.type, node)
        if node.op in _INLINE_METHODS:
            t = self.bind(tuple(right.items), "c")
            return f"((v := {f}) is not None and v.{_INLINE_METHODS[node.op]}({t}))"
        if node.op == "contains" and len(right.items) <= _INLINE_CONTAINS:
            tests = " or ".join(f"{self.bind(i, 'c')} in v" for i in right.items)
            return f"((v := {f}) is not None and ({tests}))"
        return None

    # -- checks as functions of the extracted value -----------------------------------------------

    def check_fn(self, node: ast.UnaryCheck | ast.BinaryCheck, left: Operand) -> Pred:
        if isinstance(node, ast.UnaryCheck):
            if left.multi is Multi.SINGLE:
                return lambda v: v is not None
            return lambda v: bool(v)
        check_op(node.op, left.type, node)
        pred = self._static_pred(node, left.type)
        return _lift(pred, left.multi, node.op)

    def _static_pred(self, node: ast.BinaryCheck, type_: FieldType) -> Pred:
        op, right = node.op, node.right
        if isinstance(right, ast.ListRef):  # an unresolved name: a one-item list
            right = ast.ListLiteral((right.name,), right.pos)
        if isinstance(right, ast.ListLiteral):
            values = [convert(i, type_, right) for i in right.items]
            if node.modifier:
                fast = _anyof_strings(op, values) if node.modifier == "anyof" else None
                if fast is not None:
                    return fast
                return _modified(node.modifier, [predicate(op, v) for v in values])
            if op not in LIST_OPS:
                raise CompileError("R014", f"operator '{op}' needs a single value", node.pos)
            return set_predicate(op, values)
        if not isinstance(right, ast.Literal):
            raise CompileError("R014", f"operator '{op}' cannot compare with a field", node.pos)
        value = convert(right.text, type_, right)
        if op in LIST_OPS:
            return set_predicate(op, [value])
        return predicate(op, value)

    def dynamic_condition(self, node: ast.BinaryCheck, left: Operand) -> Condition | None:
        """The whole check as a function of the event when the right side is a field."""
        if not isinstance(node.right, ast.FieldRef | ast.Transform | ast.Join):
            return None
        check_op(node.op, left.type, node)
        right = compile_operand(self.source, node.right)
        op, get_left, get_right = node.op, left.extract, right.extract

        def test_one(v: Any, r: Any) -> bool:
            return dynamic(op, v, r)

        multi = left.multi

        def cond(e: Event) -> bool:
            v = get_left(e)
            r = get_right(e)
            if v is None or r is None:
                return False
            if multi is Multi.SINGLE:
                return test_one(v, r)
            if multi is Multi.LIST and op == "in":
                return bool(v) and all(test_one(x, r) for x in v)
            return any(test_one(x, r) for x in v)

        return cond

    # -- closures (fallback for very deep trees) ------------------------------------------------

    def closure(self, node: ast.Expr) -> Condition:
        if isinstance(node, ast.And):
            parts = [self.closure(c) for c in node.children]
            return lambda e: all(p(e) for p in parts)
        if isinstance(node, ast.Or):
            parts = [self.closure(c) for c in node.children]
            return lambda e: any(p(e) for p in parts)
        if isinstance(node, ast.Not):
            inner = self.closure(node.child)
            return lambda e: not inner(e)
        if isinstance(node, ast.MacroRef):
            raise CompileError("R002", f"undefined macro '{node.name}'", node.pos)
        left = compile_operand(self.source, node.left)
        if isinstance(node, ast.BinaryCheck):
            dyn = self.dynamic_condition(node, left)
            if dyn is not None:
                return dyn
        test, get = self.check_fn(node, left), left.extract
        return lambda e: test(get(e))


def _lift(pred: Pred, multi: Multi, op: str) -> Pred:
    """A predicate on one value -> on what the extractor returns (None, a value, a tuple)."""
    if multi is Multi.SINGLE:
        return lambda v: v is not None and pred(v)
    if multi is Multi.LIST and op == "in":
        return lambda v: bool(v) and all(pred(x) for x in v)

    def any_of(v: Any) -> bool:
        if v is None:
            return False
        for x in v:  # noqa: SIM110 - a loop, not any(generator): faster on 1-2 values
            if pred(x):
                return True
        return False

    return any_of


def _anyof_strings(op: str, values: list[Any]) -> Pred | None:
    """``anyof`` over string values as one C-level call (a tuple prefix test or one regex)
    instead of one predicate per item: long tunable lists on every exec stay cheap."""
    if not values or not all(isinstance(v, str) for v in values):
        return None
    if op == "startswith":
        prefixes = tuple(values)
        return lambda v: v.startswith(prefixes)
    if op == "endswith":
        suffixes = tuple(values)
        return lambda v: v.endswith(suffixes)
    if op in ("contains", "icontains"):
        flags = re.IGNORECASE if op == "icontains" else 0
        search = re.compile("|".join(map(re.escape, values)), flags).search
        return lambda v: search(v) is not None
    return None


def _modified(modifier: str, preds: list[Pred]) -> Pred:
    if modifier == "allof":
        return lambda v: bool(preds) and all(p(v) for p in preds)
    if modifier == "oneof":
        return lambda v: sum(1 for p in preds if p(v)) == 1
    return lambda v: any(p(v) for p in preds)
