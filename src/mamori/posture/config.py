"""``PostureConfig`` (mamori.yaml): validated with pydantic, errors located at file:line:col.

The models are plain dataclasses (``checks.base.Params``): pydantic is imported only when a
config file is read, so a scan with the defaults does not pay for it.

The result is a ``ScanConfig``: each selected check with its validated parameters, its effective
scope (global exclusions plus its own, or its own alone with ``replaceDefaults``) and its action.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from mamori.posture.checks import BY_ID
from mamori.posture.checks.base import Check, Invalid, Params, params, validate
from mamori.posture.model import (
    Diagnostic,
    DiagnosticLevel,
    FieldPath,
    Location,
    Manifest,
    Position,
)
from mamori.posture.yamlload import load_text

DEFAULT_EXCLUDED_NAMESPACES = (
    "kube-system",
    "gatekeeper-system",
    "azure-arc",
    "azure-extensions-usage-system",
    "mamori-system",
)
DEFENDER_EXTRA_NAMESPACES = ("azuredefender", "mdc")
Action = Literal["audit", "warn", "deny"]


@params
class Requirement(Params):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = []


@params
class LabelSelector(Params):
    match_labels: dict[str, str] = {}
    match_expressions: list[Requirement] = []

    def matches(self, labels: Mapping[str, Any]) -> bool:
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        return all(_requirement(r, labels) for r in self.match_expressions)

    @property
    def empty(self) -> bool:
        return not self.match_labels and not self.match_expressions


def _requirement(r: Requirement, labels: Mapping[str, Any]) -> bool:
    present = r.key in labels
    if r.operator == "Exists":
        return present
    if r.operator == "DoesNotExist":
        return not present
    inside = present and str(labels[r.key]) in r.values
    return inside if r.operator == "In" else not inside


@params
class ScopeConfig(Params):
    excluded_namespaces: list[str] = []
    replace_defaults: bool = False
    namespaces: list[str] = []
    label_selector: LabelSelector = field(default_factory=LabelSelector)
    exclude_label_selector: LabelSelector = field(default_factory=LabelSelector)
    namespace_selector: LabelSelector = field(default_factory=LabelSelector)
    excluded_images: list[str] = []
    excluded_containers: list[str] = []


@params
class GlobalExclusions(ScopeConfig):
    allow_annotation_exemptions: bool = True
    annotation_exemptable_checks: list[str] | None = None


@params
class CheckConfig(ScopeConfig):
    enabled: bool = True
    action: Action | None = None
    params: dict[str, Any] = {}


_NO_CHECK_CONFIG = CheckConfig.defaults()


@params
class PostureConfig(Params):
    api_version: str | None = None
    kind: Literal["PostureConfig"] | None = None
    profile: Literal["default", "defender-parity"] = "default"
    action: Action = "warn"
    exclusions: GlobalExclusions = field(default_factory=GlobalExclusions)
    checks: dict[str, CheckConfig] = {}


@dataclass(frozen=True, slots=True)
class Scope:
    """A check's effective scoping: the global exclusions merged with its own."""

    excluded_namespaces: frozenset[str]
    namespaces: frozenset[str]
    label_selector: LabelSelector
    exclude_label_selector: LabelSelector
    namespace_selector: LabelSelector
    excluded_images: tuple[str, ...]
    excluded_containers: frozenset[str]


@dataclass(frozen=True, slots=True)
class CheckSettings:
    """A selected check as the engine runs it: parameters, effective scope, action."""

    check: Check[Any]
    params: Params
    scope: Scope
    action: Action


@dataclass(frozen=True, slots=True)
class ScanConfig:
    """What a scan needs from the configuration (made by ``build``)."""

    checks: tuple[CheckSettings, ...]
    namespace: str | None = None
    allow_annotation_exemptions: bool = True
    exemptable: frozenset[str] | None = None
    today: date = field(default_factory=date.today)


# Defender's built-in assignment values (profile defender-parity), sentinels included.
PARITY_PARAMS: dict[str, dict[str, Any]] = {
    "MAM-K8S-002": {"allowedImagesRegex": "^(.+){0}$"},
    "MAM-K8S-005": {"allowedServicePorts": ["-1"], "serviceTypes": ["*"]},
    "MAM-K8S-013": {"assumeDefaultNamespace": True},
    "MAM-K8S-016": {
        "runAsGroup": {"rule": "MustRunAs", "ranges": [{"min": 1, "max": -1}]},
    },
}


def _scope(glob: ScopeConfig, own: ScopeConfig, extra_ns: Sequence[str]) -> Scope:
    base_ns = [] if own.replace_defaults else [*DEFAULT_EXCLUDED_NAMESPACES, *extra_ns]
    if not own.replace_defaults:
        base_ns += glob.excluded_namespaces
    merge = not own.replace_defaults
    return Scope(
        excluded_namespaces=frozenset(base_ns + own.excluded_namespaces),
        namespaces=frozenset((glob.namespaces if merge else []) + own.namespaces),
        label_selector=own.label_selector if not own.label_selector.empty else glob.label_selector,
        exclude_label_selector=own.exclude_label_selector
        if not own.exclude_label_selector.empty
        else glob.exclude_label_selector,
        namespace_selector=own.namespace_selector
        if not own.namespace_selector.empty
        else glob.namespace_selector,
        excluded_images=tuple((glob.excluded_images if merge else []) + own.excluded_images),
        excluded_containers=frozenset(
            (glob.excluded_containers if merge else []) + own.excluded_containers
        ),
    )


class ConfigError(Exception):
    """The configuration is invalid; ``diagnostics`` say where."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("; ".join(str(d) for d in diagnostics))
        self.diagnostics = diagnostics


def build(
    config: PostureConfig,
    checks: Sequence[Check[Any]],
    *,
    namespace: str | None = None,
    manifest: Manifest | None = None,
) -> ScanConfig:
    """Resolve a validated config for ``checks``; parameter errors raise ``ConfigError``."""
    problems: list[Diagnostic] = []
    settings: list[CheckSettings] = []
    scopes: list[Scope] = []
    parity = config.profile == "defender-parity"
    extra_ns = DEFENDER_EXTRA_NAMESPACES if parity else ()
    for cid in config.checks:
        if cid not in BY_ID:
            problems.append(_located(manifest, ("checks", cid), f"unknown check {cid}"))
    for check in checks:
        own = config.checks.get(check.id) or _NO_CHECK_CONFIG
        if not own.enabled:
            continue
        raw = {**(PARITY_PARAMS.get(check.id, {}) if parity else {}), **own.params}
        try:
            params = validate(check.params, raw) if raw else check.default_params()
        except Invalid as exc:
            problems += _errors(manifest, ("checks", check.id, "params"), exc)
            continue
        scope = _scope(config.exclusions, own, extra_ns)
        # Checks without their own scoping share one Scope object, so the engine decides an
        # object's exclusion once per distinct scope rather than once per check.
        same = next((s for s in scopes if s == scope), None)
        if same is None:
            scopes.append(scope)
        else:
            scope = same
        settings.append(CheckSettings(check, params, scope, own.action or config.action))
    if problems:
        raise ConfigError(problems)
    ex = config.exclusions
    exemptable = ex.annotation_exemptable_checks
    return ScanConfig(
        tuple(settings),
        namespace=namespace,
        allow_annotation_exemptions=ex.allow_annotation_exemptions,
        exemptable=frozenset(exemptable) if exemptable is not None else None,
    )


def _located(manifest: Manifest | None, path: FieldPath, message: str) -> Diagnostic:
    if manifest is None:
        return Diagnostic("PST010", message, Location("<config>"), DiagnosticLevel.ERROR)
    pos, _ = manifest.locate(path)
    pos = pos or Position(1, 1)
    where = Location(manifest.file, pos.line, pos.column)
    return Diagnostic("PST010", message, where, DiagnosticLevel.ERROR)


def _errors(manifest: Manifest | None, prefix: FieldPath, exc: Invalid) -> list[Diagnostic]:
    out = []
    for loc, msg in exc.errors:
        dotted = ".".join(str(p) for p in (*prefix, *loc))
        out.append(_located(manifest, (*prefix, *loc), f"{dotted}: {msg}"))
    return out


def load_config(
    path: Path | None, checks: Sequence[Check[Any]], *, namespace: str | None = None
) -> ScanConfig:
    """Read ``path`` (or the defaults) into a ``ScanConfig``; problems raise ``ConfigError``."""
    if path is None:
        return build(PostureConfig.defaults(), checks, namespace=namespace)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        where = Location(str(path))
        raise ConfigError([Diagnostic("PST010", str(exc), where, DiagnosticLevel.ERROR)]) from None
    manifest = _config_document(text, str(path))
    try:
        config = validate(PostureConfig, dict(manifest.obj))
    except Invalid as exc:
        raise ConfigError(_errors(manifest, (), exc)) from None
    return build(config, checks, namespace=namespace, manifest=manifest)


def _config_document(text: str, file: str) -> Manifest:
    from mamori.posture.yamlload import parse_chunk, split_documents

    chunk = split_documents(text)[0]
    value, marks, problem = parse_chunk(chunk, file)
    if problem is not None:
        raise ConfigError([problem])
    if value is None:
        value = {}
    if not isinstance(value, dict):
        where = Location(file, 1, 1)
        raise ConfigError(
            [Diagnostic("PST010", "config is not a mapping", where, DiagnosticLevel.ERROR)]
        )
    return Manifest(value, file, marks)


__all__ = ["ConfigError", "PostureConfig", "ScanConfig", "build", "load_config", "load_text"]
