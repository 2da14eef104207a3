"""Self-exemption annotations.

``skip.mamori.io/<CHECK-ID>[.<container>]: "<reason>[; expires=YYYY-MM-DD]"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from mamori.posture.model import (
    Diagnostic,
    Exemption,
    FieldPath,
    Location,
    Manifest,
)
from mamori.posture.workload import Workload, as_map

PREFIX = "skip.mamori.io/"
_EXPIRES = re.compile(r"expires=(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True, slots=True)
class Exemptions:
    """The exemptions one object grants one check: whole object and per container."""

    whole: Exemption | None
    containers: Mapping[str, Exemption]

    def for_container(self, name: str | None) -> Exemption | None:
        if name is not None and name in self.containers:
            return self.containers[name]
        return self.whole


NONE = Exemptions(None, {})


def _annotation_sources(
    m: Manifest, wl: Workload | None
) -> Iterator[tuple[FieldPath, Mapping[str, Any]]]:
    yield ("metadata", "annotations"), as_map(m.metadata.get("annotations"))
    if wl is not None and wl.meta_path != ("metadata",):
        yield (*wl.meta_path, "annotations"), wl.annotations


def _parse(value: Any, key: str, today: date) -> Exemption | None:
    text = str(value or "").strip()
    if not text:
        return None
    found = _EXPIRES.search(text)
    expired = False
    if found:
        try:
            expired = date.fromisoformat(found.group(1)) < today
        except ValueError:
            expired = False
    return Exemption(reason=text, source=key, expired=expired)


def exemptions_for(
    check_id: str, m: Manifest, wl: Workload | None, today: date
) -> tuple[Exemptions, list[Diagnostic]]:
    whole: Exemption | None = None
    containers: dict[str, Exemption] = {}
    problems: list[Diagnostic] = []
    key_whole = PREFIX + check_id
    for base, found in _annotation_sources(m, wl):
        for key, value in found.items():
            key = str(key)
            if key != key_whole and not key.startswith(key_whole + "."):
                continue
            exemption = _parse(value, key, today)
            if exemption is None:
                pos, _ = m.locate((*base, key))
                where = Location(m.file, pos.line if pos else None, pos.column if pos else None)
                problems.append(
                    Diagnostic("PST020", f"exemption {key} has no reason; ignored", where)
                )
            elif key == key_whole:
                whole = exemption
            else:
                containers[key[len(key_whole) + 1 :]] = exemption
    return Exemptions(whole, containers), problems
