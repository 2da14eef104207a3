"""MAM-K8S-001..016: the Defender for Containers data-plane hardening checks."""

from __future__ import annotations

from typing import Any

from mamori.posture.checks.base import Check
from mamori.posture.checks.defender.apparmor import APPARMOR
from mamori.posture.checks.defender.capabilities import LEAST_PRIVILEGE, SYS_ADMIN
from mamori.posture.checks.defender.context import (
    ESCALATION,
    PRIVILEGED,
    READ_ONLY_ROOT,
    RUN_AS_NON_ROOT,
)
from mamori.posture.checks.defender.network import (
    HOST_NAMESPACES,
    HOST_NETWORK,
    HTTPS_ONLY,
    SERVICE_PORTS,
)
from mamori.posture.checks.defender.objects import AUTOMOUNT, DEFAULT_NAMESPACE
from mamori.posture.checks.defender.resources import LIMITS, REGISTRIES
from mamori.posture.checks.defender.volumes import HOST_PATHS

CHECKS: tuple[Check[Any], ...] = (
    LIMITS,
    REGISTRIES,
    LEAST_PRIVILEGE,
    APPARMOR,
    SERVICE_PORTS,
    HOST_NETWORK,
    HOST_PATHS,
    ESCALATION,
    HOST_NAMESPACES,
    READ_ONLY_ROOT,
    HTTPS_ONLY,
    AUTOMOUNT,
    DEFAULT_NAMESPACE,
    SYS_ADMIN,
    PRIVILEGED,
    RUN_AS_NON_ROOT,
)
