"""The field table: one ``FieldSpec`` per Falco field drives the compiler, the docs and the CLI.

An extractor returns the field's value for an event, or ``None`` when the event does not carry it
(Falco's "<NA>": every comparison on it is false). List fields return a tuple.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mamori.core.events import Event

Extractor = Callable[[Event], Any]
ArgExtractor = Callable[[str], Extractor]


class FieldType(enum.StrEnum):
    STRING = "string"
    INT = "int"
    BOOL = "bool"
    IPADDR = "ipaddr"  # an address; compared as an address, or against networks
    IPNET = "ipnet"  # an address compared against networks ("in (10.0.0.0/8)")
    ABSTIME = "abstime"  # ns since the epoch
    RELTIME = "reltime"  # ns


class Multi(enum.StrEnum):
    """How a field without argument holds several values."""

    SINGLE = "single"
    ANY = "any"  # a set of candidates: a check is true if it holds for any (proc.aname, fd.ip)
    LIST = "list"  # a list: "in" means every item is in the set, "intersects" any item


class ArgMode(enum.StrEnum):
    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: FieldType
    desc: str
    source: str  # "syscall" or "k8s_audit"
    extract: Extractor | None = None  # without argument
    with_arg: ArgExtractor | None = None  # given the argument text
    arg: ArgMode = ArgMode.NONE
    multi: Multi = Multi.SINGLE
    # The argument may also be written as a suffix: evt.arg.flags == evt.arg[flags].
    dotted_arg: bool = False
    # Which mamori events fill this field today ("exec", "connect", "open", "audit", "drift"),
    # empty when no sensor source fills it yet.
    sensor: str = ""


def field(
    name: str,
    type_: FieldType,
    desc: str,
    extract: Extractor | None = None,
    *,
    source: str = "syscall",
    with_arg: ArgExtractor | None = None,
    arg: ArgMode | None = None,
    multi: Multi = Multi.SINGLE,
    dotted_arg: bool = False,
    sensor: str = "",
) -> FieldSpec:
    if arg is None:
        arg = ArgMode.NONE if with_arg is None else ArgMode.REQUIRED
    return FieldSpec(name, type_, desc, source, extract, with_arg, arg, multi, dotted_arg, sensor)


def int_arg(arg: str) -> int | None:
    """An index argument (``proc.aname[2]``), or None when it is not a number."""
    try:
        return int(arg)
    except ValueError:
        return None
