"""Files of audit events -> checked raw events, each with where it came from.

Accepted layouts: the API server's log backend (one ``Event`` per line), lines holding whole
``EventList`` objects (saved webhook bodies), one JSON document (an ``EventList`` or an
``Event``, pretty-printed or not), and managed clusters' exports (GKE Cloud Audit Logs entries,
AKS diagnostic records, EKS CloudWatch records: ``mamori.audit.cloud``). Errors name
``file:line``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mamori.audit import cloud
from mamori.audit.events import AuditFormatError, check_event, parse_event_list, to_event
from mamori.audit.tail import Line
from mamori.core.events import Event

Raw = Mapping[str, Any]


def _from_doc(doc: Any, where: str) -> list[Raw]:
    unwrapped = cloud.unwrap(doc, where)  # GKE, AKS and EKS exports
    if unwrapped is not None:
        for n, raw in enumerate(unwrapped):
            check_event(raw, where if len(unwrapped) == 1 else f"{where}[{n}]")
        return list(unwrapped)
    if isinstance(doc, dict) and doc.get("kind") == "EventList":
        try:
            return parse_event_list(json.dumps(doc))
        except AuditFormatError as exc:
            raise AuditFormatError(f"{where}: {exc}") from None
    check_event(doc, where)
    return [doc]


def read_events(path: Path) -> Iterator[tuple[Raw, str]]:
    """Every event in ``path`` with its location; raise ``AuditFormatError`` at the first bad
    one, ``OSError`` when the file cannot be read."""
    with path.open("rb") as f:
        first = f.readline()
        rest_is_lines = _is_json(first)
        f.seek(0)
        if not rest_is_lines and first.strip():
            yield from _whole_document(f.read(), path)
            return
        for n, line in enumerate(f, 1):
            if line.strip():
                yield from ((raw, f"{path}:{n}") for raw in parse_line(line, f"{path}:{n}"))


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _whole_document(data: bytes, path: Path) -> Iterator[tuple[Raw, str]]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise AuditFormatError(
            f"{path}:1: neither JSON lines nor one JSON document: {exc}"
        ) from None
    for raw in _from_doc(doc, str(path)):
        yield raw, str(path)


def parse_line(line: bytes, where: str) -> list[Raw]:
    """One log line: an ``Event`` or an ``EventList``."""
    try:
        doc = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise AuditFormatError(f"{where}: not a JSON object: {exc}") from None
    return _from_doc(doc, where)


def lines_to_events(
    lines: Iterable[Line], cluster: str | None, on_error: Callable[[AuditFormatError], None]
) -> list[Event]:
    """Tailed lines -> events; a bad line goes to ``on_error`` and is skipped."""
    out: list[Event] = []
    for line in lines:
        try:
            out.extend(to_event(raw, cluster) for raw in parse_line(line.data, line.where))
        except AuditFormatError as exc:
            on_error(exc)
    return out
