"""A path-prefix discriminator for the bucket index: which rules can match a given ``fd.name``.

Most open rules can only be true for paths under a few places: ``fd.name startswith /etc/``,
``fd.directory in (/bin, /usr/bin)``, ``fd.name pmatch (/root/.ssh)``, ``fd.name glob /dev/sd*``.
Equality dispatch cannot use that, so this key sorts paths by their *longest listed prefix*:
every prefix such a check names (a literal, a ``pmatch`` path, the text before a glob's first
wildcard) is listed, and a path's class is the longest listed prefix it starts with ("" when
none, ``None`` when the event has no ``fd.name``).

Why that class is enough: if ``p`` is listed and the path starts with ``p``, the class (itself a
prefix of the path, and the longest listed one) starts with ``p`` too; and if the class starts
with ``p``, so does the path. So "the path starts with p" is decided by the class alone, for
every listed ``p``, and a rule that needs one of its prefixes can be left out of every class
that starts with none of them.

Only positive checks (and ``not fd.name != x``) give prefixes; other negations and every other
operator leave the rule in every class (``fd.directory`` is read as a prefix of ``fd.name`` only
by ``=``/``in``: its ``<NA>`` differs from the path's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mamori.core.events import Event
from mamori.rules import ast
from mamori.rules.fields.fd import _net_name

NAME = "fd.name"
DIRECTORY = "fd.directory"
_GLOB_SPECIAL = "*?["
# Path classes remembered per value; cleared when full (paths repeat: libraries, /proc, config).
CACHE_SIZE = 8192


@dataclass(frozen=True, slots=True)
class Prefixes:
    """Where a condition can be true: paths starting with one of ``items`` (None: any path),
    and, when ``na``, events without a path."""

    items: frozenset[str] | None
    na: bool

    def admits(self, cls: str | None) -> bool:
        if cls is None:
            return self.na
        if self.items is None:
            return True
        return any(cls.startswith(p) for p in self.items)


EVERYWHERE = Prefixes(None, True)
NOWHERE = Prefixes(frozenset(), False)


def _and(a: Prefixes, b: Prefixes) -> Prefixes:
    if a.items is None:
        items = b.items
    elif b.items is None:
        items = a.items
    else:  # a path starting with p and with q starts with the longer (one extends the other)
        both = ((p, q) for p in a.items for q in b.items)
        items = frozenset(max(p, q, key=len) for p, q in both if p.startswith(q) or q.startswith(p))
    return Prefixes(items, a.na and b.na)


def _or(a: Prefixes, b: Prefixes) -> Prefixes:
    items = None if a.items is None or b.items is None else a.items | b.items
    return Prefixes(items, a.na or b.na)


def _glob_prefix(pattern: str) -> str:
    cut = min((i for i in (pattern.find(c) for c in _GLOB_SPECIAL) if i >= 0), default=len(pattern))
    return pattern[:cut]


def check_prefixes(node: ast.BinaryCheck) -> frozenset[str] | None:
    """The prefixes a path must start with for this (positive) check to hold, or None."""
    left, right = node.left, node.right
    if not isinstance(left, ast.FieldRef) or left.arg is not None:
        return None
    if isinstance(right, ast.Literal):
        items: tuple[str, ...] = (right.text,)
    elif isinstance(right, ast.ListLiteral):
        items = right.items
    else:
        return None
    op, modifier = node.op, node.modifier
    if left.name == DIRECTORY:
        ok = modifier is None and op in ("=", "==", "in")
    elif left.name == NAME:
        if op == "glob" and modifier is None:
            items = tuple(_glob_prefix(i) for i in items)
        elif op == "pmatch" and modifier is None:
            items = tuple(i.rstrip("/") for i in items)
        ok = op in ("=", "==", "in", "glob", "pmatch") and modifier is None
        ok = ok or (op == "startswith" and modifier in (None, "anyof"))
    else:
        return None
    if not ok or not items or "" in items:
        return None
    return frozenset(items)


def can_be(node: ast.Expr | bool, negated: bool = False) -> Prefixes:
    """Where ``node`` can be true (``negated``: where it can be false)."""
    if isinstance(node, bool):
        return EVERYWHERE if node != negated else NOWHERE
    if isinstance(node, ast.And | ast.Or):
        parts = [can_be(c, negated) for c in node.children]
        join = _and if isinstance(node, ast.And) != negated else _or
        out = parts[0]
        for part in parts[1:]:
            out = join(out, part)
        return out
    if isinstance(node, ast.Not):
        return can_be(node.child, not negated)
    if not isinstance(node, ast.BinaryCheck):
        return EVERYWHERE
    if negated:  # only "not fd.name != x" says something: the path is x, or there is none
        items = _ne_prefix(node)
        return EVERYWHERE if items is None else Prefixes(items, True)
    items = check_prefixes(node)
    return EVERYWHERE if items is None else Prefixes(items, False)


def _ne_prefix(node: ast.BinaryCheck) -> frozenset[str] | None:
    left, right = node.left, node.right
    if node.op != "!=" or node.modifier or left != ast.FieldRef(NAME):
        return None
    if not isinstance(right, ast.Literal) or not right.text:
        return None
    return frozenset((right.text,))


def listed(trees: Sequence[ast.Expr | bool]) -> frozenset[str]:
    """Every prefix a check in ``trees`` names."""
    out: set[str] = set()
    for tree in trees:
        if isinstance(tree, bool):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.BinaryCheck):
                out |= check_prefixes(node) or _ne_prefix(node) or frozenset()
    return frozenset(out)


def decide(node: ast.Expr, cls: str | None, names: frozenset[str]) -> bool | None:
    """A check's result for every path of class ``cls``, or None when it varies."""
    if not isinstance(node, ast.BinaryCheck):
        return None
    items = check_prefixes(node)
    if items is None or not items <= names:
        return None
    if cls is None:  # no path: every such check is false
        return False
    starts = [p for p in items if cls.startswith(p)]
    if not starts:
        return False
    if node.op == "startswith" and node.left == ast.FieldRef(NAME):
        return True
    return None


class Classifier:
    """Maps an event's path to its class; remembers the answer per path (bounded)."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names
        self.lengths = sorted({len(p) for p in names}, reverse=True)
        self.cache: dict[str | None, str | None] = {None: None}

    def __call__(self, path: Any) -> str | None:
        cls = self.cache.get(path, self)
        if cls is self:
            cls = self.classify(path)
            if len(self.cache) >= CACHE_SIZE:
                self.cache.clear()
                self.cache[None] = None
            self.cache[path] = cls
        return cls  # type: ignore[return-value]

    def classify(self, path: Any) -> str | None:
        if not isinstance(path, str):
            return None
        names = self.names
        for n in self.lengths:
            if n <= len(path):
                head = path[:n]
                if head in names:
                    return head
        return ""


class PrefixKey:
    """The discriminator ``index`` uses: an event's path class, and checks decided per class."""

    text = "fd.name prefix"

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names
        classify = self.classify = Classifier(names)
        cache, miss = classify.cache, classify

        def extract(e: Event) -> str | None:
            f = e.file
            return classify(f.path if f is not None else _net_name(e))

        self.extract = extract
        # The same, inline in the generated dispatcher (the hot path: every open event).
        self.code = (
            "(x if (x := _pcache.get(y := (f.path if (f := e.file) is not None else "
            "_net_name(e)), _pmiss)) is not _pmiss else _pclassify(y))"
        )
        self.namespace = {"_pcache": cache, "_pmiss": miss, "_pclassify": classify,
                          "_net_name": _net_name}  # fmt: skip

    def classes(self) -> list[str | None]:
        return [*sorted(self.names), "", None]

    def decide(self, node: ast.Expr, values: frozenset[Any] | None) -> bool | None:
        if values is None:  # the index's "other" route: unlisted paths
            return decide(node, "", self.names)
        results = {decide(node, cls, self.names) for cls in values}
        return results.pop() if len(results) == 1 else None
