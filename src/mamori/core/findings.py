"""Alerts (runtime and control-plane detections) and findings (posture, vulnerabilities)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from mamori.core.severity import Severity


class AlertStatus(enum.StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class FindingKind(enum.StrEnum):
    POSTURE = "posture"
    VULNERABILITY = "vulnerability"


class FindingStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


@dataclass(frozen=True, slots=True)
class Mitre:
    """A MITRE ATT&CK tactic and technique, e.g. ``Execution`` / ``T1059``."""

    tactic: str
    technique: str | None = None


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """A reference to what an alert or finding is about (pod, container, image, node ...)."""

    kind: str
    name: str
    namespace: str | None = None
    cluster: str | None = None
    uid: str | None = None


@dataclass(frozen=True, slots=True)
class Comment:
    author: str
    time: datetime
    text: str


@dataclass(frozen=True, slots=True)
class Alert:
    """A detection raised against an event.

    ``id`` is stable: producers derive it from the event (see ``mamori.core.ids``), so that sending
    the same alert twice stores one row.
    """

    id: str
    time: datetime
    rule: str
    severity: Severity
    source: str
    output: str
    mitre: Mitre | None = None
    fields: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    resources: tuple[ResourceRef, ...] = ()
    tags: tuple[str, ...] = ()
    cluster: str | None = None
    namespace: str | None = None
    node: str | None = None
    status: AlertStatus = AlertStatus.NEW
    comments: tuple[Comment, ...] = ()
    simulated: bool = False


@dataclass(frozen=True, slots=True)
class Finding:
    """A posture or vulnerability result against a resource."""

    id: str
    time: datetime
    kind: FindingKind
    check: str
    title: str
    severity: Severity
    resource: ResourceRef
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    remediation: str | None = None
    status: FindingStatus = FindingStatus.OPEN
    comments: tuple[Comment, ...] = ()
