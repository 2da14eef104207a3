"""k8s_audit rules -> alerts that say who did what to which object.

Uses the rules engine through its public API (``load_ruleset``, ``Ruleset.match``,
``to_alert``, ``falco_json``). mamori's own control-plane rules ship as package data; more
files (the stock Falco ``k8s_audit_rules.yaml``, site rules) load after them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mamori.audit.index import ResourceIndexedRules
from mamori.core.errors import ConfigError
from mamori.core.events import Event
from mamori.core.findings import Alert, Mitre, ResourceRef
from mamori.rules.engine import load_ruleset
from mamori.rules.output import falco_json, to_alert
from mamori.rules.ruleset import Match, RuleMatching

SOURCE = "k8s_audit"
_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")


def default_rules_path() -> Path:
    """mamori's control-plane rules file (package data)."""
    return Path(str(resources.files("mamori") / "rules_data" / "mamori_k8s_audit_rules.yaml"))


def load_detector(
    extra: Sequence[Path] = (), *, default_rules: bool = True, all_matches: bool = True
) -> AuditDetector:
    """Load mamori's rules (unless ``default_rules`` is false) then ``extra``, in order.

    Raise ``ConfigError`` listing the located errors when a file does not load.
    """
    paths = ([default_rules_path()] if default_rules else []) + list(extra)
    if not paths:
        raise ConfigError("no k8s_audit rules files to load")
    matching = RuleMatching.ALL if all_matches else RuleMatching.FIRST
    result = load_ruleset(paths, matching)
    if not result.ok:
        raise ConfigError("k8s_audit rules: " + "; ".join(str(d) for d in result.errors))
    lists = {name: list(d.items) for name, d in result.collected.lists.items()}
    return AuditDetector(ResourceIndexedRules(result.rules, matching), lists)


class AuditDetector:
    """Matches audit events against rules; a ``core.plugins.Detector``."""

    def __init__(
        self, ruleset: ResourceIndexedRules, lists: Mapping[str, list[str]] | None = None
    ) -> None:
        self.ruleset = ruleset
        self.lists = dict(lists or {})  # the loaded files' lists, as layered (stateful allow lists)

    def matches(self, event: Event) -> list[Match]:
        return self.ruleset.match(event)

    def detect(self, event: Event) -> list[Alert]:
        return [audit_alert(m) for m in self.ruleset.match(event)]

    def detect_all(self, events: Iterable[Event]) -> list[Alert]:
        return [audit_alert(m) for e in events for m in self.ruleset.match(e)]


def falco_line(match: Match) -> dict[str, Any]:
    """Falco's JSON output object for one match."""
    return falco_json(match)


def _dig(raw: Mapping[str, Any], *path: str) -> Any:
    obj: Any = raw
    for key in path:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def target_ref(raw: Mapping[str, Any], cluster: str | None) -> ResourceRef | None:
    """The object the request was about (``objectRef``), e.g. ``pods/exec`` ``web-0``."""
    ref = _dig(raw, "objectRef")
    if not isinstance(ref, Mapping) or not _str(ref.get("resource")):
        return None
    kind = str(ref["resource"])
    if _str(ref.get("subresource")):
        kind += "/" + str(ref["subresource"])
    name = _str(ref.get("name")) or _str(_dig(raw, "responseObject", "metadata", "name"))
    uid = _str(ref.get("uid")) or _str(_dig(raw, "responseObject", "metadata", "uid"))
    return ResourceRef(kind, name or "", _str(ref.get("namespace")), cluster, uid)


def request_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Who asked, from where, with what, about which object."""
    ips = raw.get("sourceIPs")
    ref = _dig(raw, "objectRef")
    ref = ref if isinstance(ref, Mapping) else {}
    out = {
        "ka.auditid": raw.get("auditID"),
        "ka.verb": raw.get("verb"),
        "ka.uri": raw.get("requestURI"),
        "ka.user.name": _dig(raw, "user", "username"),
        "ka.user.groups": _dig(raw, "user", "groups"),
        "ka.impuser.name": _dig(raw, "impersonatedUser", "username"),
        "ka.useragent": raw.get("userAgent"),
        "ka.sourceips": list(ips) if isinstance(ips, list) else None,
        "ka.target.apigroup": ref.get("apiGroup"),
        "ka.target.resource": ref.get("resource"),
        "ka.target.subresource": ref.get("subresource"),
        "ka.target.namespace": ref.get("namespace"),
        "ka.target.name": ref.get("name"),
        "ka.response.code": _dig(raw, "responseStatus", "code"),
        "ka.auth.decision": _dig(raw, "annotations", "authorization.k8s.io/decision"),
    }
    return {k: v for k, v in out.items() if v is not None}


def mitre_of(tags: Iterable[str]) -> Mitre | None:
    """The first ``mitre_<tactic>`` tag and the first technique id, as a ``Mitre``."""
    tags = list(tags)
    tactic = next((t[6:] for t in tags if t.startswith("mitre_")), None)
    if tactic is None:
        return None
    technique = next((t for t in tags if _TECHNIQUE.match(t)), None)
    return Mitre(tactic.replace("_", " ").title(), technique)


def audit_alert(match: Match) -> Alert:
    """``to_alert`` plus the request's identity fields and its target as a resource."""
    alert = to_alert(match)
    audit = match.event.audit
    if audit is None:
        return alert
    raw = audit.raw
    target = target_ref(raw, match.event.cluster)
    fields = {**request_fields(raw), **alert.fields}
    return dataclasses.replace(
        alert,
        source=SOURCE,
        fields=MappingProxyType(fields),
        resources=(target,) if target is not None else alert.resources,
        namespace=target.namespace if target is not None else alert.namespace,
        mitre=alert.mitre or mitre_of(alert.tags),
    )
