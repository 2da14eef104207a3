"""Condition parser following libsinsp's filter grammar (hand-written, see docs/decisions).

Grammar (blanks are ' ', \\t, \\b, \\r, \\n; keywords are matched as prefixes, as libsinsp does)::

    Expr        := OrExpr
    OrExpr      := AndExpr ('or' (blank AndExpr | '(' Embedded))*
    AndExpr     := NotExpr ('and' (blank NotExpr | '(' Embedded))*
    NotExpr     := ('not' blank+)* ('not(' Embedded | Check)
    Embedded    := OrExpr ')'
    Check       := '(' Embedded
                 | Operand ('exists' | NumOp NumValue | StrOp StrValue | ListOp ListValue)
                 | Identifier                                   -- a macro reference
    Operand     := FieldName ('[' (Quoted | ArgBare) ']')?
                 | Transformer '(' Operand ')'                  -- tolower toupper b64 basename len
                 | 'join(' Quoted ',' '(' Items? ')' ')'  |  'concat(' '(' Items? ')' ')'
    Items       := Item (',' Item)*;  Item := Operand | Quoted | Number
    NumOp       := '<=' | '<' | '>=' | '>'
    StrOp       := '==' | '=' | '!=' | ('glob' | 'iglob' | 'contains' | 'icontains' | 'bcontains'
                   | 'startswith' | 'bstartswith' | 'endswith' | 'regex') blank
    ListOp      := 'intersects' | 'in' | 'pmatch'
    NumValue    := 'val(' FieldRef ')' | Operand | HexNumber | Number
    StrValue    := blank ('oneof'|'anyof'|'allof') blank+ ListValue   -- list modifier
                 | 'val(' FieldRef ')' | Operand | Quoted | Bare
    ListValue   := '(' (Quoted|Bare) (',' (Quoted|Bare))* ')' | '(' ')' | 'val(' ... | Operand
                 | Identifier                                   -- a list name

Nesting is capped (``MAX_DEPTH``, 100 like libsinsp) so hostile input cannot exhaust the stack.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable

from mamori.rules import ast
from mamori.rules.errors import ConditionParseError

MAX_DEPTH = 100

_BLANKS = " \t\b\r\n"
_RE_NOT_BLANK = re.compile(r"not[ \t\b\r\n\v\f]+")
_RE_IDENT = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*")
_RE_FIELD = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+")
_RE_ARG_BARE = re.compile(r"[^\]\[\"' \t\b\r\n\v\f]+")
_RE_HEX = re.compile(r"0[xX][0-9a-zA-Z]+")
_RE_NUM = re.compile(r"[+\-]?[0-9]+\.?[0-9]*(?:[eE][+\-][0-9]+)?")
_RE_BARE = re.compile(r"[^()\"' \t\b\r\n\v\f=,]+")
_RE_MODIFIER = re.compile(r"(oneof|anyof|allof)[ \t\b\r\n]+")
_RE_WORD_OP = re.compile(
    r"(glob|iglob|contains|icontains|bcontains|startswith|bstartswith|endswith|regex)[ \t\b\r\n]"
)

NUM_OPS = ("<=", "<", ">=", ">")
SYMBOL_STR_OPS = ("==", "=", "!=")
WORD_STR_OPS = (
    "glob",
    "iglob",
    "contains",
    "icontains",
    "bcontains",
    "startswith",
    "bstartswith",
    "endswith",
    "regex",
)
LIST_OPS = ("intersects", "in", "pmatch")
UNARY_OPS = ("exists",)
TRANSFORMERS = ("tolower", "toupper", "b64", "basename", "len")
MULTI_TRANSFORMERS = ("join", "concat")
ALL_OPERATORS = (*UNARY_OPS, *NUM_OPS, *SYMBOL_STR_OPS, *WORD_STR_OPS, *LIST_OPS)
_KEYWORDS = frozenset(("and", "or", "not"))


def parse(text: str, max_depth: int = MAX_DEPTH) -> ast.Expr:
    """Parse a condition; raise ``ConditionParseError`` with the position of the problem."""
    return _Parser(text, max_depth).parse()


class _Parser:
    def __init__(self, text: str, max_depth: int) -> None:
        self.text = text
        self.i = 0
        self.depth = 0
        self.max_depth = max_depth
        self.last = ""
        # Offsets just after each line break, for line:col of any index.
        self._breaks = [m.end() for m in re.finditer(r"\r\n?|\n", text)]

    # -- positions and errors -------------------------------------------------------------------

    def pos(self, idx: int | None = None) -> ast.Pos:
        at = self.i if idx is None else idx
        line = bisect.bisect_right(self._breaks, at)
        start = self._breaks[line - 1] if line else 0
        return ast.Pos(line + 1, at - start + 1, at)

    def fail(self, message: str, idx: int | None = None) -> ConditionParseError:
        return ConditionParseError(message, self.pos(idx))

    def enter(self) -> None:
        self.depth += 1
        if self.depth >= self.max_depth:
            raise self.fail(f"exceeded max depth limit of {self.max_depth}")

    # -- lexing helpers -------------------------------------------------------------------------

    def blank(self) -> bool:
        start = self.i
        text, n = self.text, len(self.text)
        while self.i < n and text[self.i] in _BLANKS:
            self.i += 1
        return self.i > start

    def lit(self, s: str) -> bool:
        if self.text.startswith(s, self.i):
            self.last = s
            self.i += len(s)
            return True
        return False

    def rx(self, pattern: re.Pattern[str]) -> bool:
        m = pattern.match(self.text, self.i)
        if m is None or m.end() == self.i:
            return False
        self.last = m.group(0)
        self.i = m.end()
        return True

    def quoted(self) -> bool:
        """A '...' or "..." string; an unescaped delimiter ends it (libsinsp's rule)."""
        if self.i >= len(self.text) or self.text[self.i] not in "'\"":
            return False
        delim = self.text[self.i]
        j = self.i
        prev = "\\"  # so that the opening quote itself is skipped
        while j < len(self.text):
            c = self.text[j]
            if c == delim and prev != "\\":
                raw = self.text[self.i : j + 1]
                self.last = _unescape(raw, self.pos(self.i))
                self.i = j + 1
                return True
            prev = c
            j += 1
        return False

    # -- grammar --------------------------------------------------------------------------------

    def parse(self) -> ast.Expr:
        if not self.text:
            raise self.fail("filter input string is empty")
        res = self.parse_or()
        if self.i != len(self.text):
            raise self.fail(f"unexpected token after '{self.last}', expecting 'or', 'and'")
        return res

    def parse_or(self) -> ast.Expr:
        return self._parse_bool("or", self.parse_and, ast.Or)

    def parse_and(self) -> ast.Expr:
        return self._parse_bool("and", self.parse_not, ast.And)

    def _parse_bool(
        self, word: str, sub: Callable[[], ast.Expr], node: type[ast.And | ast.Or]
    ) -> ast.Expr:
        self.enter()
        self.blank()
        start = self.pos()
        children = [sub()]
        self.blank()
        while self.lit(word):
            if self.blank():
                children.append(sub())
            elif self.lit("("):
                children.append(self.parse_embedded())
            else:
                raise self.fail(f"expected blank or '(' after '{word}'")
            self.blank()
        self.depth -= 1
        return children[0] if len(children) == 1 else node(tuple(children), start)

    def parse_not(self) -> ast.Expr:
        self.enter()
        self.blank()
        start = self.pos()
        negate = False
        while self.rx(_RE_NOT_BLANK):
            negate = not negate
        if self.lit("not("):
            negate = not negate
            child = self.parse_embedded()
        else:
            child = self.parse_check()
        self.depth -= 1
        return ast.Not(child, start) if negate else child

    def parse_embedded(self) -> ast.Expr:
        self.enter()
        self.blank()
        child = self.parse_or()
        self.blank()
        if not self.lit(")"):
            raise self.fail("expected a ')' token")
        self.depth -= 1
        return child

    def parse_check(self) -> ast.Expr:
        self.enter()
        self.blank()
        start = self.pos()
        if self.lit("("):
            res = self.parse_embedded()
        elif (left := self.try_operand(allow_val=False)) is not None:
            res = self.parse_condition(left, start)
        elif self.rx(_RE_IDENT):
            res = ast.MacroRef(self.last, start)
        else:
            raise self.fail("expected a '(' token, a field check, or an identifier")
        self.depth -= 1
        return res

    def try_operand(self, allow_val: bool, allow_field: bool = True) -> ast.Operand | None:
        """A field, a transformer over an operand, or (as a value) ``val(field)``.

        As a value (``allow_val``) a plain field name is a bare string, as in libsinsp.
        """
        start = self.i
        if allow_val and self.lit("val("):
            self.blank()
            field_start = self.i
            if not self.rx(_RE_FIELD):
                raise self.fail("expected a field within 'val' transformer")
            ref = self.field_remainder(self.last, field_start)
            self.close_transformer()
            return ast.Transform("val", ref, self.pos(start))
        for name in TRANSFORMERS:
            if self.lit(name + "("):
                self.enter()
                self.blank()
                inner = self.try_operand(allow_val=False)
                if inner is None:
                    raise self.fail("expected a field or a nested valid transformer")
                self.close_transformer()
                self.depth -= 1
                return ast.Transform(name, inner, self.pos(start))
        for name in MULTI_TRANSFORMERS:
            if self.lit(name + "("):
                return self.parse_multi(name, start)
        if allow_field and self.rx(_RE_FIELD):
            return self.field_remainder(self.last, start)
        return None

    def close_transformer(self) -> None:
        self.blank()
        if not self.lit(")"):
            raise self.fail("expected a ')' token closing the transformer")

    def field_remainder(self, name: str, start: int) -> ast.FieldRef:
        arg: str | None = None
        if self.lit("["):
            if not self.quoted() and not self.rx(_RE_ARG_BARE):
                raise self.fail("expected a valid field argument: a quoted string or a bare string")
            arg = self.last
            if not self.lit("]"):
                raise self.fail("expected a ']' token")
        return ast.FieldRef(name, arg, self.pos(start))

    def parse_multi(self, name: str, start: int) -> ast.Join:
        self.enter()
        self.blank()
        sep = ""
        if name == "join":
            if not self.quoted():
                raise self.fail("expected a quoted separator string in 'join'")
            sep = self.last
            self.blank()
            if not self.lit(","):
                raise self.fail("expected ',' after the 'join' separator")
            self.blank()
        if not self.lit("("):
            raise self.fail(f"expected a '(' list of values in '{name}'")
        items: list[ast.Operand | ast.Literal] = []
        self.blank()
        if not self.lit(")"):
            items.append(self.parse_multi_item())
            self.blank()
            while self.lit(","):
                self.blank()
                items.append(self.parse_multi_item())
                self.blank()
            if not self.lit(")"):
                raise self.fail("expected a ')' token closing the value list")
        self.close_transformer()
        self.depth -= 1
        return ast.Join(name, sep, tuple(items), self.pos(start))

    def parse_multi_item(self) -> ast.Operand | ast.Literal:
        at = self.i
        if self.quoted():
            return ast.Literal(self.last, True, self.pos(at))
        operand = self.try_operand(allow_val=False)
        if operand is not None:
            return operand
        if self.rx(_RE_HEX) or self.rx(_RE_NUM):
            return ast.Literal(self.last, False, self.pos(at))
        raise self.fail("expected a field, a transformer, a quoted string or a number")

    def parse_condition(self, left: ast.Operand, start: ast.Pos) -> ast.Expr:
        self.enter()
        self.blank()
        if self.lit("exists"):
            self.depth -= 1
            return ast.UnaryCheck(left, "exists", start)
        res: ast.Expr
        if (op := self.lex_num_op()) is not None:
            res = ast.BinaryCheck(left, op, self.parse_num_value(), None, start)
        elif (op := self.lex_str_op()) is not None:
            had_blank = self.blank() or op in WORD_STR_OPS
            modifier, value = self.parse_str_value(had_blank)
            res = ast.BinaryCheck(left, op, value, modifier, start)
        elif (op := self.lex_list_op()) is not None:
            res = ast.BinaryCheck(left, op, self.parse_list_value(), None, start)
        else:
            ops = ", ".join(f"'{o}'" for o in ALL_OPERATORS)
            raise self.fail(f"expected a valid check operator: one of {ops}")
        self.depth -= 1
        return res

    def lex_num_op(self) -> str | None:
        for op in NUM_OPS:
            if self.lit(op):
                return op
        return None

    def lex_str_op(self) -> str | None:
        for op in SYMBOL_STR_OPS:
            if self.lit(op):
                return op
        if self.rx(_RE_WORD_OP):
            return self.last[:-1]
        return None

    def lex_list_op(self) -> str | None:
        for op in LIST_OPS:
            if self.lit(op):
                return op
        return None

    def parse_num_value(self) -> ast.Value:
        self.blank()
        at = self.i
        operand = self.try_operand(allow_val=True, allow_field=False)
        if operand is not None:
            return operand
        if self.rx(_RE_HEX) or self.rx(_RE_NUM):
            return ast.Literal(self.last, False, self.pos(at))
        raise self.fail("expected a number value or a field with a valid transformer")

    def parse_str_value(self, had_blank: bool) -> tuple[str | None, ast.Value]:
        at = self.i
        if had_blank and self.rx(_RE_MODIFIER):
            modifier = self.last.rstrip(_BLANKS)
            target = self.try_modifier_target()
            if target is not None:
                return modifier, target
            self.i = at  # not a modifier after all: "oneof" is a plain bare string
        operand = self.try_operand(allow_val=True, allow_field=False)
        if operand is not None:
            return None, operand
        if self.quoted():
            return None, ast.Literal(self.last, True, self.pos(at))
        if self.rx(_RE_BARE):
            return None, ast.Literal(self.last, False, self.pos(at))
        raise self.fail("expected a string value or a field with a valid transformer")

    def try_modifier_target(self) -> ast.Value | None:
        at = self.i
        if self.text.startswith("(", self.i):
            return self.parse_list_value()
        m = _RE_IDENT.match(self.text, self.i)
        if m is None or m.group(0) in _KEYWORDS:
            return None
        self.i = m.end()
        return ast.ListRef(m.group(0), self.pos(at))

    def parse_list_value(self) -> ast.Value:
        self.blank()
        at = self.i
        if self.lit("("):
            items: list[str] = []
            self.blank()
            if self.plain_value():
                items.append(self.last)
                self.blank()
                while self.lit(","):
                    self.blank()
                    if not self.plain_value():
                        raise self.fail("expected a string value")
                    items.append(self.last)
                    self.blank()
            if not self.lit(")"):
                raise self.fail("expected a ')' token")
            return ast.ListLiteral(tuple(items), self.pos(at))
        operand = self.try_operand(allow_val=True, allow_field=False)
        if operand is not None:
            return operand
        if self.rx(_RE_IDENT):
            return ast.ListRef(self.last, self.pos(at))
        raise self.fail("expected a list, an identifier, or a field with a valid transformer")

    def plain_value(self) -> bool:
        return self.quoted() or self.rx(_RE_BARE)


_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "\\": "\\", " ": "\\", "/": "/"}


def _unescape(raw: str, pos: ast.Pos) -> str:
    """Undo escapes in a quoted string (with its quotes), as libsinsp does.

    ``\\ `` keeps the backslash (libsinsp tolerates it for old rules); an escaped quote must be the
    delimiter; any other escape is an error.
    """
    delim = raw[0]
    out: list[str] = []
    escaped = False
    for c in raw[1:-1]:
        if not escaped:
            if c == "\\":
                escaped = True
            else:
                out.append(c)
            continue
        escaped = False
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif c in "'\"":
            if c != delim:
                raise ConditionParseError(f"invalid \\{c} escape in {delim}-quoted string", pos)
            out.append(c)
        else:
            raise ConditionParseError(f"unsupported string escape sequence: \\{c}", pos)
    return "".join(out)
