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
from mamori.posture.exemptions import NONE, PREFIX, Exemptions, exemptions_for
from mamori.posture.model import (
    Diagnostic,
    FieldPath,
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
    """What a scan knows beyond one object: config, ServiceAccounts, namespace labels."""

    config: ScanConfig
    service_accounts: Accounts = field(default_factory=dict)
    namespace_labels: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    _by_kind: dict[str, tuple[CheckSettings, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def checks_for(self, manifest: Manifest) -> tuple[CheckSettings, ...]:
        """The selected checks that apply to the manifest's kind (decided once per kind)."""
        kind = manifest.kind
        found = self._by_kind.get(kind)
        if found is None:
            found = tuple(s for s in self.config.checks if s.check.applies_to(manifest))
            if len(self._by_kind) < 256:  # a long-lived (admission) context sees few kinds
                self._by_kind[kind] = found
        return found


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
    wl = workload_of(m)
    if is_pod_bearing(m.kind) and wl is None:
        yield Diagnostic(
            "PST004", f"{m.kind} {m.name} has no pod template spec; not scanned", _location(m, ())
        )
        return
    if wl is None and m.kind not in OTHER_KINDS:
        if m.kind not in QUIET_KINDS:
            yield Diagnostic("PST003", f"unknown kind {m.kind}; not scanned", _location(m, ()))
        return
    namespace = m.namespace or ctx.config.namespace
    obj = _Object(Subject(m, wl, namespace, ctx.service_accounts), ctx)
    out: list[Result | Diagnostic] = []
    for settings in ctx.checks_for(m):
        obj.run_into(settings, out)
    yield from out


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


class _Object:
    """One object under evaluation: what every check on it shares is computed once.

    (The resource, the object's own location, its exclusion per distinct scope and whether it
    carries any exemption annotation at all.)
    """

    __slots__ = (
        "ctx",
        "exclusions",
        "exempt_keys",
        "locations",
        "resource",
        "subject",
        "where",
        "windows",
    )

    def __init__(self, subject: Subject, ctx: Context) -> None:
        self.subject, self.ctx = subject, ctx
        self.resource = resource_of(subject.manifest, subject.namespace)
        self.where = _location(subject.manifest, ())
        # Findings of different checks often point at the same field (privileged: Defender's
        # and the PSS check): each path is located once per object.
        self.locations: dict[FieldPath, Location] = {(): self.where}
        self.exclusions: dict[int, str | None] = {}
        self.exempt_keys = _has_exemption_annotations(subject)
        self.windows = subject.workload is not None and subject.workload.windows

    def run(self, settings: CheckSettings) -> Iterator[Result | Diagnostic]:
        out: list[Result | Diagnostic] = []
        self.run_into(settings, out)
        return iter(out)

    def run_into(self, settings: CheckSettings, out: list[Result | Diagnostic]) -> None:
        """One check's results, appended to ``out`` (no generator per check: ~36,000 of
        them in a 1,000-object scan)."""
        subject, check, resource = self.subject, settings.check, self.resource
        reason = self._pre_skip(settings)
        if reason:
            out.append(
                Result(check.id, Status.SKIP, resource, self.where, reason, upstream=check.upstream)
            )
            return
        if self.exempt_keys:
            exemptions, problems = _exemptions(settings, subject, self.ctx)
            out.extend(problems)
        else:
            exemptions = NONE
        try:
            outcomes = list(check.run(subject, settings.params))
        except Exception as exc:  # a bug in a check: reported, never silent
            message = f"check failed on this object: {type(exc).__name__}: {exc}"
            out.append(Result(check.id, Status.ERROR, resource, self.where, message))
            return
        if not outcomes:
            out.append(Result(check.id, _PASS, resource, self.where, upstream=check.upstream))
            return
        for outcome in outcomes:
            if isinstance(outcome, Skip):
                out.append(Result(check.id, Status.SKIP, resource, self.where, outcome.reason))
            else:
                where = self.locations.get(outcome.path)
                if where is None:
                    where = self.locations[outcome.path] = _location(subject.manifest, outcome.path)
                out.append(_finding(settings, subject, resource, outcome, exemptions, where))

    def _pre_skip(self, settings: CheckSettings) -> str | None:
        scope = settings.scope
        key = id(scope)
        if key in self.exclusions:
            reason = self.exclusions[key]
        else:
            reason = self.exclusions[key] = _object_exclusion(scope, self.subject, self.ctx)
        if reason:
            return reason
        wl, check = self.subject.workload, settings.check
        if check.linux_only and self.windows:
            return "not applicable to Windows pods"
        if wl is not None and check.pod_image_exclusion and scope.excluded_images:
            images = [ref.image for ref, _ in wl.containers()]
            if images and all(image_matches(i, scope.excluded_images) for i in images):
                return "every container's image is excluded"
        return None


_PASS = Status.PASS


def _has_exemption_annotations(subject: Subject) -> bool:
    """Whether the object or its pod template has any ``skip.mamori.io/`` annotation."""
    sources = [subject.manifest.metadata.get("annotations")]
    if subject.workload is not None:
        sources.append(subject.workload.annotations)
    return any(
        isinstance(found, Mapping) and any(str(k).startswith(PREFIX) for k in found)
        for found in sources
    )


def run_check(
    settings: CheckSettings, subject: Subject, ctx: Context
) -> Iterator[Result | Diagnostic]:
    """One check on one object (``evaluate`` runs them all with the shared work done once)."""
    return _Object(subject, ctx).run(settings)


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
    location: Location,
) -> Result:
    check, scope = settings.check, settings.scope
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
