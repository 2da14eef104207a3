"""The field catalog: every Falco field mamori knows, for each event source.

``CATALOG`` is the one table the compiler, ``mamori rules fields`` and docs/rules-fields.md use.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from mamori.rules.fields import container, evt, fd, ka, mamori, proc
from mamori.rules.fields.base import ArgMode, FieldSpec, FieldType, Multi

SOURCES = ("syscall", "k8s_audit")

ALL_FIELDS: tuple[FieldSpec, ...] = (
    *evt.FIELDS,
    *proc.FIELDS,
    *container.FIELDS,
    *fd.FIELDS,
    *mamori.FIELDS,
    *ka.FIELDS,
)

CATALOG: Mapping[str, Mapping[str, FieldSpec]] = MappingProxyType(
    {src: MappingProxyType({f.name: f for f in ALL_FIELDS if f.source == src}) for src in SOURCES}
)


def lookup(source: str, name: str) -> tuple[FieldSpec, str | None] | None:
    """The field named ``name`` for ``source``, with a dotted argument if the name carries one.

    ``evt.arg.flags`` -> (evt.arg, "flags"). None when unknown.
    """
    table = CATALOG.get(source)
    if table is None:
        return None
    spec = table.get(name)
    if spec is not None:
        return spec, None
    head, _, tail = name.rpartition(".")
    while head:
        spec = table.get(head)
        if spec is not None and spec.dotted_arg:
            return spec, name[len(head) + 1 :]
        head, _, _ = head.rpartition(".")
    _ = tail
    return None


__all__ = [
    "ALL_FIELDS",
    "CATALOG",
    "SOURCES",
    "ArgMode",
    "FieldSpec",
    "FieldType",
    "Multi",
    "lookup",
]
