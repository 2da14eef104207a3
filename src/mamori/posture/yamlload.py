"""A line-tracking YAML/JSON reader: documents as plain data plus the position of every node.

Each ``---`` document is parsed on its own, so one broken document is reported (file:line:col)
and the others are still read. JSON goes through the same loader (JSON is YAML), with a plain
``json`` fallback for the odd file libyaml refuses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from mamori.posture.model import (
    Diagnostic,
    DiagnosticLevel,
    FieldPath,
    Location,
    Manifest,
    Position,
)

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DOC_START = re.compile(r"^---(?:[ \t].*)?$")
_HELM_SOURCE = re.compile(r"^# Source: (.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    first_line: int  # 0-based line of the chunk in the file


def split_documents(text: str) -> list[Chunk]:
    """Cut a YAML stream at its ``---`` markers, keeping each piece's line offset."""
    chunks: list[Chunk] = []
    start, lines = 0, text.split("\n")
    for i, line in enumerate(lines):
        if _DOC_START.match(line.rstrip("\r")) and i > 0:
            chunks.append(Chunk("\n".join(lines[start:i]), start))
            start = i
    chunks.append(Chunk("\n".join(lines[start:]), start))
    return chunks


def _walk(node: yaml.Node, value: Any, path: FieldPath, marks: dict[FieldPath, Position]) -> None:
    """Record positions by walking the node tree beside the constructed value."""
    if isinstance(node, yaml.MappingNode) and isinstance(value, dict):
        for knode, vnode in node.value:
            key: Any = knode.value if isinstance(knode, yaml.ScalarNode) else None
            if key not in value:
                continue
            sub = (*path, key)
            marks[sub] = Position(knode.start_mark.line + 1, knode.start_mark.column + 1)
            _walk(vnode, value[key], sub, marks)
    elif isinstance(node, yaml.SequenceNode) and isinstance(value, list):
        for i, (item_node, item) in enumerate(zip(node.value, value, strict=False)):
            sub = (*path, i)
            marks[sub] = Position(item_node.start_mark.line + 1, item_node.start_mark.column + 1)
            _walk(item_node, item, sub, marks)


def _shift(mark: Any, offset: int) -> tuple[int, int]:
    return mark.line + 1 + offset, mark.column + 1


def parse_chunk(
    chunk: Chunk, file: str
) -> tuple[Any, dict[FieldPath, Position], Diagnostic | None]:
    """Parse one document; on error return a located diagnostic instead."""
    loader = _Loader(chunk.text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}, None
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
    marks: dict[FieldPath, Position] = {(): Position(node.start_mark.line + 1, 1)}
    _walk(node, value, (), marks)
    if chunk.first_line:
        marks = {p: Position(m.line + chunk.first_line, m.column) for p, m in marks.items()}
    return value, marks, None


_ERR = DiagnosticLevel.ERROR


def load_text(text: str, file: str, *, is_json: bool = False) -> Iterator[Manifest | Diagnostic]:
    """Every object of a YAML stream or JSON file (lists expanded), and the problems met."""
    chunks = [Chunk(text, 0)] if is_json else split_documents(text)
    for index, chunk in enumerate(chunks):
        value, marks, problem = parse_chunk(chunk, file)
        if problem is not None and is_json:
            value, marks, problem = _json_fallback(text, file, problem)
        if problem is not None:
            yield problem
            continue
        if value is None:
            continue  # empty or comment-only document
        found = _HELM_SOURCE.search(chunk.text)
        helm = found.group(1) if found else None
        yield from expand(value, marks, file, index, helm, chunk.first_line + 1)


def _json_fallback(
    text: str, file: str, problem: Diagnostic
) -> tuple[Any, dict[FieldPath, Position], Diagnostic | None]:
    try:
        return json.loads(text), {(): Position(1, 1)}, None
    except json.JSONDecodeError as exc:
        where = Location(file, exc.lineno, exc.colno)
        return None, {}, Diagnostic("PST001", f"malformed JSON: {exc.msg}", where, _ERR)


def _sub_marks(marks: dict[FieldPath, Position], prefix: FieldPath) -> dict[FieldPath, Position]:
    n = len(prefix)
    return {p[n:]: m for p, m in marks.items() if p[:n] == prefix}


def expand(
    value: Any,
    marks: dict[FieldPath, Position],
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
    where = Location(file, marks[()].line if () in marks else line, 1, helm)
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
