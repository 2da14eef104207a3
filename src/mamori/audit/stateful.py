"""Stateful control-plane detections: learned baselines and windows Falco conditions cannot hold.

- MAM-CP-004 ``ServiceAccountRareOperation``: a ServiceAccount performs an operation (verb,
  API group, resource[/subresource], namespaced or cluster-wide) it never performed during its
  learning window (default 7 days from the first request mamori saw from it). Allowed requests
  only (denials are CP-015's). One alert per (ServiceAccount, operation); the operation is then
  learned.
- MAM-CP-015, 403 burst: one identity getting >= 20 ``403`` responses over >= 5 resource types
  within 60 s; one alert, then quiet for that identity until 60 s pass.
- MAM-CP-016, learned kube-system: a pod created in ``kube-system``/``kube-public`` whose owner
  (controlling owner reference, or the requesting user for a bare pod) or an image repository is
  neither learned for that namespace (during the cluster's learning window, from the first event
  mamori saw from the cluster) nor allow-listed (``mamori_kube_system_images``). One alert per new
  (owner, images); they are then learned.

Times are the events' own (``stageTimestamp``), so a replay gives the alerts a live run gives.
Every table is bounded (least recently used entries dropped first). CP-004's and CP-016's
learned sets are part of the persisted detector state; CP-015's 60-second window is not.
"""

from __future__ import annotations

import re
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mamori.audit.alerts import Detection
from mamori.audit.detection import target_ref
from mamori.audit.inventory import image_repository
from mamori.core.events import Event
from mamori.core.findings import Alert, ResourceRef
from mamori.core.severity import Severity

NS_PER_S = 1_000_000_000
DAY_NS = 86_400 * NS_PER_S
SA_PREFIX = "system:serviceaccount:"

CP004 = Detection("MAM-CP-004", "mamori service account rare operation", Severity.WARNING,
                  ("k8s", "mamori.MAM-CP-004", "defender.K8S_ServiceAccountRareOperation",
                   "mitre_lateral_movement", "mitre_credential_access", "T1078.004"))  # fmt: skip
CP015 = Detection("MAM-CP-015", "mamori forbidden request burst", Severity.NOTICE,
                  ("k8s", "mamori.MAM-CP-015", "defender.K8S_PenTestToolsKubeHunter",
                   "mitre_execution", "mitre_discovery", "T1613"))  # fmt: skip
CP016 = Detection("MAM-CP-016", "mamori new owner or image in kube-system", Severity.INFORMATIONAL,
                  ("k8s", "mamori.MAM-CP-016", "defender.K8S_KubeSystemContainer",
                   "mitre_persistence", "T1610"))  # fmt: skip
KUBE_NAMESPACES = ("kube-system", "kube-public")
_RS_HASH = re.compile(r"-[a-z0-9]{6,10}$")


@dataclass(frozen=True, slots=True)
class StatefulConfig:
    learning_ns: int = 7 * DAY_NS
    burst_window_ns: int = 60 * NS_PER_S
    burst_count: int = 20
    burst_resources: int = 5
    max_identities: int = 10_000
    max_learned: int = 1_024  # operations per ServiceAccount; owners/images per namespace
    kube_system_images: frozenset[str] = field(default_factory=frozenset)


def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _code(raw: Mapping[str, Any]) -> int | None:
    code = _dig(raw, "responseStatus", "code")
    return code if isinstance(code, int) else None


def _username(raw: Mapping[str, Any]) -> str | None:
    name = _dig(raw, "user", "username")
    return name if isinstance(name, str) and name else None


def _touch(table: OrderedDict[Any, Any], key: Any, limit: int, new: Any) -> Any:
    """``table[key]`` (created with ``new()`` when absent), marked most recently used."""
    value = table.get(key)
    if value is None:
        value = table[key] = new()
        while len(table) > limit:
            table.popitem(last=False)
    else:
        table.move_to_end(key)
    return value


def _resource(raw: Mapping[str, Any]) -> str:
    ref = raw.get("objectRef")
    if not isinstance(ref, dict):
        return "nonresource:" + str(raw.get("requestURI", "")).split("?", 1)[0]
    res = f"{ref.get('apiGroup') or 'core'}/{ref.get('resource')}"
    return res + (f"/{ref['subresource']}" if ref.get("subresource") else "")


class ServiceAccountRareOperation:
    """MAM-CP-004."""

    def __init__(self, config: StatefulConfig) -> None:
        self.config = config
        # (cluster, username) -> [first seen ns, {operation: None}]
        self.accounts: OrderedDict[tuple[str, str], list[Any]] = OrderedDict()
        self.changed = False

    @staticmethod
    def operation(raw: Mapping[str, Any]) -> str:
        ref = raw.get("objectRef")
        scope = "namespaced" if isinstance(ref, dict) and ref.get("namespace") else "cluster"
        return f"{raw.get('verb')} {_resource(raw)} {scope}"

    def observe(self, event: Event, raw: Mapping[str, Any]) -> list[Alert]:
        user = _username(raw)
        if user is None or not user.startswith(SA_PREFIX) or raw.get("stage") == "RequestReceived":
            return []
        decision = _dig(raw, "annotations", "authorization.k8s.io/decision")
        code = _code(raw)
        if decision == "forbid" or (decision is None and code is not None and code >= 400):
            return []
        if code in (401, 403):
            return []
        op = self.operation(raw)
        key = (event.cluster or "", user)
        account = _touch(self.accounts, key, self.config.max_identities,
                         lambda: [event.time_ns, {}])  # fmt: skip
        first, ops = account
        if op in ops:
            return []
        learning = event.time_ns < first + self.config.learning_ns
        if len(ops) < self.config.max_learned:
            ops[op] = None
            self.changed = True
        if learning:
            return []
        output = (
            f"Service account rare operation (user={user} operation={op} "
            f"uri={raw.get('requestURI')} useragent={raw.get('userAgent')} "
            f"sourceip={(raw.get('sourceIPs') or [None])[0]} learned={len(ops) - 1})"
        )
        fields = {"mamori.operation": op, "mamori.learned_operations": len(ops) - 1}
        return [CP004.alert(event, f"{user}/{op}", output, target_ref(raw, event.cluster),
                            fields)]  # fmt: skip

    def snapshot(self) -> list[list[Any]]:
        return [[c, u, first, list(ops)] for (c, u), (first, ops) in self.accounts.items()]

    def restore(self, data: Iterable[list[Any]]) -> None:
        for cluster, user, first, ops in data:
            self.accounts[(cluster, user)] = [int(first), dict.fromkeys(ops)]


class ForbiddenBurst:
    """MAM-CP-015, stateful half."""

    def __init__(self, config: StatefulConfig) -> None:
        self.config = config
        self.cap = config.burst_count * 50  # denials kept per identity (enough to decide)
        # (cluster, username) -> [deque of (time ns, resource), {resource: count}, last alert]
        self.identities: OrderedDict[tuple[str, str], list[Any]] = OrderedDict()

    def observe(self, event: Event, raw: Mapping[str, Any]) -> list[Alert]:
        if _code(raw) != 403 or raw.get("stage") != "ResponseComplete":
            return []
        user = _username(raw) or "system:anonymous"
        cfg = self.config
        state = _touch(self.identities, (event.cluster or "", user), cfg.max_identities,
                       lambda: [deque(), {}, None])  # fmt: skip
        window, counts, last = state
        now = event.time_ns
        resource = _resource(raw)
        window.append((now, resource))
        counts[resource] = counts.get(resource, 0) + 1
        while window and (now - window[0][0] > cfg.burst_window_ns or len(window) > self.cap):
            _, old = window.popleft()
            counts[old] -= 1
            if not counts[old]:
                del counts[old]
        if last is not None and abs(now - last) <= cfg.burst_window_ns:
            return []
        if len(window) < cfg.burst_count or len(counts) < cfg.burst_resources:
            return []
        state[2] = now
        seconds = (now - window[0][0]) / NS_PER_S
        output = (
            f"Burst of forbidden requests (user={user} denied={len(window)} "
            f"resources={len(counts)} seconds={seconds:.1f} useragent={raw.get('userAgent')} "
            f"sourceip={(raw.get('sourceIPs') or [None])[0]})"
        )
        fields = {"mamori.denied": len(window), "mamori.resources": sorted(counts),
                  "mamori.window_s": seconds}  # fmt: skip
        window.clear()
        counts.clear()
        return [CP015.alert(event, f"{user}/burst", output, None, fields)]


def pod_owner(obj: Mapping[str, Any], user: str | None) -> str:
    """``DaemonSet/kube-proxy``, ``ReplicaSet/coredns`` (hash dropped), ``Node/*`` for static
    pods, ``user/<name>`` for a pod with no controller."""
    for ref in _dig(obj, "metadata", "ownerReferences") or []:
        if not isinstance(ref, dict) or not ref.get("controller", True):
            continue
        kind, name = str(ref.get("kind")), str(ref.get("name"))
        if kind == "Node":
            return "Node/*"
        if kind == "ReplicaSet":
            name = _RS_HASH.sub("", name)
        if kind == "Job":
            name = re.sub(r"-\d{8,}$", "", name)  # CronJob runs
        return f"{kind}/{name}"
    return f"user/{user}"


class KubeSystemBaseline:
    """MAM-CP-016, stateful half."""

    def __init__(self, config: StatefulConfig) -> None:
        self.config = config
        self.started: dict[str, int] = {}  # cluster -> first event ns
        # (cluster, namespace) -> {"owners": {..: None}, "images": {..: None}}
        self.learned: dict[tuple[str, str], dict[str, dict[str, None]]] = {}
        self.changed = False

    def started_at(self, event: Event) -> None:
        """Note the first event of each cluster: its learning window starts there."""
        if (event.cluster or "") not in self.started:
            self.started[event.cluster or ""] = event.time_ns
            self.changed = True

    def observe(self, event: Event, raw: Mapping[str, Any]) -> list[Alert]:
        cluster = event.cluster or ""
        self.started_at(event)
        ref = raw.get("objectRef")
        if (
            raw.get("verb") != "create"
            or not isinstance(ref, dict)
            or ref.get("resource") != "pods"
            or ref.get("subresource")
            or ref.get("namespace") not in KUBE_NAMESPACES
            or raw.get("stage") != "ResponseComplete"
            or (_code(raw) or 500) >= 300
        ):
            return []
        obj = raw.get("responseObject") or raw.get("requestObject")
        if not isinstance(obj, dict):
            return []
        ns = str(ref["namespace"])
        owner = pod_owner(obj, _username(raw))
        images = sorted({
            image_repository(c["image"])
            for key in ("initContainers", "containers", "ephemeralContainers")
            for c in _dig(obj, "spec", key) or []
            if isinstance(c, dict) and isinstance(c.get("image"), str)
        })  # fmt: skip
        table = self.learned.setdefault((cluster, ns), {"owners": {}, "images": {}})
        owners, known = table["owners"], table["images"]
        new_owner = owner not in owners
        new_images = [
            i for i in images if i not in known and i not in self.config.kube_system_images
        ]
        learning = event.time_ns < self.started[cluster] + self.config.learning_ns
        for name, values in (("owners", [owner]), ("images", images)):
            for v in values:
                if v not in table[name] and len(table[name]) < self.config.max_learned:
                    table[name][v] = None
                    self.changed = True
        if learning or not (new_owner or new_images):
            return []
        why = ([f"new owner {owner}"] if new_owner else []) + [f"new image {i}" for i in new_images]
        pod = ref.get("name") or _dig(obj, "metadata", "name")
        output = (
            f"New pod owner or image in {ns} (pod={pod} "
            f"owner={owner} images={','.join(images)} reason={'; '.join(why)} "
            f"user={_username(raw)} useragent={raw.get('userAgent')})"
        )
        fields = {"mamori.owner": owner, "mamori.images": images, "mamori.reason": why}
        target: ResourceRef | None = target_ref(raw, event.cluster)
        return [CP016.alert(event, f"{ns}/{owner}/{','.join(images)}", output, target, fields)]

    def snapshot(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "learned": [[c, ns, list(t["owners"]), list(t["images"])]
                        for (c, ns), t in self.learned.items()],
        }  # fmt: skip

    def restore(self, data: Mapping[str, Any]) -> None:
        self.started.update({str(k): int(v) for k, v in data.get("started", {}).items()})
        for cluster, ns, owners, images in data.get("learned", []):
            self.learned[(cluster, ns)] = {"owners": dict.fromkeys(owners),
                                           "images": dict.fromkeys(images)}  # fmt: skip
