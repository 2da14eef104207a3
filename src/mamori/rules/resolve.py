"""Resolution: macros expanded, lists substituted and exceptions added, as Falco does them.

* List items naming another list are replaced by that list's items; quoted items
  (``'"sh -c uname -p"'``) lose their quotes.
* A macro reference is replaced by the macro's (already expanded) tree; a macro that refers to
  itself, directly or not, is an error.
* Inside ``(a, b)`` list values, and for an identifier after ``in``/``intersects``/``pmatch``, a
  list name is replaced by the list's items.
* Each exception becomes ``and not (...)``: with ``fields: [f1, f2]`` one ``(f1 c1 v1 and f2 c2
  v2)`` per value tuple, ORed; with ``fields: f`` one ``f comps (values)`` check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mamori.rules import ast
from mamori.rules.errors import CompileError, ConditionParseError
from mamori.rules.loader import ExceptionDef, ListDef
from mamori.rules.parser import ALL_OPERATORS, LIST_OPS, parse

_MAX_LIST_DEPTH = 64


def resolve_lists(lists: Mapping[str, ListDef]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}

    def expand(name: str, depth: int) -> tuple[str, ...]:
        if name in out:
            return out[name]
        items: list[str] = []
        for item in lists[name].items:
            if item in lists and item != name and depth < _MAX_LIST_DEPTH:
                items.extend(expand(item, depth + 1))
            else:
                items.append(unquote(item))
        out[name] = tuple(items)
        return out[name]

    for name in lists:
        expand(name, 0)
    return out


def unquote(item: str) -> str:
    """A list item written with quotes (for old textual substitution) without them."""
    if len(item) >= 2 and item[0] == item[-1] and item[0] in "'\"":
        try:
            tree = parse(f"x.x = {item}")
        except ConditionParseError:
            return item[1:-1]
        if isinstance(tree, ast.BinaryCheck) and isinstance(tree.right, ast.Literal):
            return tree.right.text
        return item[1:-1]
    return item


@dataclass(slots=True)
class Resolver:
    """Expands macro references and substitutes lists; records what was used."""

    lists: Mapping[str, tuple[str, ...]]
    macros: Mapping[str, ast.Expr | None]  # parsed, not yet expanded; None: syntax error
    used_macros: set[str] = field(default_factory=set)
    used_lists: set[str] = field(default_factory=set)
    _expanded: dict[str, ast.Expr] = field(default_factory=dict)

    def expand(self, node: ast.Expr, stack: tuple[str, ...] = ()) -> ast.Expr:
        if isinstance(node, ast.And | ast.Or):
            return type(node)(tuple(self.expand(c, stack) for c in node.children), node.pos)
        if isinstance(node, ast.Not):
            return ast.Not(self.expand(node.child, stack), node.pos)
        if isinstance(node, ast.MacroRef):
            return self.macro(node, stack)
        if isinstance(node, ast.BinaryCheck):
            right = self.value(node.right, node.op, node.modifier)
            if right is not node.right:
                return ast.BinaryCheck(node.left, node.op, right, node.modifier, node.pos)
        return node

    def macro(self, ref: ast.MacroRef, stack: tuple[str, ...]) -> ast.Expr:
        name = ref.name
        if name in stack:
            chain = " -> ".join((*stack[stack.index(name) :], name))
            raise CompileError("R010", f"macro cycle: {chain}", ref.pos)
        if name not in self.macros:
            raise CompileError("R002", f"undefined macro '{name}'", ref.pos)
        tree = self.macros[name]
        if tree is None:
            raise CompileError("R003", f"in macro '{name}': syntax error", ref.pos)
        self.used_macros.add(name)
        done = self._expanded.get(name)
        if done is None:
            try:
                done = self.expand(tree, (*stack, name))
            except CompileError as exc:
                if exc.code == "R010":
                    raise  # a cycle is reported by each macro in it
                # The position is inside the macro; point at the reference instead.
                raise CompileError(exc.code, f"in macro '{name}': {exc.message}", ref.pos) from None
            self._expanded[name] = done
        return done

    def value(self, value: ast.Value, op: str, modifier: str | None) -> ast.Value:
        if isinstance(value, ast.ListLiteral):
            if not any(i in self.lists for i in value.items):
                return value
            items: list[str] = []
            for item in value.items:
                if item in self.lists:
                    self.used_lists.add(item)
                    items.extend(self.lists[item])
                else:
                    items.append(item)
            return ast.ListLiteral(tuple(items), value.pos)
        if isinstance(value, ast.ListRef) and (op in LIST_OPS or modifier):
            if value.name in self.lists:
                self.used_lists.add(value.name)
                return ast.ListLiteral(self.lists[value.name], value.pos)
            return ast.ListLiteral((value.name,), value.pos)
        return value


def with_exceptions(cond: ast.Expr, exceptions: list[ExceptionDef]) -> ast.Expr:
    """``cond and not (exc1) and not (exc2) ...``; raise CompileError (R011) on a bad one."""
    parts = [cond]
    for exc in exceptions:
        expr = exception_expr(exc)
        if expr is not None:
            parts.append(ast.Not(expr, cond.pos))
    return cond if len(parts) == 1 else ast.And(tuple(parts), cond.pos)


def exception_expr(exc: ExceptionDef) -> ast.Expr | None:
    if not exc.values:
        return None
    if isinstance(exc.fields, str):
        comp = exc.comps if isinstance(exc.comps, str) else "in"
        _check_comp(exc, comp)
        left = _field(exc, exc.fields)
        if comp in LIST_OPS:
            return ast.BinaryCheck(left, comp, ast.ListLiteral(_texts(exc, exc.values)))
        singles = [ast.BinaryCheck(left, comp, ast.Literal(v)) for v in _texts(exc, exc.values)]
        return _any(singles)
    fields = exc.fields or []
    comps = exc.comps if isinstance(exc.comps, list) else ["="] * len(fields)
    if len(comps) != len(fields):
        raise CompileError("R011", f"exception '{exc.name}': {len(fields)} fields but "
                           f"{len(comps)} comps")  # fmt: skip
    lefts = [_field(exc, f) for f in fields]
    for comp in comps:
        _check_comp(exc, comp)
    alternatives: list[ast.Expr] = []
    for value in exc.values:
        if not isinstance(value, list) or len(value) != len(fields):
            raise CompileError("R011", f"exception '{exc.name}': each value must be a list of "
                               f"{len(fields)} item(s), got {value!r}")  # fmt: skip
        checks: list[ast.Expr] = [
            ast.BinaryCheck(left, comp, _exc_value(exc, comp, v))
            for left, comp, v in zip(lefts, comps, value, strict=True)
        ]
        alternatives.append(checks[0] if len(checks) == 1 else ast.And(tuple(checks)))
    return _any(alternatives)


def _any(items: list[ast.BinaryCheck] | list[ast.Expr]) -> ast.Expr:
    exprs: tuple[ast.Expr, ...] = tuple(items)
    return exprs[0] if len(exprs) == 1 else ast.Or(exprs)


def _exc_value(exc: ExceptionDef, comp: str, value: object) -> ast.Value:
    if comp in LIST_OPS:
        items = value if isinstance(value, list) else [value]
        return ast.ListLiteral(_texts(exc, items))
    if isinstance(value, list | dict) or value is None:
        raise CompileError("R011", f"exception '{exc.name}': '{comp}' needs a single value")
    return ast.Literal(_scalar(value))


def _texts(exc: ExceptionDef, values: list[object]) -> tuple[str, ...]:
    out = []
    for v in values:
        if isinstance(v, list | dict) or v is None:
            raise CompileError("R011", f"exception '{exc.name}': expected scalar values")
        out.append(unquote(_scalar(v)))
    return tuple(out)


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_comp(exc: ExceptionDef, comp: str) -> None:
    if comp not in ALL_OPERATORS or comp == "exists":
        raise CompileError("R011", f"exception '{exc.name}': unknown comparison '{comp}'")


def _field(exc: ExceptionDef, text: str) -> ast.Operand:
    try:
        tree = parse(f"{text} exists")
    except ConditionParseError:
        tree = None
    if not isinstance(tree, ast.UnaryCheck):
        raise CompileError("R011", f"exception '{exc.name}': '{text}' is not a field")
    return tree.left
