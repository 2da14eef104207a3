"""MAM-K8S-003 (least privileged capabilities) and MAM-K8S-014 (CAP_SYS_ADMIN)."""

from __future__ import annotations

from collections.abc import Iterator

from mamori.posture.checks.base import Check, Outcome, Params, Subject, Violation, params
from mamori.posture.checks.util import capabilities, is_true, norm_cap, sc, sc_path
from mamori.posture.model import Level


@params
class CapabilitiesParams(Params):
    allowed_capabilities: list[str] = []
    required_drop_capabilities: list[str] = []


def least_privilege(s: Subject, p: CapabilitiesParams) -> Iterator[Outcome]:
    allowed = {norm_cap(c) for c in p.allowed_capabilities}
    required = [norm_cap(c) for c in p.required_drop_capabilities]
    for ref, body in s.pod.containers():
        if "*" not in allowed:
            for i, cap in enumerate(capabilities(body, "add")):
                if norm_cap(cap) not in allowed:
                    path = sc_path(ref, "capabilities", "add", i)
                    yield Violation(path, f"adds capability {cap}", ref, cap)
        dropped = {norm_cap(c) for c in capabilities(body, "drop")}
        if "ALL" in dropped:
            continue
        missing = [c for c in required if c not in dropped]
        if missing:
            path = sc_path(ref, "capabilities", "drop")
            yield Violation(path, f"does not drop {', '.join(missing)}", ref, missing)


LEAST_PRIVILEGE: Check[CapabilitiesParams] = Check(
    id="MAM-K8S-003",
    title="Least privileged Linux capabilities should be enforced for containers",
    severity=Level.MEDIUM,
    family="defender",
    run=least_privilege,
    params=CapabilitiesParams,
    fields=("<c>.securityContext.capabilities.add[]", "<c>.securityContext.capabilities.drop[]"),
    pss=("B capabilities_baseline", "R capabilities_restricted"),
    azure_policy_id="c26596ff-4d70-4e6a-9a30-c2506bd2f80c",
    linux_only=True,
    remediation="Drop all capabilities and add back only those in the allowed list.",
    fix='securityContext: {capabilities: {drop: ["ALL"]}}',
)


@params
class SysAdminParams(Params):
    treat_privileged_as_sys_admin: bool = False


def sys_admin(s: Subject, p: SysAdminParams) -> Iterator[Outcome]:
    for ref, body in s.pod.containers():
        for i, cap in enumerate(capabilities(body, "add")):
            if norm_cap(cap) in ("SYS_ADMIN", "ALL"):
                path = sc_path(ref, "capabilities", "add", i)
                yield Violation(path, f"adds capability {cap}", ref, cap)
        if p.treat_privileged_as_sys_admin and is_true(sc(body).get("privileged")):
            yield Violation(sc_path(ref, "privileged"), "privileged implies SYS_ADMIN", ref, True)


SYS_ADMIN: Check[SysAdminParams] = Check(
    id="MAM-K8S-014",
    title="Kubernetes clusters should not grant CAP_SYS_ADMIN security capabilities",
    severity=Level.HIGH,
    family="defender",
    run=sys_admin,
    params=SysAdminParams,
    fields=("<c>.securityContext.capabilities.add[]",),
    pss=("B capabilities_baseline",),
    azure_policy_id="d2e7ea85-6b44-4317-a0be-1b951587f626",
    linux_only=True,
    remediation="Do not add SYS_ADMIN (or ALL); use a narrower capability or a device plugin.",
    fix="securityContext: {capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}}",
)
