"""MAM-PSS-001..019: Pod Security Standards, ported from pod-security-admission (v1.37)."""

from __future__ import annotations

from typing import Any

from mamori.posture.checks.base import Check
from mamori.posture.checks.pss.baseline import BASELINE
from mamori.posture.checks.pss.common import PSS_VERSION
from mamori.posture.checks.pss.restricted import RESTRICTED

CHECKS: tuple[Check[Any], ...] = (*BASELINE, *RESTRICTED)


def level_checks(level: str) -> tuple[Check[Any], ...]:
    """The checks of a level: restricted = baseline + restricted, minus overridden baseline."""
    if level == "baseline":
        return BASELINE
    replaced = {c.overrides for c in RESTRICTED if c.overrides}
    return (*(c for c in BASELINE if c.upstream not in replaced), *RESTRICTED)


__all__ = ["CHECKS", "PSS_VERSION", "level_checks"]
