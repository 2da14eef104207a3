"""Drift decisions (verdict + policy, on the sensor's answer path) and drift alerts.

``DriftJudge.judge`` runs on the fanotify reader thread before the exec is answered: verdict,
then the policy for drift verdicts, then the counters. Its result travels with the exec record
and reaches ``DriftDetector`` as ``mamori.drift.*`` extension fields of the core event, so a
recorded event replays (``mamori drift simulate``) through the same policy code.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

from mamori.core.events import Event
from mamori.core.fastinit import fast_init
from mamori.core.findings import Alert, Mitre, ResourceRef
from mamori.core.ids import content_id
from mamori.core.severity import Severity
from mamori.core.simulation import is_simulated
from mamori.drift.policy import Decision, ScopeContext
from mamori.drift.reload import PolicyHolder
from mamori.drift.verdict import (
    EXPLAIN,
    Layers,
    Verdict,
    VerdictEngine,
    VerdictResult,
    inode_proof,
)

Mode = Literal["detect", "block"]
TITLE_DETECTED = "A drift binary detected executing in the container"
TITLE_BLOCKED = "Blocked binary drift executing in the container"
SOURCE = "drift"
TAG_ALERTED = "mamori.MAM-RT-040"  # catalog ids: what the UI, suppressions and simulate use
TAG_BLOCKED = "mamori.MAM-RT-041"
PREFIX = "mamori.drift."
PROOFS_MAX = 4096  # paths of inode-proven image execs whose decision is kept
# Observer-only verdicts: no permission event carries them, so a block cannot be applied.
OBSERVER_ONLY = frozenset((Verdict.DRIFT_MEMFD, Verdict.DRIFT_LOADER))
SEVERITY = {"High": Severity.CRITICAL, "Medium": Severity.WARNING, "Low": Severity.NOTICE}


@fast_init
@dataclass(frozen=True, slots=True)
class DriftDecision:
    verdict: VerdictResult
    decision: Decision | None  # None: not drift, the policy is not asked
    action_taken: str  # none | alerted | blocked | ignored | allowlisted | failed_open
    policy: str
    revision: str
    block_unavailable_reason: str | None = None
    decide_us: int = 0
    parent_cmdline: str | None = None  # read before answering (the parent may exit soon)

    @property
    def allow(self) -> bool:
        return self.action_taken != "blocked"

    @property
    def ignore_mark(self) -> bool:
        """Image content may be skipped by the kernel until it is modified (design 3.2)."""
        return self.verdict.verdict in (Verdict.IMAGE, Verdict.IMAGE_COPYUP)

    def extra(self) -> dict[str, Any]:
        """The decision as JSON-able event extension fields (``mamori.drift.*``)."""
        v, d = self.verdict, self.decision
        out: dict[str, Any] = {
            PREFIX + "verdict": v.verdict.value,
            PREFIX + "path": v.path,
            PREFIX + "reason": v.reason,
            PREFIX + "sha256": v.sha256,
            PREFIX + "relocated_from": v.relocated_from,
            PREFIX + "action_taken": self.action_taken,
            PREFIX + "policy": self.policy,
            PREFIX + "revision": self.revision,
            PREFIX + "decide_us": self.decide_us,
            PREFIX + "upper": v.upper,
            PREFIX + "lower": v.lower,
            PREFIX + "memfd": v.memfd,
        }
        if d is not None:
            out[PREFIX + "rule"] = d.rule
            out[PREFIX + "position"] = d.position
            out[PREFIX + "action"] = d.action
            out[PREFIX + "severity"] = d.severity
            out[PREFIX + "shadow"] = [{"rule": r, "would_action": a} for r, a in d.shadow]
            if d.response:
                out[PREFIX + "response"] = list(d.response)
        if self.block_unavailable_reason:
            out[PREFIX + "block_unavailable_reason"] = self.block_unavailable_reason
        if self.parent_cmdline is not None:
            out[PREFIX + "parent_cmdline"] = self.parent_cmdline
        return out


def scope_context(
    container_name: str | None,
    image: str | None,
    namespace: str | None,
    pod_name: str | None,
    pod_labels: Mapping[str, str],
    cluster: str | None,
    cloud: tuple[str, str] | None = None,
) -> ScopeContext:
    return ScopeContext(
        container_name=container_name,
        image=image,
        namespace=namespace,
        pod_name=pod_name,
        pod_labels=pod_labels,
        cluster_name=cluster,
        cloud_provider=cloud[0] if cloud else None,
        cloud_account=cloud[1] if cloud else None,
    )


def event_context(event: Event, cloud: tuple[str, str] | None = None) -> ScopeContext:
    """The scope context of an enriched (or replayed) event."""
    c, k = event.container, event.k8s
    return scope_context(
        (k.container_name if k and k.container_name else None) or (c.name if c else None),
        c.image if c else None,
        k.namespace if k else None,
        k.pod_name if k else None,
        k.pod_labels if k else {},
        event.cluster,
        cloud,
    )


def outcome(decision: Decision, verdict: Verdict, mode: Mode) -> tuple[str, str | None]:
    """(action taken, why a block could not be applied)."""
    if decision.allowlisted:
        return "allowlisted", None
    if decision.action == "ignore":
        return "ignored", None
    if decision.action == "block":
        if verdict in OBSERVER_ONLY:
            return "alerted", "observer_only"
        if mode != "block":
            return "alerted", "detect_mode"
        return "blocked", None
    return "alerted", None


class DriftJudge:
    """Verdict + policy for one exec; safe to call from the reader thread (no exec, no I/O
    beyond the event fd, the image layers and the identity cache)."""

    def __init__(
        self,
        holder: PolicyHolder,
        mode: Mode = "detect",
        engine: VerdictEngine | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self.holder = holder
        self.mode: Mode = mode
        self.engine = engine or VerdictEngine()
        self.delay_s = delay_s  # test hook: a stalled handler (watchdog scenario)
        self.decisions = 0
        self.drift = 0
        # The latest drift decision latencies (stats, bench): a ring, so p99 stays current.
        self.decide_ns: deque[int] = deque(maxlen=10_000)
        # fd path -> the decision of an inode-proven image exec under ``_proofs_policy``
        self._proofs: dict[str, DriftDecision] = {}
        self._proofs_policy: object = None

    def judge(
        self,
        fd: int,
        st: os.stat_result,
        fd_path: str,
        layers: Layers | None,
        ctx: Callable[[], ScopeContext],
        image: bool = False,
    ) -> DriftDecision:
        if image:  # indexed_image() proved it from the fstat: no verdict or policy to ask
            return self.inode_proof(fd_path)
        t0 = time.perf_counter_ns()
        v = self.engine.decide(fd, st, fd_path, layers)
        sha: list[str | None] = []

        def lazy_sha() -> str | None:  # an allow entry with sha256 hashes before answering
            if not sha:
                sha.append(self.engine.hash_fd(fd, st))
            return sha[0]

        return self._apply(t0, v, ctx, lazy_sha, sha)

    def inode_proof(self, fd_path: str) -> DriftDecision:
        """The decision of an image exec proven from its fstat, built once per path and
        policy: with rules on, every image exec comes here and most are the same few files."""
        policy = self.holder.policy
        if policy is not self._proofs_policy or len(self._proofs) >= PROOFS_MAX:
            self._proofs.clear()
            self._proofs_policy = policy
        self.decisions += 1
        self.engine.inode_proofs += 1
        found = self._proofs.get(fd_path)
        if found is None:
            v = inode_proof(fd_path)
            found = self._proofs[fd_path] = DriftDecision(
                v, None, "none", policy.name, policy.revision
            )
        return found

    def count_inode_proof(self) -> None:
        """An image exec proven from its fstat whose decision nobody reads (a drift-only
        sensor): counted as ``judge`` would count it, nothing built."""
        self.decisions += 1
        self.engine.inode_proofs += 1

    def observed(self, v: VerdictResult, ctx: Callable[[], ScopeContext]) -> DriftDecision:
        """A verdict the eBPF observer made (memfd, loader): policy and counters, no fd."""
        return self._apply(time.perf_counter_ns(), v, ctx, lambda: None, [])

    def _apply(
        self,
        t0: int,
        v: VerdictResult,
        ctx: Callable[[], ScopeContext],
        lazy_sha: Callable[[], str | None],
        sha: list[str | None],
    ) -> DriftDecision:
        policy = self.holder.policy
        self.decisions += 1
        if not v.verdict.is_drift:
            return DriftDecision(v, None, "none", policy.name, policy.revision)
        self.drift += 1
        if self.delay_s:
            time.sleep(self.delay_s)  # a stalled slow path (hash, cold metadata)
        d = policy.evaluate(v.verdict, v.path, ctx(), lazy_sha)
        if sha and sha[0] is not None:
            v = replace(v, sha256=sha[0])
        taken, why = outcome(d, v.verdict, self.mode)
        counters = self.holder.counters
        for rule, _ in d.shadow:
            counters.hit(rule, "shadow")
        counters.hit(d.rule, taken)
        took = time.perf_counter_ns() - t0
        self.decide_ns.append(took)
        return DriftDecision(v, d, taken, policy.name, policy.revision, why, took // 1000)

    def complete(
        self, dd: DriftDecision, fd: int, st: os.stat_result, layers: Layers | None
    ) -> DriftDecision:
        """After answering: the hash and ``relocated_from`` the alert shows (drift only)."""
        v = dd.verdict
        if not v.verdict.is_drift or v.memfd:
            return dd
        sha = v.sha256 or self.engine.hash_fd(fd, st)
        relocated = None
        if layers is not None and v.verdict in (Verdict.DRIFT_NEW, Verdict.DRIFT_DELETED):
            relocated = self.engine.relocated_from(layers, v.path, sha, st.st_size)
        return replace(dd, verdict=replace(v, sha256=sha, relocated_from=relocated))

    def failed_open(self, dd: DriftDecision | None) -> None:
        if dd is not None and dd.decision is not None:
            self.holder.counters.hit(dd.decision.rule, "failed_open")


def _cmdline(p: Any) -> str | None:
    return None if p is None else str(p.cmdline)


class DriftDetector:
    """Alerts for drift decisions whose action was alert or block (ignored/allowlisted: none)."""

    fields = frozenset(("proc.cmdline", "proc.pname", "user.name", "proc.aname"))

    def detect(self, event: Event) -> Iterable[Alert]:
        x = event.extra
        taken = x.get(PREFIX + "action_taken")
        if taken not in ("alerted", "blocked", "failed_open"):
            return ()
        return (drift_alert(event),)


def drift_alert(event: Event) -> Alert:
    x = event.extra
    verdict = Verdict(x[PREFIX + "verdict"])
    taken = x[PREFIX + "action_taken"]
    title = TITLE_BLOCKED if taken == "blocked" else TITLE_DETECTED
    sev_name = "Medium" if verdict is Verdict.DRIFT_VOLUME else x.get(PREFIX + "severity", "High")
    p, c, k = event.process, event.container, event.k8s
    parent = p.parent if p is not None else None
    fields: dict[str, Any] = {
        "drift.verdict": verdict.value,
        "drift.explanation": EXPLAIN[verdict],
        "drift.action_taken": taken,
        "drift.rule": x.get(PREFIX + "rule"),
        "drift.rule_position": x.get(PREFIX + "position"),
        "drift.action": x.get(PREFIX + "action"),
        "drift.policy": x.get(PREFIX + "policy"),
        "drift.policy_revision": x.get(PREFIX + "revision"),
        "drift.relocated_from": x.get(PREFIX + "relocated_from"),
        "drift.block_unavailable_reason": x.get(PREFIX + "block_unavailable_reason"),
        "drift.shadow": x.get(PREFIX + "shadow") or [],
        "proc.exepath": x.get(PREFIX + "path") or (p.exepath if p else None),
        "proc.sha256": x.get(PREFIX + "sha256"),
        "proc.cmdline": _cmdline(p),
        "proc.pid": p.pid if p else None,
        "proc.pname": p.pname if p else None,
        "proc.pcmdline": x.get(PREFIX + "parent_cmdline") or _cmdline(parent),
        "proc.ppid": p.ppid if p else None,
        "user.name": p.user if p else None,
        "user.uid": p.uid if p else None,
        "container.id": c.short_id if c else None,  # Falco's 12 characters
        "container.full_id": c.id if c else None,
        "container.name": c.name if c else None,
        "container.image": c.image if c else None,
        "container.image.digest": c.image_digest if c else None,
        "k8s.pod.name": k.pod_name if k else None,
        "k8s.ns.name": k.namespace if k else None,
        "k8s.pod.labels": dict(k.pod_labels) if k else {},
        "node": event.node,
        "cluster": event.cluster,
    }
    where = (c.name or c.short_id) if c else "?"
    output = (
        f"{title} (verdict={verdict.value} exe={fields['proc.exepath']} "
        f"sha256={fields['proc.sha256']} cmdline={fields['proc.cmdline']} "
        f"parent={fields['proc.pname']} user={fields['user.name']} container={where} "
        f"image={fields['container.image']} ns={fields['k8s.ns.name']} "
        f"pod={fields['k8s.pod.name']} rule={fields['drift.rule']} action={taken})"
    )
    resources: list[ResourceRef] = []
    if k is not None and k.pod_name:
        resources.append(ResourceRef("pod", k.pod_name, k.namespace, event.cluster))
    if c is not None:
        ns = k.namespace if k else None
        resources.append(ResourceRef("container", c.name or c.short_id, ns, event.cluster, c.id))
    pid = p.pid if p else 0
    return Alert(
        id=content_id(SOURCE, event.time_ns, pid, fields["proc.exepath"], c.id if c else None),
        time=datetime.fromtimestamp(event.time_ns / 1e9, UTC),
        rule=title,
        severity=SEVERITY.get(str(sev_name), Severity.CRITICAL),
        source=SOURCE,
        output=output,
        mitre=Mitre("Execution", "T1620" if verdict is Verdict.DRIFT_MEMFD else None),
        fields=MappingProxyType(fields),
        resources=tuple(resources),
        tags=(
            "drift",
            TAG_BLOCKED if taken == "blocked" else TAG_ALERTED,
            "mitre_execution",
            "TA0002",
            # The policy rule's responses: the sensor's Responder carries them out. A blocked
            # exec ran nothing: killing its pid would kill the caller (a shell, the workload).
            *(
                f"mamori.response.{r}"
                for r in x.get(PREFIX + "response") or ()
                if not (taken == "blocked" and r == "kill_process")
            ),
        ),
        cluster=event.cluster,
        namespace=k.namespace if k else None,
        node=event.node,
        simulated=is_simulated(event),
    )
