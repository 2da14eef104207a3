"""Security-context checks: MAM-K8S-008, 010, 015 and 016 (run as non-root)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import field
from typing import Any, Literal

from mamori.posture.checks.base import Check, NoParams, Outcome, Params, Subject, Violation, params
from mamori.posture.checks.util import is_true, sc, sc_path
from mamori.posture.model import ContainerRef, FieldPath, Level


@params
class EscalationParams(Params):
    require_explicit_false: bool = True


def escalation(s: Subject, p: EscalationParams) -> Iterator[Outcome]:
    for ref, body in s.pod.containers():
        value = sc(body).get("allowPrivilegeEscalation")
        bad = value is not False if p.require_explicit_false else value is True
        if bad:
            message = "allows privilege escalation" + ("" if value else " (not set to false)")
            yield Violation(sc_path(ref, "allowPrivilegeEscalation"), message, ref, value)


ESCALATION: Check[EscalationParams] = Check(
    id="MAM-K8S-008",
    title="Container with privilege escalation should be avoided",
    severity=Level.MEDIUM,
    family="defender",
    run=escalation,
    params=EscalationParams,
    fields=("<c>.securityContext.allowPrivilegeEscalation",),
    pss=("R allowPrivilegeEscalation",),
    azure_policy_id="1c6e92c9-99f0-4e55-9cf2-0c234dc48f99",
    linux_only=True,
    remediation="Set allowPrivilegeEscalation to false (and drop privileged and SYS_ADMIN).",
    fix="securityContext: {allowPrivilegeEscalation: false}",
)


def read_only_root(s: Subject, _: NoParams) -> Iterator[Outcome]:
    for ref, body in s.pod.containers():
        value = sc(body).get("readOnlyRootFilesystem")
        if value is not True:
            path = sc_path(ref, "readOnlyRootFilesystem")
            yield Violation(path, "root filesystem is writable", ref, value)


READ_ONLY_ROOT: Check[NoParams] = Check(
    id="MAM-K8S-010",
    title="Immutable (read-only) root filesystem should be enforced for containers",
    severity=Level.MEDIUM,
    family="defender",
    run=read_only_root,
    params=NoParams,
    fields=("<c>.securityContext.readOnlyRootFilesystem",),
    azure_policy_id="df49d893-a74c-421d-bc95-c663042e5b80",
    linux_only=True,
    remediation="Mount the root filesystem read-only; give the application an emptyDir to write.",
    fix="securityContext: {readOnlyRootFilesystem: true}",
)


def privileged(s: Subject, _: NoParams) -> Iterator[Outcome]:
    for ref, body in s.pod.containers():
        if is_true(sc(body).get("privileged")):
            yield Violation(sc_path(ref, "privileged"), "runs privileged", ref, True)


PRIVILEGED: Check[NoParams] = Check(
    id="MAM-K8S-015",
    title="Privileged containers should be avoided",
    severity=Level.MEDIUM,
    family="defender",
    run=privileged,
    params=NoParams,
    fields=("<c>.securityContext.privileged",),
    pss=("B privileged",),
    azure_policy_id="95edb821-ddaf-4404-9732-666045e056b4",
    remediation="Do not run containers privileged; grant only the capabilities they need.",
    fix="securityContext: {privileged: false}",
)

Rule = Literal["MustRunAs", "MayRunAs", "RunAsAny"]


@params
class IdRange(Params):
    min: int
    max: int = -1


@params
class GroupRule(Params):
    rule: Rule = "MayRunAs"
    ranges: list[IdRange] = [IdRange(min=1, max=-1)]


@params
class UserRule(Params):
    rule: Literal["MustRunAsNonRoot", "MustRunAs", "RunAsAny"] = "MustRunAsNonRoot"
    ranges: list[IdRange] = []


@params
class RunAsParams(Params):
    run_as_user: UserRule = field(default_factory=UserRule)
    run_as_group: GroupRule = field(default_factory=GroupRule)
    supplemental_groups: GroupRule = field(default_factory=GroupRule)
    fs_group: GroupRule = field(default_factory=GroupRule)
    relax_for_user_namespaces: bool = True


def _in_range(value: Any, ranges: list[IdRange]) -> bool:
    return isinstance(value, int) and any(
        value >= r.min and (r.max == -1 or value <= r.max) for r in ranges
    )


def _effective(
    s: Subject, ref: ContainerRef, body: Mapping[str, Any], key: str
) -> tuple[Any, FieldPath]:
    own = sc(body).get(key)
    if own is not None:
        return own, sc_path(ref, key)
    pod = s.pod
    value = pod.pod_security_context.get(key)
    if value is not None:
        return value, (*pod.spec_path, "securityContext", key)
    return None, sc_path(ref, key)


def _user(
    s: Subject, p: RunAsParams, ref: ContainerRef, body: Mapping[str, Any]
) -> Iterator[Outcome]:
    rule = p.run_as_user
    if rule.rule == "RunAsAny":
        return
    if p.relax_for_user_namespaces and s.pod.spec.get("hostUsers") is False:
        return
    user, path = _effective(s, ref, body, "runAsUser")
    if rule.rule == "MustRunAs":
        if not _in_range(user, rule.ranges):
            yield Violation(path, f"runAsUser {user} is not in the allowed ranges", ref, user)
        return
    non_root, nr_path = _effective(s, ref, body, "runAsNonRoot")
    if user == 0:
        yield Violation(path, "runs as root (runAsUser 0)", ref, 0)
    elif user is None and non_root is not True:
        yield Violation(nr_path, "may run as root (no runAsNonRoot: true, no runAsUser)", ref)


def _group(
    rule: GroupRule, value: Any, path: FieldPath, what: str, ref: ContainerRef | None
) -> Iterator[Outcome]:
    if rule.rule == "RunAsAny":
        return
    if value is None:
        if rule.rule == "MustRunAs":
            yield Violation(path, f"{what} is not set", ref)
        return
    values = value if isinstance(value, list) else [value]
    for v in values:
        if not _in_range(v, rule.ranges):
            yield Violation(path, f"{what} {v} is not in the allowed ranges", ref, v)


def run_as(s: Subject, p: RunAsParams) -> Iterator[Outcome]:
    pod = s.pod
    for ref, body in pod.containers():
        yield from _user(s, p, ref, body)
        group, path = _effective(s, ref, body, "runAsGroup")
        yield from _group(p.run_as_group, group, path, "runAsGroup", ref)
    psc, base = pod.pod_security_context, (*pod.spec_path, "securityContext")
    supplemental = psc.get("supplementalGroups") or None
    yield from _group(
        p.supplemental_groups,
        supplemental,
        (*base, "supplementalGroups"),
        "supplementalGroups",
        None,
    )
    yield from _group(p.fs_group, psc.get("fsGroup"), (*base, "fsGroup"), "fsGroup", None)


RUN_AS_NON_ROOT: Check[RunAsParams] = Check(
    id="MAM-K8S-016",
    title="Running containers as root user should be avoided",
    severity=Level.HIGH,
    family="defender",
    run=run_as,
    params=RunAsParams,
    fields=(
        "<c>.securityContext.runAsUser",
        "<c>.securityContext.runAsNonRoot",
        "<c>.securityContext.runAsGroup",
        "spec.securityContext.supplementalGroups[]",
        "spec.securityContext.fsGroup",
    ),
    pss=("R runAsNonRoot", "R runAsUser"),
    azure_policy_id="f06ddb64-5fa3-4b77-b166-acb36f7f6042",
    linux_only=True,
    remediation="Run as a non-root user with a non-root group.",
    fix="securityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001}",
)
