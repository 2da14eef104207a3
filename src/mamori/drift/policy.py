"""Drift policy: ordered rules, first match wins, one default rule last (design §2).

Parse (YAML with positions) -> validate (pydantic, at the edge) -> compile (plain objects the
per-exec path runs) -> evaluate. Mistakes in a policy file are diagnostics with file:line:col,
all collected; the caller keeps the previous policy in force when there are any.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mamori.drift.verdict import Verdict

Action = Literal["alert", "ignore", "block"]
# What the sensor does besides alerting (mamori.sensor.response), per rule.
Response = Literal["kill_process", "stop_container", "pause_container"]
Category = Literal[
    "container_name", "image_name", "namespace", "pod_name", "pod_labels", "cluster_name"
]
Operator = Literal["equals", "starts_with", "ends_with", "contains", "glob"]
DRIFT_VERDICTS = tuple(v for v in Verdict if v.is_drift)
# Defender's spellings (camelCase) are accepted as written by its export.
_OPERATOR_ALIASES = {"startsWith": "starts_with", "endsWith": "ends_with"}
_CATEGORY_ALIASES = {
    "containerName": "container_name",
    "imageName": "image_name",
    "podName": "pod_name",
    "podLabels": "pod_labels",
    "clusterName": "cluster_name",
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

DEFAULT_POLICY_YAML = """\
apiVersion: mamori/v1
kind: DriftPolicy
metadata: {name: mamori-default}
rules:
  - name: alert-on-kube-system
    description: Alert on kube-system namespace
    action: alert
    resource_scope: [{category: namespace, operator: equals, values: [kube-system]}]
default_rule: {name: default-binary-drift, action: %(default_action)s, severity: High}
"""


def default_policy_text(default_action: Action = "alert") -> str:
    """The shipped policy (Defender's two rules); Defender's own default action is ignore."""
    return DEFAULT_POLICY_YAML % {"default_action": default_action}


# -- models (the edge) ------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Model):
    category: Category
    operator: Operator
    values: list[str] = Field(min_length=1)
    key: str | None = None
    negate: bool = False

    @field_validator("operator", mode="before")
    @classmethod
    def _operator(cls, v: object) -> object:
        return _OPERATOR_ALIASES.get(v, v) if isinstance(v, str) else v

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, v: object) -> object:
        return _CATEGORY_ALIASES.get(v, v) if isinstance(v, str) else v


class CloudScope(_Model):
    provider: Literal["aws", "azure", "gcp"]
    accounts: list[str] = []


def _check_glob(pattern: str) -> str:
    if not pattern:
        raise ValueError("empty glob")
    depth = 0
    for ch in pattern:
        if ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
    if depth or pattern.count("]") < pattern.count("["):
        raise ValueError(f"bad glob {pattern!r}: unbalanced '['")
    return pattern


class AllowEntry(_Model):
    path: str | None = None
    name: str | None = None
    glob: str | None = None
    sha256: str | None = None
    expires: datetime | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("/"):
            raise ValueError(f"path must be absolute: {v!r}")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and (not v or "/" in v):
            raise ValueError(f"name is a basename without '/': {v!r}")
        return v

    @field_validator("glob")
    @classmethod
    def _glob(cls, v: str | None) -> str | None:
        return None if v is None else _check_glob(v)

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str | None) -> str | None:
        if v is not None and not _SHA256.match(v.lower()):
            raise ValueError("sha256 must be 64 hex digits")
        return v.lower() if v else v

    @model_validator(mode="after")
    def _one_kind(self) -> AllowEntry:
        if sum(x is not None for x in (self.path, self.name, self.glob)) != 1:
            raise ValueError("give exactly one of path, name, glob")
        return self


class RuleModel(_Model):
    name: str = Field(min_length=1)
    enabled: bool = True
    action: Action
    description: str = ""
    cloud_scope: list[CloudScope] = []
    resource_scope: list[Condition] = []
    allow_processes: list[AllowEntry] = []
    expires: datetime | None = None
    verdicts: list[Verdict] | None = None
    severity: str = "High"
    shadow: bool = False
    response: list[Response] = []

    @field_validator("verdicts")
    @classmethod
    def _verdicts(cls, v: list[Verdict] | None) -> list[Verdict] | None:
        for verdict in v or ():
            if not verdict.is_drift:
                raise ValueError(f"{verdict} is not a drift verdict")
        return v


class DefaultRuleModel(_Model):
    name: str = "default-binary-drift"
    action: Action = "alert"
    severity: str = "High"
    response: list[Response] = []


class Metadata(_Model):
    name: str = "drift-policy"


class PolicyModel(_Model):
    apiVersion: Literal["mamori/v1"] = "mamori/v1"
    kind: Literal["DriftPolicy"] = "DriftPolicy"
    metadata: Metadata = Metadata()
    rules: list[RuleModel] = []
    default_rule: DefaultRuleModel = DefaultRuleModel()


# -- diagnostics ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Diagnostic:
    file: str
    line: int
    col: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.code}: {self.message}"


Loc = tuple[str | int, ...]


def _positions(node: yaml.Node, path: Loc, out: dict[Loc, tuple[int, int]]) -> None:
    out[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for knode, vnode in node.value:
            key = (*path, str(knode.value))
            out[key] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
            _positions(vnode, key, out)
            out[key] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _positions(item, (*path, i), out)


def _locate(marks: Mapping[Loc, tuple[int, int]], loc: Loc) -> tuple[int, int]:
    while loc not in marks and loc:
        loc = loc[:-1]
    return marks.get(loc, (1, 1))


# -- compiled policy --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScopeContext:
    """What the scopes match against; from the container's identity and the sensor config."""

    container_name: str | None = None
    image: str | None = None
    namespace: str | None = None
    pod_name: str | None = None
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    cluster_name: str | None = None
    cloud_provider: str | None = None
    cloud_account: str | None = None


def normalize_image(ref: str) -> str:
    """``nginx`` -> ``docker.io/library/nginx:latest`` (Docker's reference rules)."""
    name, digest = [*ref.split("@", 1), ""][:2]
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name}" if rest else f"docker.io/library/{name}"
    if not digest and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return f"{name}@{digest}" if digest else name


def _op(operator: str, values: Sequence[str]) -> Callable[[str], bool]:
    vals = tuple(values)
    if operator == "equals":
        return lambda s: s in vals
    if operator == "starts_with":
        return lambda s: s.startswith(vals)
    if operator == "ends_with":
        return lambda s: s.endswith(vals)
    if operator == "contains":
        return lambda s: any(v in s for v in vals)
    return lambda s: any(fnmatch.fnmatchcase(s, v) for v in vals)


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    category: str
    negate: bool
    key: str | None
    test: Callable[[str], bool]

    def subjects(self, ctx: ScopeContext) -> Iterable[str]:
        if self.category == "pod_labels":
            if self.key is not None:
                value = ctx.pod_labels.get(self.key)
                return () if value is None else (value,)
            return tuple(f"{k}={v}" for k, v in ctx.pod_labels.items())
        if self.category == "image_name":
            return (ctx.image, normalize_image(ctx.image)) if ctx.image else ()
        value = getattr(ctx, self.category)
        return () if value is None else (value,)

    def matches(self, ctx: ScopeContext) -> bool:
        return any(self.test(s) for s in self.subjects(ctx))


@dataclass(frozen=True, slots=True)
class CompiledAllow:
    path: str | None
    name: str | None
    glob: str | None
    sha256: str | None
    expires: datetime | None

    def matches(self, path: str, sha256: Callable[[], str | None], now: datetime) -> bool:
        if self.expires is not None and now >= self.expires:
            return False
        if self.path is not None and path != self.path:
            return False
        if self.name is not None and path.rsplit("/", 1)[-1] != self.name:
            return False
        if self.glob is not None and not _glob_match(path, self.glob):
            return False
        return self.sha256 is None or sha256() == self.sha256


def _glob_match(path: str, pattern: str) -> bool:
    # fnmatch's '*' already crosses '/'; '**' is accepted as the same thing.
    return fnmatch.fnmatchcase(path, pattern.replace("**", "*"))


@dataclass(frozen=True, slots=True)
class CompiledRule:
    name: str
    position: int
    action: Action
    severity: str
    description: str = ""
    enabled: bool = True
    shadow: bool = False
    expires: datetime | None = None
    verdicts: frozenset[Verdict] = frozenset(DRIFT_VERDICTS)
    clouds: tuple[CloudScope, ...] = ()
    by_category: Mapping[str, tuple[CompiledCondition, ...]] = field(default_factory=dict)
    negated: tuple[CompiledCondition, ...] = ()
    allow: tuple[CompiledAllow, ...] = ()
    default: bool = False
    response: tuple[str, ...] = ()

    def active(self, now: datetime) -> bool:
        return self.enabled and (self.expires is None or now < self.expires)

    def in_scope(self, ctx: ScopeContext) -> bool:
        if self.clouds and not self._cloud(ctx):
            return False
        for conditions in self.by_category.values():
            if not any(c.matches(ctx) for c in conditions):
                return False
        return not any(c.matches(ctx) for c in self.negated)

    def _cloud(self, ctx: ScopeContext) -> bool:
        if ctx.cloud_provider is None:
            return False  # node identity unknown: cloud-scoped rules never match
        return any(
            c.provider == ctx.cloud_provider and (not c.accounts or ctx.cloud_account in c.accounts)
            for c in self.clouds
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy says about one drift exec."""

    rule: str
    position: int
    action: Action
    severity: str
    allowlisted: bool = False
    default: bool = False
    shadow: tuple[tuple[str, str], ...] = ()  # (rule, would_action) of matching shadow rules
    response: tuple[str, ...] = ()  # responses the rule asks for (with alert or block)


@dataclass(frozen=True)
class Policy:
    name: str
    rules: tuple[CompiledRule, ...]
    default: CompiledRule
    revision: str
    source: str = "<default>"

    @property
    def all_rules(self) -> tuple[CompiledRule, ...]:
        return (*self.rules, self.default)

    def evaluate(
        self,
        verdict: Verdict,
        path: str,
        ctx: ScopeContext,
        sha256: Callable[[], str | None] = lambda: None,
        now: datetime | None = None,
    ) -> Decision:
        now = now or datetime.now(UTC)
        shadows: list[tuple[str, str]] = []
        for rule in self.rules:
            if not rule.active(now) or verdict not in rule.verdicts or not rule.in_scope(ctx):
                continue
            if rule.shadow:
                shadows.append((rule.name, rule.action))
                continue
            allowed = any(a.matches(path, sha256, now) for a in rule.allow)
            return Decision(
                rule.name,
                rule.position,
                rule.action,
                rule.severity,
                allowed,
                shadow=tuple(shadows),
                response=rule.response,
            )
        d = self.default
        return Decision(
            d.name,
            d.position,
            d.action,
            d.severity,
            default=True,
            shadow=tuple(shadows),
            response=d.response,
        )

    def needs_sha256(self) -> bool:
        return any(a.sha256 for r in self.rules for a in r.allow)

    def describe(self) -> list[dict[str, Any]]:
        """Rules in order, for the policy page and ``mamori drift stats``."""
        now = datetime.now(UTC)
        return [
            {
                "position": r.position,
                "name": r.name,
                "action": r.action,
                "description": r.description,
                "enabled": r.active(now),
                "shadow": r.shadow,
                "default": r.default,
                "verdicts": sorted(v.value for v in r.verdicts),
                "allow_processes": len(r.allow),
                "response": list(r.response),
            }
            for r in self.all_rules
        ]


def _compile(model: PolicyModel, revision: str, source: str) -> Policy:
    rules: list[CompiledRule] = []
    for pos, r in enumerate(model.rules, start=1):
        by_cat: dict[str, list[CompiledCondition]] = {}
        negated: list[CompiledCondition] = []
        for c in r.resource_scope:
            cc = CompiledCondition(c.category, c.negate, c.key, _op(c.operator, c.values))
            (negated if c.negate else by_cat.setdefault(c.category, [])).append(cc)
        rules.append(
            CompiledRule(
                name=r.name,
                position=pos,
                action=r.action,
                severity=r.severity,
                description=r.description,
                enabled=r.enabled,
                shadow=r.shadow,
                expires=r.expires,
                verdicts=frozenset(r.verdicts) if r.verdicts else frozenset(DRIFT_VERDICTS),
                clouds=tuple(r.cloud_scope),
                by_category={k: tuple(v) for k, v in by_cat.items()},
                negated=tuple(negated),
                allow=tuple(
                    CompiledAllow(a.path, a.name, a.glob, a.sha256, a.expires)
                    for a in r.allow_processes
                ),
                response=tuple(r.response),
            )
        )
    d = model.default_rule
    default = CompiledRule(
        d.name, len(rules) + 1, d.action, d.severity, default=True, response=tuple(d.response)
    )
    return Policy(model.metadata.name, tuple(rules), default, revision, source)


def parse_policy(text: str, source: str = "<policy>") -> tuple[Policy | None, list[Diagnostic]]:
    """A compiled policy, or None and every diagnostic found (file:line:col)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        return None, [Diagnostic(source, line, col, "yaml", str(exc).splitlines()[0])]
    if not isinstance(data, dict) or node is None:
        return None, [Diagnostic(source, 1, 1, "policy", "a policy is a YAML mapping")]
    marks: dict[Loc, tuple[int, int]] = {}
    _positions(node, (), marks)
    diags: list[Diagnostic] = []
    try:
        model = PolicyModel.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and "[" in x))
            line, col = _locate(marks, loc)
            where = ".".join(str(x) for x in loc)
            msg = err["msg"].removeprefix("Value error, ")
            diags.append(Diagnostic(source, line, col, err["type"], f"{where}: {msg}"))
        return None, diags
    seen: dict[str, int] = {}
    for i, rule in enumerate(model.rules):
        if rule.name in seen or rule.name == model.default_rule.name:
            line, col = _locate(marks, ("rules", i, "name"))
            diags.append(
                Diagnostic(source, line, col, "duplicate_name", f"rule name {rule.name!r} repeats")
            )
        seen.setdefault(rule.name, i)
    if diags:
        return None, diags
    canonical = json.dumps(model.model_dump(mode="json"), sort_keys=True)
    revision = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    return _compile(model, revision, source), []


def load_policy(path: Path) -> tuple[Policy | None, list[Diagnostic]]:
    try:
        text = path.read_text()
    except OSError as exc:
        return None, [Diagnostic(str(path), 1, 1, "io", str(exc))]
    return parse_policy(text, str(path))


def default_policy(default_action: Action = "alert") -> Policy:
    policy, diags = parse_policy(default_policy_text(default_action), "<default>")
    if policy is None:  # pragma: no cover - the shipped text is tested
        raise RuntimeError("; ".join(map(str, diags)))
    return policy
