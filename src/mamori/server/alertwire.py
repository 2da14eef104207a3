"""The quickest ingest path: a batch of alerts decoded by msgspec and re-encoded, in one pass
each, into the JSON document PostgreSQL's bulk insert reads (``AlertRepository.insert_json``).

It is an accelerator, not a second schema of record. It takes only batches where every item is
plainly valid: an id, a time in RFC 3339 with an offset (at most six fraction digits), a
severity spelled as one of its names or a level. What it takes, the full types (``schemas.AlertIn``)
take with the same values; anything else returns None and the batch goes the usual way, where
pydantic decides and reports each bad item. ``tests/server/test_alertwire.py`` checks that
promise against the full types. About 15 us less server CPU per alert than pydantic's one-pass
check plus ``to_json`` (bench/ingest.py, docs/decisions/2026-11-22-platform-foundation.md).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

from mamori.core.severity import Severity
from mamori.server.ingest import SUSPECT_ESCAPE as _SUSPECT_ESCAPE

# Limits as in schemas.AlertIn. Patterns are checked once per batch (see decode_alerts): a
# msgspec pattern calls Python's re for every item.
_Short = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
_OptShort = Annotated[str, msgspec.Meta(max_length=255)] | None
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
_ID_CHARS = re.compile(r"[A-Za-z0-9._:-]*")
# msgspec reads RFC 3339 times as pydantic does, except for more than six fraction digits:
# pydantic truncates them, msgspec rounds. A body with such a time anywhere goes the usual way.
_LONG_FRACTION = re.compile(rb":\d\d\.\d{7}")
_Time = Annotated[datetime, msgspec.Meta(tz=True)]  # naive times: the usual way (taken as UTC)
_Level = Annotated[int, msgspec.Meta(ge=0, le=7)]

# The names schemas.SeverityName accepts, in lower case, with their levels.
_NAMES = "emergency alert critical error warning notice informational debug info warn err crit"
_LEVELS = {name: int(Severity.parse(name)) for name in _NAMES.split()}


class _Mitre(msgspec.Struct, forbid_unknown_fields=True):
    tactic: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    technique: Annotated[str, msgspec.Meta(max_length=32)] | None = None


class _Resource(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    # omit_defaults: a resource's unset parts are left out, as the store keeps them.
    kind: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    namespace: _OptShort = None
    cluster: _OptShort = None
    uid: _OptShort = None


class _Alert(msgspec.Struct, forbid_unknown_fields=True):
    id: _Id
    time: _Time
    rule: _Short
    severity: str | _Level
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=32)] = "syscall"
    output: Annotated[str, msgspec.Meta(max_length=65536)] = ""
    mitre: _Mitre | None = None
    fields: dict[str, Any] = {}
    resources: Annotated[list[_Resource], msgspec.Meta(max_length=64)] = []
    tags: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=255)]], msgspec.Meta(max_length=64)
    ] = []
    cluster: _OptShort = None
    namespace: _OptShort = None
    node: _OptShort = None
    simulated: bool = False


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    alerts: list[_Alert]


_DECODER = msgspec.json.Decoder(_Batch)
_ENCODER = msgspec.json.Encoder()


def _finish(alert: _Alert) -> bool:
    """Severity to its level, in place; False where the full types decide."""
    severity = alert.severity
    if isinstance(severity, str):
        level = _LEVELS.get(severity.lower())
        if level is None:
            return False
        alert.severity = level
    # Next to year 1 or 9999 an offset can take the instant out of Python's range (the full
    # types refuse such a time); the store keeps the instant, so check it there only.
    if not 1 < alert.time.year < 9999:
        try:
            alert.time.astimezone(UTC)
        except OverflowError:
            return False
    return True


def decode_alerts(body: bytes, max_items: int) -> tuple[int, str] | None:
    """(number of alerts, the store's JSON document) when every alert of ``{"alerts": [...]}``
    is plainly valid and there are at most ``max_items``; otherwise None."""
    # A NUL or lone-surrogate escape, or a long fraction (above). NaN and Infinity, which
    # pydantic-core takes, msgspec refuses by itself.
    if _SUSPECT_ESCAPE.search(body) or _LONG_FRACTION.search(body):
        return None
    try:
        alerts = _DECODER.decode(body).alerts
    except (msgspec.DecodeError, UnicodeDecodeError):  # and ValidationError: the usual way
        return None  # says what and where
    if len(alerts) > max_items or not _ID_CHARS.fullmatch("".join(a.id for a in alerts)):
        return None
    for alert in alerts:
        if not _finish(alert):
            return None
    return len(alerts), _ENCODER.encode(alerts).decode()
