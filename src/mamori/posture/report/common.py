"""What every format needs: check metadata per result, categories, stable fingerprints."""

from __future__ import annotations

from typing import Any

from mamori.posture.checks import BY_ID
from mamori.posture.checks.base import Check
from mamori.posture.model import Result, format_path

TOOL = "mamori"


def check_of(result: Result) -> Check[Any]:
    return BY_ID[result.check_id]


def category(check: Check[Any]) -> str:
    if check.family == "defender":
        return "Data-plane hardening"
    return f"Pod Security Standards ({check.family.removeprefix('pss-')})"


def fingerprint(r: Result) -> str:
    """Check, resource, container and field path: not the line, so moved code keeps its id."""
    import hashlib  # here: a JSON report does not need it, and it costs ~3 ms to import

    parts = [
        r.check_id,
        r.resource.kind,
        r.resource.namespace or "",
        r.resource.name,
        r.container.name if r.container else "",
        format_path(r.field_path),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
