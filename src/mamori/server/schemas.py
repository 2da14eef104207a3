"""REST schemas (pydantic, at the edge) and their conversion to and from core objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, NotRequired, get_type_hints

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, with_config
from typing_extensions import TypedDict

from mamori.core.alertjson import alert_to_wire
from mamori.core.findings import (
    Alert,
    AlertStatus,
    Comment,
    Finding,
    FindingKind,
    FindingStatus,
    Mitre,
    ResourceRef,
)
from mamori.core.ids import content_id
from mamori.core.severity import Severity, UiSeverity

_SHORT = 255


# Producers' input is validated as TypedDicts: pydantic-core checks them without building model
# instances, about 3x faster than BaseModels on the ingest hot path (bench/ingest.py).
_FORBID = ConfigDict(extra="forbid")
ShortStr = Annotated[str, Field(min_length=1, max_length=_SHORT)]
OptShort = Annotated[str, Field(max_length=_SHORT)] | None
RecordId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
SeverityName = Annotated[
    str,
    Field(
        pattern=r"(?i)^(emergency|alert|critical|error|warning|notice|informational|debug|info|warn|err|crit)$",
        description="Falco priority name (any case) or its level 0 (emergency) .. 7 (debug)",
    ),
]
SeverityLevel = Annotated[int, Field(ge=0, le=7, strict=True)]


def _check_severity(value: Any) -> str | int:
    """One check with the core's message (a union would report each member, under tags)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("severity must be a Falco priority name or its level 0..7")
    if isinstance(value, int) and not 0 <= value <= 7:
        raise ValueError(f"severity level {value} is not in 0..7")
    if isinstance(value, str):
        Severity.parse(value)  # raises ValueError naming the accepted names
    return value


SeverityIn = Annotated[
    str | int,
    PlainValidator(_check_severity, json_schema_input_type=SeverityName | SeverityLevel),
]


def _aware(value: datetime) -> datetime:
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past year 9999 in UTC
        raise ValueError("time is out of range once converted to UTC") from None


# Validated here, not only in the conversion, so a bad time is an item error, not a 500.
TimeIn = Annotated[datetime, AfterValidator(_aware)]


@with_config(_FORBID)
class MitreIn(TypedDict):
    tactic: Annotated[str, Field(min_length=1, max_length=64)]  # the store's column width
    technique: NotRequired[Annotated[str, Field(max_length=32)] | None]


@with_config(_FORBID)
class ResourceIn(TypedDict):
    kind: Annotated[str, Field(min_length=1, max_length=64)]  # the store's column width
    name: Annotated[str, Field(min_length=1, max_length=512)]
    namespace: NotRequired[OptShort]
    cluster: NotRequired[OptShort]
    uid: NotRequired[OptShort]


@with_config(_FORBID)
class AlertIn(TypedDict):
    """An alert as producers send it. Without ``id``, one is derived from the content."""

    id: NotRequired[RecordId | None]
    time: TimeIn
    rule: ShortStr
    severity: SeverityIn
    source: NotRequired[Annotated[str, Field(min_length=1, max_length=32)]]
    output: NotRequired[Annotated[str, Field(max_length=65536)]]
    mitre: NotRequired[MitreIn | None]
    fields: NotRequired[dict[str, Any]]
    resources: NotRequired[Annotated[list[ResourceIn], Field(max_length=64)]]
    tags: NotRequired[
        Annotated[list[Annotated[str, Field(max_length=_SHORT)]], Field(max_length=64)]
    ]
    cluster: NotRequired[OptShort]
    namespace: NotRequired[OptShort]
    node: NotRequired[OptShort]
    simulated: NotRequired[bool]


@with_config(_FORBID)
class FindingIn(TypedDict):
    """A posture or vulnerability finding. Without ``id``: kind + check + resource."""

    id: NotRequired[RecordId | None]
    time: TimeIn
    kind: FindingKind
    check: ShortStr
    title: Annotated[str, Field(min_length=1, max_length=4096)]
    severity: SeverityIn
    resource: ResourceIn
    details: NotRequired[dict[str, Any]]
    remediation: NotRequired[Annotated[str, Field(max_length=65536)] | None]


# The ingest fast path checks a whole batch in pydantic-core: the same TypedDicts, but with
# the two checks that call Python for every item (severity, time) done by the core alone.
# What these accept, the full types accept with the same values (times are made UTC after,
# by ``finish_time``); anything else goes to the slow path, item by item with the full types
# and their messages. About 5 us less per alert (bench/ingest.py).
FastSeverity = SeverityName | SeverityLevel


def _core_only(td: Any, name: str) -> Any:
    swap: list[tuple[Any, Any]] = [(SeverityIn, FastSeverity), (TimeIn, datetime)]
    hints = get_type_hints(td, include_extras=True)
    fields = {k: next((new for old, new in swap if v == old), v) for k, v in hints.items()}
    fast = TypedDict(name, fields)  # type: ignore[misc]
    fast.__pydantic_config__ = _FORBID  # type: ignore[attr-defined]
    return fast


AlertInFast = _core_only(AlertIn, "AlertInFast")
FindingInFast = _core_only(FindingIn, "FindingInFast")


def finish_time(item: Any) -> None:
    """What ``TimeIn`` does after parsing; raises ValueError where it would refuse."""
    item["time"] = _aware(item["time"])


def _sev(value: str | int) -> Severity:
    return Severity(value) if isinstance(value, int) else Severity.parse(value)


def _ref(r: ResourceIn) -> ResourceRef:
    return ResourceRef(r["kind"], r["name"], r.get("namespace"), r.get("cluster"), r.get("uid"))


def _derived_id(a: AlertIn, when: datetime) -> str:
    """An alert's id when the producer sent none: from its content and its UTC time."""
    fields = a.get("fields") or {}
    return content_id(
        when.isoformat(), a["rule"], a.get("source", "syscall"), a.get("output", ""), fields
    )


def alert_from_input(a: AlertIn) -> Alert:
    when = _aware(a["time"])
    fields = a.get("fields") or {}
    source = a.get("source", "syscall")
    output = a.get("output", "")
    ident = a.get("id") or _derived_id(a, when)
    mitre = a.get("mitre")
    return Alert(
        id=ident,
        time=when,
        rule=a["rule"],
        severity=_sev(a["severity"]),
        source=source,
        output=output,
        mitre=Mitre(mitre["tactic"], mitre.get("technique")) if mitre else None,
        fields=fields,
        resources=tuple(_ref(r) for r in a.get("resources", ())),
        tags=tuple(a.get("tags", ())),
        cluster=a.get("cluster"),
        namespace=a.get("namespace"),
        node=a.get("node"),
        simulated=a.get("simulated", False),
    )


_LEVELS = {s.name.lower(): int(s) for s in Severity}


def alert_bulk_input(a: AlertIn) -> dict[str, Any]:
    """A validated alert made ready for the store's bulk path (``insert_wire``): the id derived
    when absent and the severity as its level, exactly as :func:`alert_from_input` does; the
    rest stays as parsed (the store applies the same defaults). Changes ``a`` in place: it is
    the request's own parsed copy."""
    item: dict[str, Any] = a  # type: ignore[assignment]
    if not item.get("id"):
        item["id"] = _derived_id(a, a["time"])  # UTC: validated by TimeIn / finish_time
    severity = a["severity"]
    if not isinstance(severity, int):
        level = _LEVELS.get(severity.lower())
        item["severity"] = level if level is not None else int(Severity.parse(severity))
    return item


def finding_from_input(f: FindingIn) -> Finding:
    res = f["resource"]
    ident = f.get("id") or content_id(
        f["kind"].value,
        f["check"],
        res["kind"],
        res["name"],
        res.get("namespace"),
        res.get("cluster"),
    )
    return Finding(
        id=ident,
        time=_aware(f["time"]),
        kind=f["kind"],
        check=f["check"],
        title=f["title"],
        severity=_sev(f["severity"]),
        resource=_ref(res),
        details=f.get("details") or {},
        remediation=f.get("remediation"),
    )


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertPatch(Strict):
    status: AlertStatus | None = None
    comment: Annotated[str, Field(min_length=1, max_length=10000)] | None = None


class FindingPatch(Strict):
    status: FindingStatus | None = None
    comment: Annotated[str, Field(min_length=1, max_length=10000)] | None = None


def _comments(comments: tuple[Comment, ...]) -> list[dict[str, Any]]:
    return [{"author": c.author, "time": c.time.isoformat(), "text": c.text} for c in comments]


def _resource(ref: ResourceRef) -> dict[str, Any]:
    return {
        "kind": ref.kind,
        "name": ref.name,
        "namespace": ref.namespace,
        "cluster": ref.cluster,
        "uid": ref.uid,
    }


def severity_out(sev: Severity) -> dict[str, Any]:
    return {"severity": sev.label, "severity_level": int(sev), "ui_severity": sev.ui.value}


def alert_out(alert: Alert) -> dict[str, Any]:
    """The API's view of an alert: the input form plus severity views, status and comments."""
    return {
        **alert_to_wire(alert),
        **severity_out(alert.severity),
        "resources": [_resource(r) for r in alert.resources],  # every key, null when unset
        "status": alert.status.value,
        "comments": _comments(alert.comments),
    }


def finding_out(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.id,
        "time": finding.time.isoformat(),
        "kind": finding.kind.value,
        "check": finding.check,
        "title": finding.title,
        **severity_out(finding.severity),
        "resource": _resource(finding.resource),
        "details": dict(finding.details),
        "remediation": finding.remediation,
        "status": finding.status.value,
        "comments": _comments(finding.comments),
    }


def parse_severities(values: list[str]) -> tuple[Severity, ...]:
    """Severity filters: Falco names (``warning``) or UI names (``High``), comma lists allowed."""
    out: list[Severity] = []
    ui_names = {u.value.lower(): u for u in UiSeverity}
    for value in values:
        for part in filter(None, (p.strip() for p in value.split(","))):
            if part.lower() in ui_names:
                out.extend(Severity.for_ui(ui_names[part.lower()]))
            else:
                out.append(Severity.parse(part))
    return tuple(dict.fromkeys(out))
