"""audit.k8s.io/v1 JSON -> core ``Event``s.

The API server's webhook backend posts ``EventList`` documents; its log backend writes one
``Event`` per line. Both are checked only as far as mamori relies on them (an object with an
``auditID``, a ``stage`` and a timestamp); every other key is kept as it came, in
``K8sAuditInfo.raw``, for the ``ka.*``/``jevt.*`` fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from mamori.core.errors import ValidationError
from mamori.core.events import Event, EventKind, K8sAuditInfo

API_VERSIONS = frozenset({"audit.k8s.io/v1"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FRACTION = re.compile(r"\.(\d+)")
_NOTHING: Mapping[str, Any] = MappingProxyType({})


class AuditFormatError(ValidationError):
    """Input that is not audit.k8s.io/v1 JSON; the message names where (``items[3].stage``)."""


def _loads(data: bytes | str, where: str) -> Any:
    try:
        # JSON between systems is UTF-8 (RFC 8259); json.loads would guess UTF-16/32 from bytes.
        return json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except UnicodeDecodeError:
        raise AuditFormatError(f"{where}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise AuditFormatError(
            f"{where}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except (RecursionError, ValueError) as exc:
        raise AuditFormatError(f"{where}: not usable JSON: {exc}") from None


def parse_event_list(body: bytes | str) -> list[Mapping[str, Any]]:
    """The checked ``items`` of an ``EventList`` body; raise ``AuditFormatError`` if malformed."""
    doc = _loads(body, "body")
    if not isinstance(doc, dict):
        raise AuditFormatError("body: expected a JSON object (an audit.k8s.io/v1 EventList)")
    if doc.get("kind") != "EventList":
        raise AuditFormatError(f"body.kind: expected 'EventList', got {doc.get('kind')!r}")
    if doc.get("apiVersion") not in API_VERSIONS:
        raise AuditFormatError(
            f"body.apiVersion: expected 'audit.k8s.io/v1', got {doc.get('apiVersion')!r}"
        )
    items = doc.get("items")
    if items is None:
        return []  # the API server sends "items": null for an empty list
    if not isinstance(items, list):
        raise AuditFormatError("body.items: expected a list of audit events")
    for index, item in enumerate(items):
        check_event(item, f"items[{index}]")
    return items


def parse_event_line(line: bytes | str, where: str) -> Mapping[str, Any]:
    """One log line (an ``Event`` object); ``where`` locates it (``audit.log:12``)."""
    obj = _loads(line, where)
    check_event(obj, where)
    assert isinstance(obj, dict)
    return obj


def check_event(obj: Any, where: str) -> None:
    if not isinstance(obj, dict):
        raise AuditFormatError(f"{where}: expected an audit event object")
    kind = obj.get("kind", "Event")
    if kind != "Event":
        raise AuditFormatError(f"{where}.kind: expected 'Event', got {kind!r}")
    for key in ("auditID", "stage"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise AuditFormatError(f"{where}.{key}: expected a non-empty string")
    stamp = obj.get("stageTimestamp") or obj.get("requestReceivedTimestamp")
    if not isinstance(stamp, str):
        raise AuditFormatError(f"{where}.stageTimestamp: expected an RFC 3339 time")
    event_time_ns(obj, where)


def parse_time_ns(text: str) -> int:
    """RFC 3339 (``2025-03-01T12:00:00.123456Z``) -> ns since the epoch; raise ValueError."""
    if len(text) > 20 and text[19] == "." and text[-1] == "Z" and text[20:-1].isdigit():
        # The API server's own form (UTC, microseconds): seconds memoised, fraction sliced.
        return _utc_seconds(text[:19]) * 1_000_000_000 + int(text[20:-1][:9].ljust(9, "0"))
    fraction = 0
    m = _FRACTION.search(text)
    if m is not None:
        fraction = int(m.group(1)[:9].ljust(9, "0"))
        text = text[: m.start()] + text[m.end() :]
    dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError("no time zone")
    return (dt - _EPOCH) // timedelta(seconds=1) * 1_000_000_000 + fraction


@lru_cache(maxsize=4096)
def _utc_seconds(stamp: str) -> int:
    dt = datetime.fromisoformat(stamp).replace(tzinfo=UTC)
    return (dt - _EPOCH) // timedelta(seconds=1)


def event_time_ns(obj: Mapping[str, Any], where: str = "event") -> int:
    key = "stageTimestamp" if obj.get("stageTimestamp") else "requestReceivedTimestamp"
    try:
        return parse_time_ns(str(obj.get(key)))
    except ValueError:
        raise AuditFormatError(f"{where}.{key}: not an RFC 3339 time: {obj.get(key)!r}") from None


def to_event(raw: Mapping[str, Any], cluster: str | None = None) -> Event:
    """A core ``Event`` (kind ``k8s_audit``) for one checked audit event.

    ``raw`` is kept as given (not copied into a read-only proxy: the ``ka.*`` fields read it
    for every rule, and a plain dict is faster to read); nothing in mamori changes it.
    """
    return Event(
        kind=EventKind.K8S_AUDIT,
        time_ns=event_time_ns(raw),
        cluster=cluster,
        audit=K8sAuditInfo(raw),
        args=_NOTHING,
        extra=_NOTHING,
    )
