"""Operands compiled to extractors: fields (with arguments) and transformers over them."""

from __future__ import annotations

import base64
import binascii
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mamori.core.events import Event
from mamori.rules import ast
from mamori.rules.errors import CompileError
from mamori.rules.fields import ArgMode, FieldSpec, FieldType, Multi, lookup
from mamori.rules.fields.base import Extractor


@dataclass(frozen=True, slots=True)
class Operand:
    extract: Extractor
    type: FieldType
    multi: Multi  # SINGLE, or how a tuple value is read
    text: str  # canonical text, e.g. "proc.aname[2]"


def resolve_field(source: str, ref: ast.FieldRef) -> tuple[FieldSpec, str | None]:
    found = lookup(source, ref.name)
    if found is None:
        raise CompileError("R001", f"unknown field '{ref.name}' for source '{source}'", ref.pos)
    spec, dotted = found
    arg = ref.arg if ref.arg is not None else dotted
    if arg is None and spec.arg is ArgMode.REQUIRED:
        raise CompileError("R008", f"field '{spec.name}' needs an argument", ref.pos)
    if arg is not None and spec.arg is ArgMode.NONE:
        raise CompileError("R008", f"field '{spec.name}' takes no argument", ref.pos)
    return spec, arg


def compile_operand(source: str, node: ast.Operand | ast.Literal) -> Operand:
    if isinstance(node, ast.FieldRef):
        spec, arg = resolve_field(source, node)
        if arg is None:
            assert spec.extract is not None  # ArgMode.REQUIRED fields were rejected above
            return Operand(spec.extract, spec.type, spec.multi, ast.operand_str(node))
        assert spec.with_arg is not None
        return Operand(spec.with_arg(arg), spec.type, Multi.SINGLE, ast.operand_str(node))
    if isinstance(node, ast.Literal):
        text = node.text
        return Operand(lambda e: text, FieldType.STRING, Multi.SINGLE, ast.operand_str(node))
    if isinstance(node, ast.Transform):
        return _transform(source, node)
    return _join(source, node)


def _transform(source: str, node: ast.Transform) -> Operand:
    inner = compile_operand(source, node.operand)
    text = ast.operand_str(node)
    if node.name == "val":
        return Operand(inner.extract, inner.type, inner.multi, text)
    fn, out_type = _TRANSFORMS[node.name]
    if node.name != "len" and inner.type not in (FieldType.STRING, FieldType.IPADDR):
        raise CompileError("R014", f"'{node.name}' needs a string field", node.pos)
    get = inner.extract
    if inner.multi is Multi.SINGLE or node.name == "len":

        def single(e: Event) -> Any:
            v = get(e)
            return None if v is None else fn(v)

        return Operand(single, out_type, Multi.SINGLE, text)

    def each(e: Event) -> Any:
        v = get(e)
        if v is None:
            return None
        return tuple(r for r in (fn(x) for x in v) if r is not None)

    return Operand(each, out_type, inner.multi, text)


def _join(source: str, node: ast.Join) -> Operand:
    parts = [compile_operand(source, item) for item in node.items]
    getters = [p.extract for p in parts]
    sep = node.sep

    def joined(e: Event) -> str | None:
        out = []
        for g in getters:
            v = g(e)
            if v is None:
                return None
            out.append(",".join(map(_text, v)) if isinstance(v, tuple) else _text(v))
        return sep.join(out)

    return Operand(joined, FieldType.STRING, Multi.SINGLE, ast.operand_str(node))


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _b64(v: Any) -> str | None:
    try:
        return base64.b64decode(str(v), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


def _len(v: Any) -> int:
    return len(v) if isinstance(v, str | tuple) else len(str(v))


_TRANSFORMS: dict[str, tuple[Callable[[Any], Any], FieldType]] = {
    "tolower": (lambda v: str(v).lower(), FieldType.STRING),
    "toupper": (lambda v: str(v).upper(), FieldType.STRING),
    "b64": (_b64, FieldType.STRING),
    "basename": (lambda v: posixpath.basename(str(v)), FieldType.STRING),
    "len": (_len, FieldType.INT),
}
