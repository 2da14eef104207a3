"""Run checks over manifests: scoping, exclusions, exemptions, locations, pass results.

``scan`` yields ``Result``s and ``Diagnostic``s as it goes, so a caller can stream a cluster
without holding it in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mamori.posture.checks.base import Skip, Subject, Violation
from mamori.posture.checks.util import image_matches
from mamori.posture.config import CheckSettings, ScanConfig, Scope
from mamori.posture.exemptions import NONE, Exemptions, exemptions_for
from mamori.posture.model import (
    Diagnostic,
    Location,
    Manifest,
    ResourceId,
    Result,
    Status,
)
from mamori.posture.workload import OTHER_KINDS, is_pod_bearing, workload_of

# Kinds mamori knows and deliberately does not check (no warning for them).
QUIET_KINDS = frozenset(
    {
        "Namespace",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "PersistentVolume",
        "StorageClass",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "CustomResourceDefinition",
        "Endpoints",
        "EndpointSlice",
        "LimitRange",
        "ResourceQuota",
        "PriorityClass",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "APIService",
        "Lease",
        "Event",
        "Node",
        "IngressClass",
        "CSIDriver",
        "RuntimeClass",
        "ControllerRevision",
        "PostureConfig",
    }
)

Accounts = Mapping[tuple[str | None, str], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Context:
    config: ScanConfig
    service_accounts: Accounts = field(default_factory=dict)
    namespace_labels: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def resource_of(m: Manifest, namespace: str | None) -> ResourceId:
    uid = m.metadata.get("uid")
    return ResourceId(
        m.kind, m.name, namespace, str(m.obj.get("apiVersion", "")), str(uid) if uid else None
    )


def service_accounts_in(
    manifests: Iterable[Manifest], namespace: str | None
) -> dict[tuple[str | None, str], Mapping[str, Any]]:
    """ServiceAccounts of the same input, for MAM-K8S-012's lookup."""
    return {
        (m.namespace or namespace, m.name): m.obj for m in manifests if m.kind == "ServiceAccount"
    }


def scan(manifests: Iterable[Manifest], ctx: Context) -> Iterator[Result | Diagnostic]:
    for manifest in manifests:
        yield from evaluate(manifest, ctx)


def evaluate(m: Manifest, ctx: Context) -> Iterator[Result | Diagnostic]:
    """Every selected check on one object."""
    where = _location(m, ())
    wl = workload_of(m)
    if is_pod_bearing(m.kind) and wl is None:
        yield Diagnostic(
            "PST004", f"{m.kind} {m.name} has no pod template spec; not scanned", where
        )
        return
    if wl is None and m.kind not in OTHER_KINDS:
        if m.kind not in QUIET_KINDS:
            yield Diagnostic("PST003", f"unknown kind {m.kind}; not scanned", where)
        return
    namespace = m.namespace or ctx.config.namespace
    subject = Subject(m, wl, namespace, ctx.service_accounts)
    for settings in ctx.config.checks:
        if settings.check.applies_to(m):
            yield from run_check(settings, subject, ctx)


def _location(m: Manifest, path: tuple[Any, ...]) -> Location:
    pos, _ = m.locate(path)
    if pos is None:
        return Location(m.file, None, None, m.helm_source)
    return Location(m.file, pos.line, pos.column, m.helm_source)


def _object_exclusion(scope: Scope, subject: Subject, ctx: Context) -> str | None:
    ns = subject.namespace
    if ns is not None and ns in scope.excluded_namespaces:
        return f"namespace {ns} is excluded"
    if scope.namespaces and ns is not None and ns not in scope.namespaces:
        return f"namespace {ns} is not in the included namespaces"
    wl = subject.workload
    labels = wl.labels if wl is not None else subject.manifest.metadata.get("labels") or {}
    if not scope.label_selector.empty and not scope.label_selector.matches(labels):
        return "labels do not match labelSelector"
    if not scope.exclude_label_selector.empty and scope.exclude_label_selector.matches(labels):
        return "labels match excludeLabelSelector"
    ns_labels = ctx.namespace_labels.get(ns or "")
    selector = scope.namespace_selector
    if not selector.empty and ns_labels is not None and not selector.matches(ns_labels):
        return "namespace labels do not match namespaceSelector"
    return None


def _pre_skip(settings: CheckSettings, subject: Subject, ctx: Context) -> str | None:
    reason = _object_exclusion(settings.scope, subject, ctx)
    if reason:
        return reason
    wl, check = subject.workload, settings.check
    if wl is not None and check.linux_only and wl.windows:
        return "not applicable to Windows pods"
    if wl is not None and check.pod_image_exclusion and settings.scope.excluded_images:
        images = [ref.image for ref, _ in wl.containers()]
        if images and all(image_matches(i, settings.scope.excluded_images) for i in images):
            return "every container's image is excluded"
    return None


def run_check(
    settings: CheckSettings, subject: Subject, ctx: Context
) -> Iterator[Result | Diagnostic]:
    m, check = subject.manifest, settings.check
    resource = resource_of(m, subject.namespace)
    reason = _pre_skip(settings, subject, ctx)
    if reason:
        yield Result(
            check.id, Status.SKIP, resource, _location(m, ()), reason, upstream=check.upstream
        )
        return
    exemptions, problems = _exemptions(settings, subject, ctx)
    yield from problems
    try:
        outcomes = list(check.run(subject, settings.params))
    except Exception as exc:  # a bug in a check: reported, never silent
        message = f"check failed on this object: {type(exc).__name__}: {exc}"
        yield Result(check.id, Status.ERROR, resource, _location(m, ()), message)
        return
    if not outcomes:
        yield Result(check.id, Status.PASS, resource, _location(m, ()), upstream=check.upstream)
    for outcome in outcomes:
        if isinstance(outcome, Skip):
            yield Result(check.id, Status.SKIP, resource, _location(m, ()), outcome.reason)
        else:
            yield _finding(settings, subject, resource, outcome, exemptions)


def _exemptions(
    settings: CheckSettings, subject: Subject, ctx: Context
) -> tuple[Exemptions, list[Diagnostic]]:
    cfg, cid = ctx.config, settings.check.id
    if not cfg.allow_annotation_exemptions or (
        cfg.exemptable is not None and cid not in cfg.exemptable
    ):
        return NONE, []
    return exemptions_for(cid, subject.manifest, subject.workload, cfg.today)


def _finding(
    settings: CheckSettings,
    subject: Subject,
    resource: ResourceId,
    v: Violation,
    exemptions: Exemptions,
) -> Result:
    m, check, scope = subject.manifest, settings.check, settings.scope
    location = _location(m, v.path)
    status, message, exemption = Status.FAIL, v.message, None
    ref = v.container
    if ref is not None and check.container_exclusions and ref.name in scope.excluded_containers:
        status, message = Status.SKIP, f"container {ref.name} is excluded"
    elif (
        ref is not None
        and check.image_exclusions
        and image_matches(ref.image, scope.excluded_images)
    ):
        status, message = Status.SKIP, f"image {ref.image} is excluded"
    else:
        exemption = exemptions.for_container(ref.name if ref else None)
        if exemption is not None and not exemption.expired:
            status = Status.SKIP
        elif exemption is not None:
            message += " (exemption expired)"
    return Result(
        check.id,
        status,
        resource,
        location,
        message,
        ref,
        v.path,
        v.value,
        exemption,
        check.upstream,
    )
