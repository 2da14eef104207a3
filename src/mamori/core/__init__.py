"""Shared vocabulary of mamori. Imports nothing else from mamori.

The names below are loaded on first access: importing one submodule (``mamori.core.errors``,
as every CLI command does) should not build every dataclass of events and findings.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_MODULES = {
    "MamoriError": "errors",
    "NotFoundError": "errors",
    "ValidationError": "errors",
    "ContainerInfo": "events",
    "Event": "events",
    "EventKind": "events",
    "FileInfo": "events",
    "K8sAuditInfo": "events",
    "K8sInfo": "events",
    "NetworkInfo": "events",
    "ProcessInfo": "events",
    "Alert": "findings",
    "AlertStatus": "findings",
    "Comment": "findings",
    "Finding": "findings",
    "FindingKind": "findings",
    "FindingStatus": "findings",
    "Mitre": "findings",
    "ResourceRef": "findings",
    "Severity": "severity",
    "UiSeverity": "severity",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'mamori.core' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mamori.core.{module}"), name)


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
