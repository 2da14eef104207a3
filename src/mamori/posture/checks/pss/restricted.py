"""MAM-PSS-013..019: the Pod Security Standards restricted checks (v1.37).

At the restricted level a restricted check replaces its baseline counterpart (``overrides``).
"""

from __future__ import annotations

from typing import Any

from mamori.posture.checks.pss.baseline import Found, _proc_mount
from mamori.posture.checks.pss.common import (
    PodRule,
    containers_sc,
    pod_sc_path,
    pss_check,
    user_namespaced,
)
from mamori.posture.model import Level
from mamori.posture.workload import Workload, as_list, as_map

ALLOWED_VOLUMES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)


def restricted_volumes(pod: Workload) -> Found:
    for i, volume in enumerate(as_list(pod.spec.get("volumes"))):
        sources = [k for k, v in as_map(volume).items() if k != "name" and v is not None]
        # A volume with no source is an emptyDir once the API server has defaulted it.
        if sources and not any(k in ALLOWED_VOLUMES for k in sources):
            bad = [k for k in sources if k not in ALLOWED_VOLUMES]
            name = as_map(volume).get("name")
            where = (*pod.spec_path, "volumes", i, *bad[:1])
            yield where, f'volume "{name}" uses {", ".join(bad)}', None, bad


def allow_privilege_escalation(pod: Workload) -> Found:
    for ref, sc, path in containers_sc(pod):
        if sc.get("allowPrivilegeEscalation") is not False:
            where = (*path, "allowPrivilegeEscalation")
            message = f'container "{ref.name}" must set allowPrivilegeEscalation=false'
            yield where, message, ref, sc.get("allowPrivilegeEscalation")


def run_as_non_root(pod: Workload) -> Found:
    if user_namespaced(pod):
        return
    pod_value = pod.pod_security_context.get("runAsNonRoot")
    if pod_value is False:
        yield (*pod_sc_path(pod), "runAsNonRoot"), "pod runAsNonRoot=false", None, False
    for ref, sc, path in containers_sc(pod):
        own = sc.get("runAsNonRoot")
        if own is False or (own is None and pod_value is not True):
            message = f'container "{ref.name}" must set runAsNonRoot=true'
            yield (*path, "runAsNonRoot"), message, ref, own


def run_as_user(pod: Workload) -> Found:
    if user_namespaced(pod):
        return
    if pod.pod_security_context.get("runAsUser") == 0:
        yield (*pod_sc_path(pod), "runAsUser"), "pod runAsUser=0", None, 0
    for ref, sc, path in containers_sc(pod):
        if sc.get("runAsUser") == 0:
            yield (*path, "runAsUser"), f'container "{ref.name}" runAsUser=0', ref, 0


VALID_SECCOMP = ("RuntimeDefault", "Localhost")


def seccomp_restricted(pod: Workload) -> Found:
    pod_type = as_map(pod.pod_security_context.get("seccompProfile")).get("type")
    pod_ok = pod_type in VALID_SECCOMP
    if pod_type is not None and not pod_ok:
        where = (*pod_sc_path(pod), "seccompProfile", "type")
        yield where, f"pod seccompProfile {pod_type}", None, pod_type
    for ref, sc, path in containers_sc(pod):
        own = as_map(sc.get("seccompProfile")).get("type")
        if (own is not None and own not in VALID_SECCOMP) or (own is None and not pod_ok):
            where = (*path, "seccompProfile", "type")
            message = f'container "{ref.name}" must set seccompProfile RuntimeDefault or Localhost'
            yield where, message, ref, own


def capabilities_restricted(pod: Workload) -> Found:
    for ref, sc, path in containers_sc(pod):
        caps = as_map(sc.get("capabilities"))
        if "ALL" not in as_list(caps.get("drop")):
            message = f'container "{ref.name}" must drop ALL'
            yield (*path, "capabilities", "drop"), message, ref, caps.get("drop")
        for i, cap in enumerate(as_list(caps.get("add"))):
            if cap != "NET_BIND_SERVICE":
                where = (*path, "capabilities", "add", i)
                yield where, f'container "{ref.name}" adds {cap}', ref, cap


def proc_mount_restricted(pod: Workload) -> Found:
    return _proc_mount(pod, relax=False)


def _c(
    number: int,
    upstream: str,
    sev: Level,
    rule: PodRule,
    fields: tuple[str, ...],
    fix: str,
    overrides: str | None = None,
    windows_exempt: bool = False,
) -> Any:
    return pss_check(
        number,
        upstream,
        "restricted",
        sev,
        rule,
        fields=fields,
        remediation=f"Meet the Pod Security Standards restricted control {upstream}.",
        fix=fix,
        overrides=overrides,
        windows_exempt=windows_exempt,
    )


L, M, H = Level.LOW, Level.MEDIUM, Level.HIGH
RESTRICTED = (
    _c(
        13,
        "restrictedVolumes",
        L,
        restricted_volumes,
        ("spec.volumes[]",),
        "volumes: [{name: data, emptyDir: {}}]",
        overrides="hostPathVolumes",
    ),
    _c(
        14,
        "allowPrivilegeEscalation",
        M,
        allow_privilege_escalation,
        ("<c>.securityContext.allowPrivilegeEscalation",),
        "securityContext: {allowPrivilegeEscalation: false}",
        windows_exempt=True,
    ),
    _c(
        15,
        "runAsNonRoot",
        H,
        run_as_non_root,
        ("<c>.securityContext.runAsNonRoot",),
        "securityContext: {runAsNonRoot: true}",
    ),
    _c(
        16,
        "runAsUser",
        H,
        run_as_user,
        ("<c>.securityContext.runAsUser",),
        "securityContext: {runAsUser: 10001}",
    ),
    _c(
        17,
        "seccompProfile_restricted",
        L,
        seccomp_restricted,
        ("<c>.securityContext.seccompProfile.type",),
        "securityContext: {seccompProfile: {type: RuntimeDefault}}",
        overrides="seccompProfile_baseline",
        windows_exempt=True,
    ),
    _c(
        18,
        "capabilities_restricted",
        M,
        capabilities_restricted,
        ("<c>.securityContext.capabilities",),
        'securityContext: {capabilities: {drop: ["ALL"]}}',
        overrides="capabilities_baseline",
        windows_exempt=True,
    ),
    _c(
        19,
        "procMount_restricted",
        L,
        proc_mount_restricted,
        ("<c>.securityContext.procMount",),
        "securityContext: {procMount: Default}",
        overrides="procMount",
    ),
)
