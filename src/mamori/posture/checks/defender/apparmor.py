"""MAM-K8S-004: containers should only use allowed AppArmor profiles."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mamori.posture.checks.base import Check, Outcome, Params, Subject, Violation, params
from mamori.posture.checks.util import profile_allowed, sc, sc_path
from mamori.posture.model import ContainerRef, FieldPath, Level
from mamori.posture.workload import Workload, as_map

ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


@params
class AppArmorParams(Params):
    allowed_profiles: list[str] = ["runtime/default", "localhost/*"]
    require_explicit_profile: bool = True


def field_profile(value: Any) -> str | None:
    """An ``appArmorProfile`` field as the annotation spelling (None when unset)."""
    field = as_map(value)
    kind = field.get("type")
    if kind is None:
        return None
    if kind == "RuntimeDefault":
        return "runtime/default"
    if kind == "Localhost":
        return f"localhost/{field.get('localhostProfile', '')}"
    if kind == "Unconfined":
        return "unconfined"
    return str(kind)


def effective_profile(
    pod: Workload, ref: ContainerRef, body: Mapping[str, Any]
) -> tuple[str | None, FieldPath]:
    """Container field, else the annotation, else the pod field, else unset."""
    own = field_profile(sc(body).get("appArmorProfile"))
    if own is not None:
        return own, sc_path(ref, "appArmorProfile")
    key = ANNOTATION + ref.name
    if key in pod.annotations:
        return str(pod.annotations[key]), (*pod.meta_path, "annotations", key)
    pod_level = field_profile(pod.pod_security_context.get("appArmorProfile"))
    if pod_level is not None:
        return pod_level, (*pod.spec_path, "securityContext", "appArmorProfile")
    return None, sc_path(ref, "appArmorProfile")


def apparmor(s: Subject, p: AppArmorParams) -> Iterator[Outcome]:
    for ref, body in s.pod.containers():
        profile, path = effective_profile(s.pod, ref, body)
        if profile is None:
            if p.require_explicit_profile:
                yield Violation(path, "no AppArmor profile set", ref)
        elif not profile_allowed(profile, p.allowed_profiles):
            yield Violation(path, f"AppArmor profile {profile!r} is not allowed", ref, profile)


APPARMOR: Check[AppArmorParams] = Check(
    id="MAM-K8S-004",
    title="Containers should only use allowed AppArmor profiles",
    severity=Level.HIGH,
    family="defender",
    run=apparmor,
    params=AppArmorParams,
    fields=(
        "metadata.annotations[container.apparmor.security.beta.kubernetes.io/<name>]",
        "<c>.securityContext.appArmorProfile",
        "spec.securityContext.appArmorProfile",
    ),
    pss=("B appArmorProfile",),
    azure_policy_id="511f5417-5d12-434d-ab2e-816901e72a5e",
    linux_only=True,
    remediation="Run every container under the runtime's default or a localhost AppArmor profile.",
    fix="securityContext: {appArmorProfile: {type: RuntimeDefault}}",
)
