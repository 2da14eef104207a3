"""The condition syntax tree, as written (before macros and lists are resolved).

Every node carries the position where it starts in the condition text. Nodes are frozen so that a
macro's tree can be shared by every rule that references it.

    Expr   = And | Or | Not | MacroRef | UnaryCheck | BinaryCheck
    Operand (left of an operator, or right as ``val()``/a transformer)
           = FieldRef | Transform | Join
    Value  = Literal | ListLiteral | ListRef (identifier after ``in``/``oneof`` ...)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True, slots=True)
class Pos:
    """1-based line and column, and the 0-based index into the condition text."""

    line: int = 1
    col: int = 1
    idx: int = 0

    def __str__(self) -> str:
        return f"{self.line}:{self.col}"


NOPOS = Pos()


@dataclass(frozen=True, slots=True)
class FieldRef:
    name: str
    arg: str | None = None
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class Transform:
    """``tolower(x)``, ``b64(x)``, ``len(x)``, ``val(field)`` ..."""

    name: str
    operand: Operand
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class Join:
    """``join(sep, (a, b, ...))`` and ``concat((a, b, ...))`` (sep is empty)."""

    name: str
    sep: str
    items: tuple[Operand | Literal, ...]
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class Literal:
    text: str
    quoted: bool = field(default=False, compare=False)
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class ListLiteral:
    items: tuple[str, ...]
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class ListRef:
    """An identifier where a list is expected: a Falco list name, resolved by the loader."""

    name: str
    pos: Pos = field(default=NOPOS, compare=False)


Operand = Union[FieldRef, Transform, Join]  # noqa: UP007 - a runtime alias used in isinstance
Value = Union[Literal, ListLiteral, ListRef, FieldRef, Transform, Join]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class UnaryCheck:
    left: Operand
    op: str
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class BinaryCheck:
    left: Operand
    op: str
    right: Value
    # "oneof" / "anyof" / "allof" list modifier of a string operator, or None.
    modifier: str | None = None
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class MacroRef:
    name: str
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Expr, ...]
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Expr, ...]
    pos: Pos = field(default=NOPOS, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    child: Expr
    pos: Pos = field(default=NOPOS, compare=False)


Expr = Union[And, Or, Not, MacroRef, UnaryCheck, BinaryCheck]  # noqa: UP007

_BARE = re.compile(r"[^()\"'\s=,\[\]\\]+")


def quote(text: str) -> str:
    """A value as the parser reads it back: bare when safe, else double-quoted and escaped."""
    if _BARE.fullmatch(text) and text not in ("and", "or", "not"):
        return text
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\t", "\\t")
        .replace("\r", "\\r")
        .replace("\b", "\\b")
        .replace("\f", "\\f")
    )
    if escaped.endswith("\\\\"):
        # libsinsp's lexer would read the escaped backslash as escaping the closing quote;
        # "\\ " is its other spelling of one backslash.
        escaped = escaped[:-2] + "\\ "
    return f'"{escaped}"'


def operand_str(node: Operand | Literal) -> str:
    if isinstance(node, FieldRef):
        return node.name if node.arg is None else f"{node.name}[{_quote_arg(node.arg)}]"
    if isinstance(node, Transform):
        return f"{node.name}({operand_str(node.operand)})"
    if isinstance(node, Join):
        items = ", ".join(operand_str(i) for i in node.items)
        if node.name == "concat":
            return f"concat(({items}))"
        return f"join({_quote_always(node.sep)}, ({items}))"
    return _quote_always(node.text) if node.quoted else quote(node.text)


def _quote_always(text: str) -> str:
    q = quote(text)
    return q if q.startswith('"') else f'"{q}"'


def _quote_arg(arg: str) -> str:
    if arg and re.fullmatch(r"[^\]\[\"'\s]+", arg):
        return arg
    return _quote_always(arg)


def value_str(node: Value) -> str:
    if isinstance(node, ListLiteral):
        return "(" + ", ".join(quote(i) for i in node.items) + ")"
    if isinstance(node, ListRef):
        return node.name
    if isinstance(node, Literal):
        return quote(node.text)
    return operand_str(node)


def to_str(node: Expr) -> str:
    """The canonical text of a condition: it parses back to an equal tree."""
    if isinstance(node, And | Or):
        word = " and " if isinstance(node, And) else " or "
        return word.join(_child_str(c) for c in node.children)
    if isinstance(node, Not):
        return f"not {_child_str(node.child)}"
    if isinstance(node, MacroRef):
        return node.name
    if isinstance(node, UnaryCheck):
        return f"{operand_str(node.left)} {node.op}"
    mod = f"{node.modifier} " if node.modifier else ""
    return f"{operand_str(node.left)} {node.op} {mod}{value_str(node.right)}"


def _child_str(node: Expr) -> str:
    text = to_str(node)
    return f"({text})" if isinstance(node, And | Or | Not) else text


def walk(node: Expr) -> list[Expr]:
    """Every expression node, parents first (iterative: trees can be wide)."""
    out: list[Expr] = []
    stack: list[Expr] = [node]
    while stack:
        cur = stack.pop()
        out.append(cur)
        if isinstance(cur, And | Or):
            stack.extend(reversed(cur.children))
        elif isinstance(cur, Not):
            stack.append(cur.child)
    return out


def operand_fields(node: Operand | Value) -> list[FieldRef]:
    """The fields an operand or value reads."""
    if isinstance(node, FieldRef):
        return [node]
    if isinstance(node, Transform):
        return operand_fields(node.operand)
    if isinstance(node, Join):
        return [f for i in node.items if not isinstance(i, Literal) for f in operand_fields(i)]
    return []
