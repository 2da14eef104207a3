"""REST schemas (pydantic, at the edge) and their conversion to and from core objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

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


def _severity(value: Any) -> Severity:
    if isinstance(value, bool):
        raise ValueError("severity must be a Falco priority name or 0..7")
    if isinstance(value, int):
        return Severity(value)
    if isinstance(value, str):
        return Severity.parse(value)
    raise ValueError("severity must be a Falco priority name or 0..7")


SeverityIn = Annotated[Severity, BeforeValidator(_severity)]
ShortStr = Annotated[str, Field(min_length=1, max_length=_SHORT)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MitreIn(Strict):
    tactic: ShortStr
    technique: Annotated[str, Field(max_length=32)] | None = None


class ResourceIn(Strict):
    kind: ShortStr
    name: Annotated[str, Field(min_length=1, max_length=512)]
    namespace: Annotated[str, Field(max_length=_SHORT)] | None = None
    cluster: Annotated[str, Field(max_length=_SHORT)] | None = None
    uid: Annotated[str, Field(max_length=_SHORT)] | None = None

    def to_core(self) -> ResourceRef:
        return ResourceRef(self.kind, self.name, self.namespace, self.cluster, self.uid)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class AlertIn(Strict):
    """An alert as producers send it. Without ``id``, one is derived from the content."""

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")] | None = (
        None
    )
    time: datetime
    rule: ShortStr
    severity: SeverityIn
    source: Annotated[str, Field(min_length=1, max_length=32)] = "syscall"
    output: Annotated[str, Field(max_length=65536)] = ""
    mitre: MitreIn | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    resources: list[ResourceIn] = Field(default_factory=list, max_length=64)
    tags: list[Annotated[str, Field(max_length=_SHORT)]] = Field(
        default_factory=list, max_length=64
    )
    cluster: Annotated[str, Field(max_length=_SHORT)] | None = None
    namespace: Annotated[str, Field(max_length=_SHORT)] | None = None
    node: Annotated[str, Field(max_length=_SHORT)] | None = None
    simulated: bool = False

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _aware(value)

    def to_core(self) -> Alert:
        ident = self.id or content_id(
            self.time.isoformat(), self.rule, self.source, self.output, self.fields
        )
        return Alert(
            id=ident,
            time=self.time,
            rule=self.rule,
            severity=self.severity,
            source=self.source,
            output=self.output,
            mitre=Mitre(self.mitre.tactic, self.mitre.technique) if self.mitre else None,
            fields=self.fields,
            resources=tuple(r.to_core() for r in self.resources),
            tags=tuple(self.tags),
            cluster=self.cluster,
            namespace=self.namespace,
            node=self.node,
            simulated=self.simulated,
        )


class FindingIn(Strict):
    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")] | None = (
        None
    )
    time: datetime
    kind: FindingKind
    check: ShortStr
    title: Annotated[str, Field(min_length=1, max_length=4096)]
    severity: SeverityIn
    resource: ResourceIn
    details: dict[str, Any] = Field(default_factory=dict)
    remediation: Annotated[str, Field(max_length=65536)] | None = None

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _aware(value)

    def to_core(self) -> Finding:
        res = self.resource
        ident = self.id or content_id(
            self.kind.value, self.check, res.kind, res.name, res.namespace, res.cluster
        )
        return Finding(
            id=ident,
            time=self.time,
            kind=self.kind,
            check=self.check,
            title=self.title,
            severity=self.severity,
            resource=res.to_core(),
            details=self.details,
            remediation=self.remediation,
        )


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
    return {
        "id": alert.id,
        "time": alert.time.isoformat(),
        "rule": alert.rule,
        **severity_out(alert.severity),
        "source": alert.source,
        "output": alert.output,
        "mitre": (
            {"tactic": alert.mitre.tactic, "technique": alert.mitre.technique}
            if alert.mitre
            else None
        ),
        "fields": dict(alert.fields),
        "resources": [_resource(r) for r in alert.resources],
        "tags": list(alert.tags),
        "cluster": alert.cluster,
        "namespace": alert.namespace,
        "node": alert.node,
        "status": alert.status.value,
        "simulated": alert.simulated,
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
