"""Posture vocabulary: manifests with positions, check results, diagnostics.

A ``Manifest`` is one Kubernetes object as plain data plus the line/column of every node, so that a
result can point at the offending field (or its nearest existing ancestor).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mamori.core.fastinit import fast_init
from mamori.core.severity import Severity

FieldPath = tuple[str | int, ...]


class Level(enum.StrEnum):
    """Severity as Defender rates a recommendation."""

    HIGH = "High"
    MEDIUM = "Medium"
    LOW = "Low"

    @property
    def rank(self) -> int:
        return {"High": 3, "Medium": 2, "Low": 1}[self.value]

    @property
    def core(self) -> Severity:
        return {"High": Severity.ERROR, "Medium": Severity.WARNING, "Low": Severity.NOTICE}[
            self.value
        ]


class Status(enum.StrEnum):
    FAIL = "fail"
    PASS = "pass"  # noqa: S105 (not a password)
    SKIP = "skip"
    ERROR = "error"


@fast_init
@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column."""

    line: int  # 1-based
    column: int  # 1-based


class LazyMarks(Mapping[FieldPath, Position]):
    """Positions computed on demand (from a parser's node tree) rather than stored per node."""

    __slots__ = ()

    def nearest(self, path: FieldPath) -> tuple[Position | None, FieldPath]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Manifest:
    """One object read from a file, stdin, the API or an admission request."""

    obj: Mapping[str, Any]
    file: str
    marks: Mapping[FieldPath, Position] = field(default_factory=dict)
    doc_index: int = 0
    helm_source: str | None = None

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def metadata(self) -> Mapping[str, Any]:
        meta = self.obj.get("metadata")
        return meta if meta.__class__ is dict or isinstance(meta, Mapping) else {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or self.metadata.get("generateName") or "<unnamed>")

    @property
    def namespace(self) -> str | None:
        ns = self.metadata.get("namespace")
        return str(ns) if ns else None

    def locate(self, path: FieldPath) -> tuple[Position | None, FieldPath]:
        """The position of ``path``, else of its nearest existing ancestor (and which one)."""
        marks = self.marks
        if marks.__class__ is not dict and isinstance(marks, LazyMarks):
            return marks.nearest(path)
        for n in range(len(path), -1, -1):
            pos = self.marks.get(path[:n])
            if pos is not None:
                return pos, path[:n]
        return None, ()


@fast_init
@dataclass(frozen=True, slots=True)
class ResourceId:
    """The object a result is about."""

    kind: str
    name: str
    namespace: str | None
    api_version: str = ""
    uid: str | None = None

    def __str__(self) -> str:
        ns = self.namespace or "-"
        return f"{self.kind}/{ns}/{self.name}"


@fast_init
@dataclass(frozen=True, slots=True)
class ContainerRef:
    """One container of a pod template: name, list, image and path."""

    name: str
    type: str  # container | initContainer | ephemeralContainer
    image: str
    path: FieldPath  # e.g. ("spec", "template", "spec", "containers", 0)


@fast_init
@dataclass(frozen=True, slots=True)
class Location:
    """Where a result points: file, 1-based line and column, Helm template."""

    file: str
    line: int | None = None
    column: int | None = None
    helm_source: str | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"


@fast_init
@dataclass(frozen=True, slots=True)
class Exemption:
    """Why a finding is skipped: an annotation or config entry (expired: still fails)."""

    reason: str
    source: str  # the annotation key or the config entry
    expired: bool = False


@fast_init
@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one check on one resource (and container and field for findings)."""

    check_id: str
    status: Status
    resource: ResourceId
    location: Location
    message: str = ""
    container: ContainerRef | None = None
    field_path: FieldPath = ()
    value: Any = None
    exemption: Exemption | None = None
    upstream: str | None = None  # PSS check ID, for MAM-PSS results

    @property
    def is_finding(self) -> bool:
        return self.status is Status.FAIL


@functools.lru_cache(maxsize=4096)  # the same few hundred paths recur in every object
def format_path(path: FieldPath) -> str:
    """``("spec", "containers", 0, "image")`` -> ``spec.containers[0].image``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


class DiagnosticLevel(enum.StrEnum):
    ERROR = "error"  # input errors: exit code 2
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A located problem with the input (never raised one at a time)."""

    code: str
    message: str
    location: Location
    level: DiagnosticLevel = DiagnosticLevel.WARNING

    def __str__(self) -> str:
        return f"{self.location}: {self.level.value} {self.code}: {self.message}"
