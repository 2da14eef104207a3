"""A second-level index inside a bucket: dispatch on the value of one discriminating field.

Most rules of a bucket can only match for a few values of some field: ``proc.name in (...)``,
``proc.name = sudo``, ``evt.is_open_write = true`` ... For a candidate field ``F`` each rule gets
the set of values of ``F`` for which it *can* be true (an over-approximation derived like the
event-type sets: ``=``/``in`` give the named values, ``!=`` every value but those and ``<NA>``,
``not`` swaps to the set for which the check can be false, ``and`` intersects, ``or`` unites,
other checks allow every value). The field that leaves the fewest rules for an unlisted value
(or, for a boolean, on average) is chosen; events are then dispatched with one dict lookup on
``F``'s value to a function holding only the rules that can match, each folded for the values
that lead there (``proc.name in (a, b)`` is decided when every such value is in, or none is).
That function may split again on another field (``depth``). Functions are built lazily, at the
first event that needs them.

Semantics are unchanged: a value reaches a function only if every rule left out is false for it,
and folding decides a check only when it has one result for every value routed there.
``<NA>`` (``None``) is a value of its own: ``not proc.name in (a)`` is true for it,
``proc.name != a`` is not.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from mamori.core.events import Event
from mamori.rules import ast, prefix
from mamori.rules.checks import convert
from mamori.rules.codegen import INLINE, INLINE_NS, Prologue
from mamori.rules.errors import CompileError
from mamori.rules.fields import FieldType, Multi
from mamori.rules.fold import fold_with
from mamori.rules.operands import compile_operand
from mamori.rules.prefix import PrefixKey

_EQ_OPS = frozenset(("=", "=="))
_IN_OPS = frozenset(("in", "intersects"))
_KEY_TYPES = frozenset((FieldType.STRING, FieldType.INT, FieldType.BOOL))
_KEY_OPS = _EQ_OPS | _IN_OPS | {"!="}

Rules = Sequence[tuple[Any, ast.Expr | bool]]
Fn = Callable[[Event], list[Any]]


@dataclass(frozen=True, slots=True)
class Values:
    """A set of field values (``None`` is ``<NA>``), finite or co-finite."""

    items: frozenset[Hashable]
    complement: bool = False

    def __contains__(self, v: object) -> bool:
        return (v in self.items) != self.complement

    def __and__(self, o: Values) -> Values:
        if not self.complement and not o.complement:
            return Values(self.items & o.items)
        if self.complement and o.complement:
            return Values(self.items | o.items, True)
        fin, co = (self, o) if not self.complement else (o, self)
        return Values(fin.items - co.items)

    def __or__(self, o: Values) -> Values:
        if not self.complement and not o.complement:
            return Values(self.items | o.items)
        if self.complement and o.complement:
            return Values(self.items & o.items, True)
        fin, co = (self, o) if not self.complement else (o, self)
        return Values(co.items - fin.items, True)


ANY = Values(frozenset(), True)


class Key:
    """A candidate discriminator: a field (with its argument) read by indexable checks."""

    def __init__(self, source: str, ref: ast.FieldRef) -> None:
        op = compile_operand(source, ref)
        self.ref = ref
        self.text = op.text
        self.type = op.type
        self.extract = op.extract
        # The key read inline in the dispatcher when codegen has a template for it.
        self.code: str | None = INLINE.get(op.text)
        self.namespace: dict[str, Any] = INLINE_NS if self.code is not None else {}
        self._cache: dict[ast.Expr, frozenset[Hashable] | None] = {}

    def operand_of(self, node: ast.Expr) -> bool:
        return isinstance(node, ast.UnaryCheck | ast.BinaryCheck) and node.left == self.ref

    def literals(self, node: ast.BinaryCheck) -> frozenset[Hashable] | None:
        """The converted right-hand values of an indexable check on this key, else None."""
        if node in self._cache:
            return self._cache[node]
        out: frozenset[Hashable] | None = None
        right = node.right
        if isinstance(right, ast.ListRef):
            right = ast.ListLiteral((right.name,), right.pos)
        try:
            if node.modifier:
                out = None
            elif node.op in _EQ_OPS or node.op == "!=":
                if isinstance(right, ast.Literal):
                    out = frozenset((convert(right.text, self.type, right),))
            elif node.op in _IN_OPS:
                if isinstance(right, ast.ListLiteral):
                    out = frozenset(convert(i, self.type, right) for i in right.items)
                elif isinstance(right, ast.Literal):
                    out = frozenset((convert(right.text, self.type, right),))
        except CompileError:
            out = None
        self._cache[node] = out
        return out

    def named(self, trees: Sequence[ast.Expr | bool]) -> set[Hashable]:
        """Every value some check on this key names, and ``<NA>``: other values are decided
        alike by every check (``=``/``in`` false, ``!=``/``exists`` true)."""
        out: set[Hashable] = {None}
        for tree in trees:
            if isinstance(tree, bool):
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.BinaryCheck) and self.operand_of(node):
                    out |= self.literals(node) or frozenset()
        return out

    def can_be(self, node: ast.Expr | bool, negated: bool = False) -> Values:
        """Values of the key for which ``node`` can be true (``negated``: can be false)."""
        if isinstance(node, bool):
            return ANY if node != negated else Values(frozenset())
        if isinstance(node, ast.And | ast.Or):
            sets = [self.can_be(c, negated) for c in node.children]
            out = sets[0]
            intersect = isinstance(node, ast.And) != negated
            for s in sets[1:]:
                out = out & s if intersect else out | s
            return out
        if isinstance(node, ast.Not):
            return self.can_be(node.child, not negated)
        if not self.operand_of(node):
            return ANY
        na: frozenset[Hashable] = frozenset((None,))
        if isinstance(node, ast.UnaryCheck):  # exists
            return Values(na) if negated else Values(na, True)
        assert isinstance(node, ast.BinaryCheck)
        lits = self.literals(node)
        if lits is None:
            return ANY
        if node.op == "!=":
            return Values(lits | na) if negated else Values(lits | na, True)
        return Values(lits, True) if negated else Values(lits)

    def decide(self, node: ast.Expr, values: frozenset[Hashable] | None) -> bool | None:
        """The check's result when the key's value is one of ``values`` (None: any value
        not named by this bucket's checks, and not ``<NA>``); None when it varies."""
        if not self.operand_of(node):
            return None
        if isinstance(node, ast.UnaryCheck):
            results = {True} if values is None else {v is not None for v in values}
        else:
            assert isinstance(node, ast.BinaryCheck)
            lits = self.literals(node)
            if lits is None:
                return None
            if values is None:  # an unnamed value: in no literal set, different from each
                return node.op == "!="
            if node.op == "!=":
                results = {v is not None and v not in lits for v in values}
            else:
                results = {v is not None and v in lits for v in values}
        return results.pop() if len(results) == 1 else None


def keys(source: str, trees: Sequence[ast.Expr | bool]) -> list[tuple[Key, set[int]]]:
    """Candidate discriminators (single-valued string/int/bool fields in indexable checks),
    each with the indices of the trees that read it."""
    found: dict[ast.FieldRef, tuple[Key, set[int]] | None] = {}
    entry: tuple[Key, set[int]] | None
    for i, tree in enumerate(trees):
        if isinstance(tree, bool):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.BinaryCheck) or not isinstance(node.left, ast.FieldRef):
                continue
            if node.modifier or node.op not in _KEY_OPS:
                continue
            if node.left in found:
                entry = found[node.left]
            else:
                entry = found[node.left] = _key(source, node.left)
            if entry is not None:
                entry[1].add(i)
    return [e for e in found.values() if e is not None]


def _key(source: str, ref: ast.FieldRef) -> tuple[Key, set[int]] | None:
    try:
        op = compile_operand(source, ref)
    except CompileError:
        return None
    if op.multi is not Multi.SINGLE or op.type not in _KEY_TYPES:
        return None
    return Key(source, ref), set()


@dataclass(slots=True)
class Plan:
    key: Key | PrefixKey
    groups: list[tuple[frozenset[Hashable], list[int]]]  # named values -> rules that can match
    other: list[int]  # rules that can match an unnamed value
    cost: float


def plan(source: str, rules: Rules) -> Plan | None:
    """The best key to split ``rules`` on, or None when no key leaves out any rule."""
    trees = [t for _, t in rules]
    best: Plan | None = None
    for key, present in keys(source, trees):
        sets = [key.can_be(t) if i in present else ANY for i, t in enumerate(trees)]
        named = key.named([trees[i] for i in present])
        by_subset: dict[tuple[int, ...], set[Hashable]] = {}
        for v in named:
            subset = tuple(i for i, s in enumerate(sets) if v in s)
            by_subset.setdefault(subset, set()).add(v)
        other = [i for i, s in enumerate(sets) if s.complement]
        # The worst case over the values events can carry (<NA> aside): a field every rule
        # names (fd.typechar = f) does not help when real events all carry the named value.
        sizes = [len(sub) for sub, vals in by_subset.items() if vals != {None}]
        cost = float(max([len(other), *sizes]))
        if cost >= len(rules):
            continue
        if best is None or cost < best.cost:
            groups = [(frozenset(vals), list(sub)) for sub, vals in by_subset.items()]
            best = Plan(key, groups, other, cost)
    by_prefix = prefix_plan(trees)
    if by_prefix is not None and (best is None or by_prefix.cost < best.cost):
        return by_prefix
    return best


def prefix_plan(trees: Sequence[ast.Expr | bool]) -> Plan | None:
    """The split on the path's longest listed prefix (see ``prefix``), if it leaves out a rule.
    ``other`` holds the rules for the unlisted paths (class "")."""
    names = prefix.listed(trees)
    if not names:
        return None
    key = PrefixKey(names)
    sets = [prefix.can_be(t) for t in trees]
    by_subset: dict[tuple[int, ...], set[Hashable]] = {}
    for cls in key.classes():
        subset = tuple(i for i, s in enumerate(sets) if s.admits(cls))
        by_subset.setdefault(subset, set()).add(cls)
    cost = float(max(len(sub) for sub, vals in by_subset.items() if vals != {None}))
    if cost >= len(trees):
        return None
    other: list[int] = []
    groups: list[tuple[frozenset[Hashable], list[int]]] = []
    for sub, vals in by_subset.items():
        if "" in vals:  # unlisted paths: the route the dispatch falls through to
            other = list(sub)
            vals.discard("")
        if vals:
            groups.append((frozenset(vals), list(sub)))
    return Plan(key, groups, other, cost)


def build(
    source: str,
    rules: Rules,
    leaf: Callable[[Rules, Prologue | None], Fn],
    errors: tuple[type[Exception], ...],
    eager: bool = False,
) -> Fn:
    """A function evaluating ``rules``: ``leaf(rules)``, or, when a key leaves rules out, the
    code of the key's most common route with the dispatch to the other routes as its prologue
    (one call less for most events). The most common route: values no check names, or, for
    paths, the class of the root when a rule lists it (``fd.directory = /``), as every
    absolute path starts with it. Other routes are built at their first event, or now if
    ``eager``."""
    rules = [(r, t) for r, t in rules if t is not False]
    p = plan(source, rules) if len(rules) > 1 else None
    if p is None:
        return leaf(rules, None)
    key = p.key

    def part(indices: list[int], values: frozenset[Hashable] | None) -> Rules:
        return [
            (rules[i][0], fold_with(t, lambda n: key.decide(n, values)))
            if not isinstance(t := rules[i][1], bool)
            else rules[i]
            for i in indices
        ]

    def route(indices: list[int], values: frozenset[Hashable] | None) -> Callable[[], Fn]:
        return lambda: leaf(part(indices, values), None)

    root = (i for i, (values, _) in enumerate(p.groups) if "/" in values)
    here = next(root, -1) if isinstance(key, PrefixKey) else -1
    marker = object()  # the event stays in this function
    table: dict[Hashable, Any] = {}
    for i, (values, indices) in enumerate(p.groups):
        if i == here:
            target: Any = marker
        elif eager:
            target = route(indices, values)()
        else:
            target = _lazy(route(indices, values), table, values)
        for v in values:
            table[v] = target
    ns: dict[str, Any] = {"_get": table.get, "_ERR": errors, "_xk": key.extract, "_HERE": marker}
    ns.update(key.namespace)
    if here < 0:
        ns["_OTHER"] = marker
    else:
        other = route(p.other, None)
        ns["_OTHER"] = other() if eager else _lazy_name(other, ns, "_OTHER")
    ns["_fallback"] = _lazy_name(lambda: leaf(rules, None), ns, "_fallback")
    lines = (
        "    try:",
        f"        fn = _get({key.code or '_xk(e)'}, _OTHER)",
        "    except _ERR:",  # the key cannot be read: every rule, errors counted there
        "        return _fallback(e)",
        "    if fn is not _HERE:",
        "        return fn(e)",
    )
    if here < 0:
        return leaf(part(p.other, None), Prologue(lines, ns))
    return leaf(part(p.groups[here][1], p.groups[here][0]), Prologue(lines, ns))


def _lazy_name(make: Callable[[], Fn], ns: dict[str, Any], name: str) -> Fn:
    """A stub for ``ns[name]``: builds the function at its first call and takes its place."""

    def stub(e: Event) -> list[Any]:
        fn = ns[name] = make()
        return fn(e)

    return stub


def _lazy(make: Callable[[], Fn], table: dict[Hashable, Any], values: frozenset[Hashable]) -> Fn:
    def stub(e: Event) -> list[Any]:
        fn = make()
        for v in values:
            table[v] = fn
        return fn(e)

    return stub
