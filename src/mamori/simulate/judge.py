"""Whether a scenario passed: expected detections against the alerts attributed to it.

An alert matches a catalog detection id (``MAM-RT-015``) when its tags hold ``mamori.<id>``; a
plain rule name is accepted too (rules without a catalog id). ``Expect.where`` narrows a match
to alerts whose fields hold given values (``drift.verdict``: the drift-new, -modified and
-deleted parts of S7 are three expectations of one detection).

Pass = every expected detection arrived and nothing unexpected did. Unexpected = an alert
matching ``must_not`` (``*``: any alert at all), or a High alert (critical and above: mamori's
Severity view) that is neither expected nor allowed by ``may_raise``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mamori.core.severity import Severity, UiSeverity

ANY = "*"
ID_TAG = "mamori."


@dataclass(frozen=True)
class Expect:
    """A detection id or rule name, optionally narrowed by alert field values."""

    id: str
    where: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        narrow = " ".join(f"{k}={v}" for k, v in self.where)
        return f"{self.id} [{narrow}]" if narrow else self.id

    def matches(self, alert: Mapping[str, Any]) -> bool:
        if self.id == ANY:
            return True
        if self.id not in alert_ids(alert) and alert.get("rule") != self.id:
            return False
        fields = alert.get("fields") or {}
        return all(str(fields.get(k)) == v for k, v in self.where)


Want = str | Expect


def expect(want: Want) -> Expect:
    return want if isinstance(want, Expect) else Expect(want)


def alert_ids(alert: Mapping[str, Any]) -> list[str]:
    """Catalog ids in the alert's tags (``mamori.MAM-RT-040`` -> ``MAM-RT-040``)."""
    tags: Iterable[str] = alert.get("tags") or ()
    return [t[len(ID_TAG) :] for t in tags if t.startswith(ID_TAG + "MAM-")]


def alert_label(alert: Mapping[str, Any]) -> str:
    """``MAM-RT-040 (rule)``, or the rule name alone when the alert has no catalog id."""
    ids = alert_ids(alert)
    rule = str(alert.get("rule", "?"))
    return f"{', '.join(ids)} ({rule})" if ids else rule


def is_high(alert: Mapping[str, Any]) -> bool:
    ui = alert.get("ui_severity")
    if ui is not None:
        return bool(ui == UiSeverity.HIGH.value)
    try:
        level = alert.get("severity_level")
        sev = Severity(level) if isinstance(level, int) else Severity.parse(alert["severity"])
    except (KeyError, ValueError):
        return False
    return sev.ui is UiSeverity.HIGH


@dataclass(frozen=True)
class Attribution:
    """What makes an alert the scenario's: its pod (namespace + name), a container of the run,
    one of the audit events it posted, or (real cluster actions) an API request about an object
    it made: ``objects`` holds (resource, name) pairs, name ``*`` for any, in the scenario's
    namespace or cluster-scoped."""

    namespace: str
    pod: str
    container_ids: frozenset[str] = frozenset()
    audit_ids: frozenset[str] = frozenset()
    objects: frozenset[tuple[str, str]] = frozenset()

    def mine(self, alert: Mapping[str, Any]) -> bool:
        f = alert.get("fields") or {}
        if self.audit_ids and f.get("ka.auditid") in self.audit_ids:
            return True
        if self.objects and f.get("ka.target.namespace") in (None, self.namespace):
            resource = f.get("ka.target.resource")
            name = f.get("ka.target.name")
            if (resource, name) in self.objects or (resource, "*") in self.objects:
                return True
        if f.get("k8s.pod.name") == self.pod and f.get("k8s.ns.name") == self.namespace:
            return True
        for r in alert.get("resources") or ():
            pod = r.get("kind") == "pod" and r.get("name") == self.pod
            if pod and r.get("namespace") in (None, self.namespace):
                return True
            if r.get("kind") == "container" and r.get("uid") in self.container_ids:
                return True
        cid = f.get("container.full_id") or f.get("container.id")
        return bool(cid) and any(c.startswith(str(cid)) for c in self.container_ids)


@dataclass(frozen=True)
class Judgement:
    raised: tuple[str, ...]  # catalog ids (else rule names) of the alerts seen, first-seen order
    missing: tuple[Expect, ...]
    unexpected: tuple[str, ...]
    time_to_alert_s: float | None  # steps done -> the last expected detection's first alert

    @property
    def passed(self) -> bool:
        return not self.missing and not self.unexpected


def judge(
    expected: Sequence[Want],
    may_raise: Sequence[Want],
    must_not: Sequence[Want],
    seen: Sequence[tuple[Mapping[str, Any], float]],
) -> Judgement:
    """``seen``: the scenario's alerts with seconds from the end of its steps to their arrival."""
    wants = [expect(w) for w in expected]
    allowed = [*wants, *(expect(w) for w in may_raise)]
    forbidden = [expect(w) for w in must_not]
    raised: dict[str, None] = {}
    unexpected: dict[str, None] = {}
    first: dict[Expect, float] = {}
    for alert, at in seen:
        raised.setdefault(", ".join(alert_ids(alert)) or str(alert.get("rule", "?")))
        for w in wants:
            if w.matches(alert) and w not in first:
                first[w] = at
        forbidden_hit = any(f.matches(alert) for f in forbidden)
        stray = is_high(alert) and not any(a.matches(alert) for a in allowed)
        if forbidden_hit or stray:
            unexpected.setdefault(alert_label(alert))
    missing = tuple(w for w in wants if w not in first)
    return Judgement(
        raised=tuple(raised),
        missing=missing,
        unexpected=tuple(unexpected),
        time_to_alert_s=max(first.values()) if first else None,
    )
