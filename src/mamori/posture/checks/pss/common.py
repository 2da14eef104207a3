"""Helpers for the Pod Security Standards checks (ported from pod-security-admission v1.37)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from mamori.posture.checks.base import Check, NoParams, Outcome, Subject, Violation
from mamori.posture.model import ContainerRef, FieldPath, Level
from mamori.posture.workload import Workload, as_map

PSS_VERSION = "v1.37"
PodRule = Callable[[Workload], Iterable[tuple[FieldPath, str, ContainerRef | None, Any]]]


def pss_check(
    number: int,
    upstream: str,
    level: str,
    severity: Level,
    rule: PodRule,
    *,
    fields: tuple[str, ...],
    remediation: str,
    fix: str,
    overrides: str | None = None,
    windows_exempt: bool = False,
) -> Check[NoParams]:
    """Wrap a pod rule (yielding path, message, container, value) as a MAM-PSS check."""

    def run(s: Subject, _: NoParams) -> list[Outcome]:
        pod = s.pod
        if windows_exempt and pod.windows:
            return []
        return [
            Violation(path, f"{upstream}: {message}", ref, value, upstream)
            for path, message, ref, value in rule(pod)
        ]

    return Check(
        id=f"MAM-PSS-{number:03d}",
        title=f"Pod Security Standards ({level}): {upstream}",
        severity=severity,
        family=f"pss-{level}",
        run=run,
        params=NoParams,
        fields=fields,
        upstream=upstream,
        remediation=remediation,
        fix=fix,
        overrides=overrides,
    )


def containers_sc(pod: Workload) -> Iterator[tuple[ContainerRef, Mapping[str, Any], FieldPath]]:
    """Each container (all three lists), its securityContext and that context's path."""
    for ref, body in pod.containers():
        yield ref, as_map(body.get("securityContext")), (*ref.path, "securityContext")


def pod_sc_path(pod: Workload) -> FieldPath:
    return (*pod.spec_path, "securityContext")


def user_namespaced(pod: Workload) -> bool:
    return pod.spec.get("hostUsers") is False
