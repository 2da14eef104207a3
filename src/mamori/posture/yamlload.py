"""A line-tracking YAML/JSON reader: documents as plain data plus the position of every node.

Each ``---`` document is parsed on its own, so one broken document is reported (file:line:col)
and the others are still read. JSON goes through the same loader (JSON is YAML), with a plain
``json`` fallback for the odd file libyaml refuses.
"""

from __future__ import annotations

import bisect
import json
import operator
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from mamori.posture.model import (
    Diagnostic,
    DiagnosticLevel,
    FieldPath,
    LazyMarks,
    Location,
    Manifest,
    Position,
)

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DOC_MARKER = re.compile(r"^---(?:[ \t][^\n]*)?\r*$", re.MULTILINE)
_HELM_SOURCE = re.compile(r"^# Source: (.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One ``---`` document of a stream and the line it starts on."""

    text: str
    first_line: int  # 0-based line of the chunk in the file


def split_documents(text: str) -> list[Chunk]:
    """Cut a YAML stream at its ``---`` markers, keeping each piece's line offset."""
    chunks: list[Chunk] = []
    start = start_line = line = counted = 0
    for found in _DOC_MARKER.finditer(text):  # the regex engine scans; Python sees markers only
        pos = found.start()
        if pos == 0:
            continue
        line += text.count("\n", counted, pos)
        counted = pos
        chunks.append(Chunk(text[start : pos - 1], start_line))  # without the "\n" before it
        start, start_line = pos, line
    chunks.append(Chunk(text[start:], start_line))
    return chunks


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
# Scalars that are not strings (ints, bools, nulls, floats) by (tag, text): immutable, shared.
_SCALARS: dict[tuple[str, str], Any] = {}
_RESOLVED: dict[str, str] = {}
_CACHE_MAX = 1 << 16
_MappingNode, _SequenceNode, _ScalarNode = yaml.MappingNode, yaml.SequenceNode, yaml.ScalarNode


class _SlowPath(Exception):
    """The document needs PyYAML's full constructor (anchors, merge keys, rare tags)."""


class _FastLoader(_Loader):  # type: ignore[valid-type,misc]
    """libyaml's loader with the implicit-tag resolution of plain scalars memoised.

    PyYAML resolves every plain scalar by running its regexes in Python; manifests repeat the
    same few hundred words (keys, ``true``, ``RuntimeDefault``), so a dict lookup answers most.
    """

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        # As BaseResolver.resolve (no path resolvers in a SafeLoader), memoised for plain scalars.
        if kind is _ScalarNode:
            if not implicit[0]:
                return _STR
            tag = _RESOLVED.get(value)
            if tag is None:
                tag = str(super().resolve(kind, value, implicit))
                if len(_RESOLVED) < _CACHE_MAX:
                    _RESOLVED[value] = tag
            return tag
        return _SEQ if kind is _SequenceNode else _MAP

    # No path resolvers, so these do nothing; libyaml's composer calls both for every node
    # (~120,000 calls in a 500-file scan). Built-in callables that take the same arguments
    # and do nothing of consequence are called without a Python frame: ~20% of composing.
    # (A builtin is not a descriptor: ``self.ascend_resolver()`` calls ``tuple()``.)
    descend_resolver = operator.is_  # (current_node, current_index) -> bool, ignored
    ascend_resolver = tuple  # () -> (), ignored


def _build(node: yaml.Node, loader: yaml.SafeLoader, shared: dict[int, Any] | None) -> Any:
    """Plain data from a node tree, without PyYAML's generic (and slow) constructor machinery.

    Strings, maps and lists are built directly; other scalars go through PyYAML's constructors
    once per distinct text. ``shared`` (given when the document has anchors) makes an alias the
    same object as its anchor, as PyYAML does, so alias bombs cost nothing. Anything unusual
    (merge keys, rare tags, recursive aliases) raises ``_SlowPath``.
    """
    tag = node.tag
    if tag == _STR:
        return node.value
    if shared is not None:
        done = shared.get(id(node), _MISSING)
        if done is _BUSY:
            raise _SlowPath  # a recursive alias
        if done is not _MISSING:
            return done
        shared[id(node)] = _BUSY
    if tag == _MAP:
        out: Any = {}
        for knode, vnode in node.value:
            key = knode.value if knode.tag == _STR else _build(knode, loader, shared)
            try:
                out[key] = _build(vnode, loader, shared)
            except TypeError:  # an unhashable key: let PyYAML locate the error
                raise _SlowPath from None
    elif tag == _SEQ:
        out = [_build(item, loader, shared) for item in node.value]
    elif isinstance(node, yaml.ScalarNode) and tag.startswith("tag:yaml.org,2002:"):
        key = (tag, node.value)
        out = _SCALARS.get(key, _MISSING)
        if out is _MISSING:
            if not tag.endswith((":int", ":bool", ":null", ":float")):
                raise _SlowPath
            out = loader.construct_object(node)
            if len(_SCALARS) < _CACHE_MAX:
                _SCALARS[key] = out
    else:
        raise _SlowPath
    if shared is not None:
        shared[id(node)] = out
    return out


_MISSING, _BUSY = object(), object()


class NodeMarks(LazyMarks):
    """Positions read from the node tree on demand (most nodes are never asked for).

    ``marks[path]`` is the position of the mapping key (for a key) or of the item (for a list
    item); ``marks[()]`` is where the object starts.
    """

    __slots__ = ("_memo", "_node", "_offset", "_root")

    def __init__(self, node: yaml.Node, offset: int, root: Position) -> None:
        self._node, self._offset, self._root = node, offset, root
        self._memo: dict[FieldPath, tuple[yaml.Node, Any] | None] = {}

    def _at(self, path: FieldPath) -> tuple[yaml.Node, Any] | None:
        """The node at ``path`` and the mark of its key or item, memoised per prefix.

        Findings of one object share long prefixes (``spec.template.spec.containers[0]``), so
        each step is looked up once per object.
        """
        memo = self._memo
        if path in memo:
            return memo[path]
        found: tuple[yaml.Node, Any] | None = None
        if not path:
            found = (self._node, None)
        else:
            parent = self._at(path[:-1])
            if parent is not None:
                node, part = parent[0], path[-1]
                cls = node.__class__
                if cls is _MappingNode:
                    for pair in node.value:
                        if pair[0].value == part and pair[0].__class__ is _ScalarNode:
                            found = (pair[1], pair[0].start_mark)
                elif cls is _SequenceNode and part.__class__ is int and 0 <= part < len(node.value):
                    item = node.value[part]
                    found = (item, item.start_mark)
        memo[path] = found
        return found

    def _position(self, mark: Any) -> Position:
        if mark is None:
            return self._root
        return Position(mark.line + 1 + self._offset, mark.column + 1)

    def nearest(self, path: FieldPath) -> tuple[Position | None, FieldPath]:
        """The position of ``path``, else of its nearest existing ancestor."""
        for n in range(len(path), -1, -1):
            found = self._at(path[:n])
            if found is not None:
                return self._position(found[1]), path[:n]
        return self._root, ()

    def _find(self, path: FieldPath) -> tuple[yaml.Node, Position] | None:
        found = self._at(path)
        return None if found is None else (found[0], self._position(found[1]))

    def __getitem__(self, path: FieldPath) -> Position:
        found = self._find(path)
        if found is None:
            raise KeyError(path)
        return found[1]

    def get(self, path: FieldPath, default: Any = None) -> Any:
        found = self._find(path)
        return default if found is None else found[1]

    def sub(self, prefix: FieldPath) -> Mapping[FieldPath, Position]:
        """The marks of the object at ``prefix`` (a ``List`` item), relative to it."""
        found = self._find(prefix)
        if found is None:
            return {}
        return NodeMarks(found[0], self._offset, found[1])

    def _all(self) -> dict[FieldPath, Position]:
        out: dict[FieldPath, Position] = {(): self._root}
        stack: list[tuple[yaml.Node, FieldPath]] = [(self._node, ())]
        while stack:
            node, path = stack.pop()
            if isinstance(node, yaml.MappingNode):
                for knode, vnode in node.value:
                    if isinstance(knode, yaml.ScalarNode):
                        sub = (*path, knode.value)
                        m = knode.start_mark
                        out[sub] = Position(m.line + 1 + self._offset, m.column + 1)
                        stack.append((vnode, sub))
            elif isinstance(node, yaml.SequenceNode):
                for i, item in enumerate(node.value):
                    sub = (*path, i)
                    m = item.start_mark
                    out[sub] = Position(m.line + 1 + self._offset, m.column + 1)
                    stack.append((item, sub))
        return out

    def __iter__(self) -> Iterator[FieldPath]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def _shift(mark: Any, offset: int) -> tuple[int, int]:
    return mark.line + 1 + offset, mark.column + 1


def parse_chunk(
    chunk: Chunk, file: str
) -> tuple[Any, Mapping[FieldPath, Position], Diagnostic | None]:
    """Parse one document; on error return a located diagnostic instead."""
    loader = _FastLoader(chunk.text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}, None
        try:
            value = _build(node, loader, {} if "&" in chunk.text else None)
        except _SlowPath:
            value = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = _shift(mark, chunk.first_line) if mark else (chunk.first_line + 1, 1)
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        where = Location(file, line, col)
        return None, {}, Diagnostic("PST001", f"malformed YAML: {problem}", where, _ERR)
    except yaml.YAMLError as exc:
        where = Location(file, chunk.first_line + 1, 1)
        return None, {}, Diagnostic("PST001", f"malformed YAML: {exc}", where, _ERR)
    finally:
        loader.dispose()
    root = Position(node.start_mark.line + 1 + chunk.first_line, 1)
    return value, NodeMarks(node, chunk.first_line, root), None


_ERR = DiagnosticLevel.ERROR


def load_text(text: str, file: str, *, is_json: bool = False) -> Iterator[Manifest | Diagnostic]:
    """Every object of a YAML stream or JSON file (lists expanded), and the problems met."""
    chunks = [Chunk(text, 0)] if is_json else split_documents(text)
    docs = None if is_json or len(chunks) == 1 else _parse_stream(text)
    if docs is not None:
        # The whole stream parsed: one libyaml parser for the file, documents matched to
        # their chunk (for the Helm source comment and the document index) by line.
        starts = [c.first_line for c in chunks]
        for node, value in docs:
            if value is None:
                continue
            index = max(bisect.bisect_right(starts, node.start_mark.line) - 1, 0)
            root = Position(node.start_mark.line + 1, 1)
            helm = _helm(chunks[index])
            whole = NodeMarks(node, 0, root)
            yield from expand(value, whole, file, index, helm, chunks[index].first_line + 1)
        return
    # Document by document: one broken document is located and the others still read.
    for index, chunk in enumerate(chunks):
        value, marks, problem = parse_chunk(chunk, file)
        if problem is not None and is_json:
            value, marks, problem = _json_fallback(text, file, problem)
        if problem is not None:
            yield problem
            continue
        if value is None:
            continue  # empty or comment-only document
        yield from expand(value, marks, file, index, _helm(chunk), chunk.first_line + 1)


def _helm(chunk: Chunk) -> str | None:
    if "# Source: " not in chunk.text:  # a substring search is much cheaper than the regex's
        return None
    found = _HELM_SOURCE.search(chunk.text)
    return found.group(1) if found else None


def _parse_stream(text: str) -> list[tuple[yaml.Node, Any]] | None:
    """Every document of a stream with one parser, or None if any is broken or unusual."""
    loader = _FastLoader(text)
    shared: dict[int, Any] | None = {} if "&" in text else None
    docs: list[tuple[yaml.Node, Any]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if shared is not None:
                shared.clear()  # anchors do not cross documents
            docs.append((node, _build(node, loader, shared)))
    except (yaml.YAMLError, _SlowPath):
        return None
    finally:
        loader.dispose()
    return docs


def _json_fallback(
    text: str, file: str, problem: Diagnostic
) -> tuple[Any, Mapping[FieldPath, Position], Diagnostic | None]:
    try:
        return json.loads(text), {(): Position(1, 1)}, None
    except json.JSONDecodeError as exc:
        where = Location(file, exc.lineno, exc.colno)
        return None, {}, Diagnostic("PST001", f"malformed JSON: {exc.msg}", where, _ERR)


def _sub_marks(
    marks: Mapping[FieldPath, Position], prefix: FieldPath
) -> Mapping[FieldPath, Position]:
    if isinstance(marks, NodeMarks):
        return marks.sub(prefix)
    n = len(prefix)
    return {p[n:]: m for p, m in marks.items() if p[:n] == prefix}


def expand(
    value: Any,
    marks: Mapping[FieldPath, Position],
    file: str,
    index: int,
    helm: str | None,
    line: int,
) -> Iterator[Manifest | Diagnostic]:
    """A document -> its objects: ``List``/``FooList`` items and JSON arrays are opened."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from expand(item, _sub_marks(marks, (i,)), file, index, helm, line)
        return
    top = marks.get(())
    where = Location(file, top.line if top is not None else line, 1, helm)
    if not isinstance(value, dict):
        yield Diagnostic("PST002", "document is not a mapping; ignored", where)
        return
    kind, api = value.get("kind"), value.get("apiVersion")
    if not (isinstance(kind, str) and kind and isinstance(api, str) and api):
        yield Diagnostic("PST002", "document has no apiVersion and kind; ignored", where)
        return
    items = value.get("items")
    if kind.endswith("List") and isinstance(items, list):
        inner = kind[: -len("List")]
        for i, item in enumerate(items):
            sub = _sub_marks(marks, ("items", i))
            if isinstance(item, dict) and inner:
                item.setdefault("kind", inner)
                item.setdefault("apiVersion", api)
            yield from expand(item, sub, file, index, helm, line)
        return
    yield Manifest(value, file, marks, index, helm)
