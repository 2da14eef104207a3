"""Reading rules YAML with positions: items as plain values plus file:line:col of each key.

Conditions are mapped back to the file character by character (``TextMap``) so that a parse error
in the middle of a folded multi-line condition points at the right line of the YAML file.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

import yaml

from mamori.rules.diagnostics import Location

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class TextMap:
    """Where each character of a scalar's value sits in the file (segments per source line)."""

    file: str
    starts: tuple[int, ...]  # value offset where each segment starts
    lines: tuple[int, ...]  # 1-based file line of each segment
    cols: tuple[int, ...]  # 1-based file column of each segment

    def locate(self, idx: int) -> Location:
        k = max(bisect.bisect_right(self.starts, idx) - 1, 0)
        return Location(self.file, self.lines[k], self.cols[k] + idx - self.starts[k])


@dataclass(frozen=True, slots=True)
class Text:
    """A condition text made of one or more appended pieces, each with its ``TextMap``."""

    value: str
    pieces: tuple[tuple[int, TextMap], ...] = ()

    def locate(self, idx: int) -> Location | None:
        found = None
        for offset, tmap in self.pieces:
            if idx >= offset:
                found = tmap.locate(idx - offset)
        return found

    def append(self, other: Text) -> Text:
        """Falco's textual append: old + " " + new."""
        offset = len(self.value) + 1
        moved = tuple((offset + o, m) for o, m in other.pieces)
        return Text(f"{self.value} {other.value}", self.pieces + moved)


@dataclass(slots=True)
class Item:
    """One top-level YAML item (a mapping) with the location of each of its values."""

    data: dict[str, Any]
    location: Location
    positions: dict[str, Location] = field(default_factory=dict)
    texts: dict[str, Text] = field(default_factory=dict)

    def where(self, key: str) -> Location:
        return self.positions.get(key, self.location)


class YamlProblem(Exception):
    def __init__(self, message: str, location: Location) -> None:
        super().__init__(message)
        self.message = message
        self.location = location


def read_items(name: str, content: str) -> list[Item | YamlProblem]:
    """Top-level items of every document; a non-mapping item becomes a ``YamlProblem``."""
    lines = content.splitlines()
    try:
        docs = list(yaml.compose_all(content, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name)
        raise YamlProblem(f"{exc.problem or exc.context or 'invalid YAML'}", loc) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(str(exc), Location(name)) from None
    out: list[Item | YamlProblem] = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, yaml.SequenceNode):
            out.append(YamlProblem("a rules file is a list of items", _loc(name, doc)))
            continue
        for node in doc.value:
            out.append(_item(name, node, lines))
    return out


def _loc(name: str, node: yaml.Node) -> Location:
    return Location(name, node.start_mark.line + 1, node.start_mark.column + 1)


def _item(name: str, node: yaml.Node, lines: list[str]) -> Item | YamlProblem:
    if not isinstance(node, yaml.MappingNode):
        return YamlProblem("an item must be a mapping (rule, macro, list ...)", _loc(name, node))
    item = Item({}, _loc(name, node))
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            return YamlProblem("mapping keys must be strings", _loc(name, key_node))
        key = str(key_node.value)
        try:
            item.data[key] = _construct(value_node)
        except yaml.YAMLError as exc:
            return YamlProblem(f"{key}: {exc}", _loc(name, value_node))
        item.positions[key] = _loc(name, value_node)
        if isinstance(value_node, yaml.ScalarNode) and isinstance(item.data[key], str):
            item.texts[key] = Text(item.data[key], ((0, _text_map(name, value_node, lines)),))
    return item


class _Constructor(yaml.SafeLoader):
    """PyYAML reads a bare ``=`` as YAML 1.1's "value" tag; Falco files mean the string."""


_Constructor.add_constructor(
    "tag:yaml.org,2002:value",
    _Constructor.construct_yaml_str,  # type: ignore[type-var]
)


def _construct(node: yaml.Node) -> Any:
    loader = _Constructor("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _text_map(name: str, node: yaml.ScalarNode, lines: list[str]) -> TextMap:
    start, end = node.start_mark, node.end_mark
    starts: list[int] = []
    lnos: list[int] = []
    cols: list[int] = []
    offset = 0
    if node.style in ("|", ">"):
        first, last = start.line + 1, end.line
        if last < len(lines) and not lines[last][: end.column].strip():
            last -= 1  # the end mark sits on the next key's line
        skip_first = False
    else:
        first, last = start.line, end.line
        skip_first = True
    for lno in range(first, min(last, len(lines) - 1) + 1):
        text = lines[lno]
        if skip_first and lno == start.line:
            col = start.column + (1 if node.style in ("'", '"') else 0)
            seg_len = len(text) - col
        else:
            stripped = text.lstrip()
            col = len(text) - len(stripped)
            seg_len = len(stripped)
            if not stripped:
                continue
        starts.append(offset)
        lnos.append(lno + 1)
        cols.append(col + 1)
        offset += seg_len + 1
    if not starts:
        starts, lnos, cols = [0], [start.line + 1], [start.column + 1]
    return TextMap(name, tuple(starts), tuple(lnos), tuple(cols))
