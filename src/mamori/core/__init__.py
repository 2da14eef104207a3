"""Shared vocabulary of mamori. Imports nothing else from mamori."""

from mamori.core.errors import MamoriError, NotFoundError, ValidationError
from mamori.core.events import (
    ContainerInfo,
    Event,
    EventKind,
    FileInfo,
    K8sAuditInfo,
    K8sInfo,
    NetworkInfo,
    ProcessInfo,
)
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
from mamori.core.severity import Severity, UiSeverity

__all__ = [
    "Alert",
    "AlertStatus",
    "Comment",
    "ContainerInfo",
    "Event",
    "EventKind",
    "FileInfo",
    "Finding",
    "FindingKind",
    "FindingStatus",
    "K8sAuditInfo",
    "K8sInfo",
    "MamoriError",
    "Mitre",
    "NetworkInfo",
    "NotFoundError",
    "ProcessInfo",
    "ResourceRef",
    "Severity",
    "UiSeverity",
    "ValidationError",
]
