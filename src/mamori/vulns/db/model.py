"""Advisories as stored: one per id, with affected (ecosystem, package, ranges) rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Range:
    type: str  # ECOSYSTEM | SEMVER | GIT
    events: tuple[tuple[str, str], ...]  # ("introduced", "0"), ("fixed", "1.2") ...
    repo: str = ""  # GIT ranges: the repository the commits are in


@dataclass(frozen=True, slots=True)
class Affected:
    ecosystem: str  # OSV spelling: "Debian:12", "Alpine:v3.15", "PyPI", "npm" ...
    name: str
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    status: str = "affected"  # affected | unfixed (no fix published yet)
    severity: str = ""  # per-package override (distro urgency)


@dataclass(frozen=True, slots=True)
class Advisory:
    id: str
    source: str
    summary: str = ""
    severity: str = ""  # critical | high | medium | low | negligible | "" (unknown)
    cvss: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    published: str = ""
    modified: str = ""
    withdrawn: str = ""
    affected: tuple[Affected, ...] = ()
    raw: dict[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ImportProblem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(slots=True)
class ImportResult:
    source: str
    imported: int = 0
    problems: list[ImportProblem] = field(default_factory=list)
