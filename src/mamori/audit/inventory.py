"""What the cluster holds, as far as the exposure detections need it, learned from audit events.

The audit stream carries every object a create/update/patch returns (``responseObject`` at the
``RequestResponse`` level of mamori's audit policy), so the detections do not need a watch of the
API server: Services, Pods and the pod templates of workloads, Namespaces, and the ``pg_hba``
ConfigMaps of CP-001 are kept here, per cluster, reduced to the few fields the detections read.

Bounded: at most ``max_objects`` entries per kind and cluster; the entry touched longest ago is
dropped first (a cluster larger than that loses the exposure joins of its oldest objects, never
memory). The inventory is JSON-serialisable (``snapshot``/``restore``) so that it survives a
restart with the rest of the detector state (mamori.audit.stateful).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Resources whose objects carry a pod template, with the path to it.
WORKLOADS: Mapping[str, tuple[str, ...]] = {
    "deployments": ("spec", "template"),
    "statefulsets": ("spec", "template"),
    "daemonsets": ("spec", "template"),
    "replicasets": ("spec", "template"),
    "replicationcontrollers": ("spec", "template"),
    "jobs": ("spec", "template"),
    "cronjobs": ("spec", "jobTemplate", "spec", "template"),
}
RESOURCES = frozenset({"services", "pods", "namespaces", "configmaps", *WORKLOADS})
_HBA_TRUST = re.compile(r"^\s*host\S*\s.*\btrust\b", re.M)
_WRITES = frozenset({"create", "update", "patch"})


def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | bool)}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def image_repository(image: str) -> str:
    """``registry/ns/redis:7@sha256:..`` -> ``registry/ns/redis``."""
    image = image.split("@", 1)[0]
    slash = image.rfind("/")
    colon = image.rfind(":")
    return image[:colon] if colon > slash else image


@dataclass(frozen=True, slots=True)
class ServicePort:
    port: int | None
    target: int | str | None  # a number or a named container port
    node_port: int | None = None


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    namespace: str
    name: str
    uid: str | None
    type: str
    selector: Mapping[str, str]
    annotations: Mapping[str, str]
    ports: tuple[ServicePort, ...]
    source_ranges: tuple[str, ...]

    @classmethod
    def from_object(cls, obj: Mapping[str, Any], namespace: str, name: str) -> ServiceInfo:
        spec = _dig(obj, "spec") or {}
        ports = []
        for p in _list(spec.get("ports")):
            if not isinstance(p, dict):
                continue
            port = p.get("port") if isinstance(p.get("port"), int) else None
            target = p.get("targetPort")
            node = p.get("nodePort") if isinstance(p.get("nodePort"), int) else None
            ports.append(ServicePort(port, target if isinstance(target, int | str) else None, node))
        return cls(
            namespace=namespace,
            name=name,
            uid=_dig(obj, "metadata", "uid")
            if isinstance(_dig(obj, "metadata", "uid"), str)
            else None,
            type=str(spec.get("type") or "ClusterIP"),
            selector=_str_map(spec.get("selector")),
            annotations=_str_map(_dig(obj, "metadata", "annotations")),
            ports=tuple(ports),
            source_ranges=tuple(str(r) for r in _list(spec.get("loadBalancerSourceRanges"))),
        )

    def target_ports(self) -> set[int | str]:
        """What the Service sends traffic to: each ``targetPort`` (defaulting to ``port``)."""
        out: set[int | str] = set()
        for p in self.ports:
            if p.target is not None:
                out.add(
                    int(p.target) if isinstance(p.target, str) and p.target.isdigit() else p.target
                )
            elif p.port is not None:
                out.add(p.port)
        return out


@dataclass(frozen=True, slots=True)
class PodShape:
    """A pod or a workload's pod template: what a Service selector and the detections read."""

    kind: str  # pods, deployments, ...
    namespace: str
    name: str
    labels: Mapping[str, str]
    images: tuple[str, ...]
    env: Mapping[str, str]  # literal values only, across containers
    ports: tuple[tuple[str, int], ...]  # (name, containerPort)
    configmaps: tuple[str, ...]  # mounted ConfigMap names

    @classmethod
    def from_template(
        cls, kind: str, namespace: str, name: str, template: Mapping[str, Any]
    ) -> PodShape:
        spec = _dig(template, "spec") or {}
        images: list[str] = []
        env: dict[str, str] = {}
        ports: list[tuple[str, int]] = []
        for key in ("initContainers", "containers"):
            for c in _list(spec.get(key)):
                if not isinstance(c, dict):
                    continue
                if isinstance(c.get("image"), str):
                    images.append(c["image"])
                for e in _list(c.get("env")):
                    if isinstance(e, dict) and isinstance(e.get("value"), str):
                        env[str(e.get("name"))] = e["value"]
                for p in _list(c.get("ports")):
                    if isinstance(p, dict) and isinstance(p.get("containerPort"), int):
                        ports.append((str(p.get("name") or ""), p["containerPort"]))
        maps: list[str] = []
        for v in _list(spec.get("volumes")):
            name_ = _dig(v, "configMap", "name")
            if isinstance(name_, str):
                maps.append(name_)
            for src in _list(_dig(v, "projected", "sources")):
                name_ = _dig(src, "configMap", "name")
                if isinstance(name_, str):
                    maps.append(name_)
        return cls(kind, namespace, name, _str_map(_dig(template, "metadata", "labels")),
                   tuple(dict.fromkeys(images)), env, tuple(ports), tuple(maps))  # fmt: skip

    def ref(self) -> str:
        return self.name if self.kind == "pods" else f"{self.kind}/{self.name}"


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A Service selector (equality on every key) matches ``labels``; an empty one matches none."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@dataclass(frozen=True, slots=True)
class Change:
    """One object the inventory took in: what the exposure detections re-evaluate."""

    resource: str
    namespace: str | None
    name: str
    deleted: bool


class _Store:
    """Entries keyed by a tuple whose first item is the namespace, bounded (oldest touched go
    first), with a per-namespace index so that a namespace's entries are found without a scan."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self.by_ns: dict[str, dict[tuple[str, ...], None]] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, key: object) -> bool:
        return key in self.items

    def get(self, key: tuple[str, ...]) -> Any:
        return self.items.get(key)

    def put(self, key: tuple[str, ...], value: Any) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        self.by_ns.setdefault(key[0], {})[key] = None
        while len(self.items) > self.limit:
            self.pop(next(iter(self.items)))

    def pop(self, key: tuple[str, ...]) -> None:
        if self.items.pop(key, None) is not None:
            keys = self.by_ns.get(key[0])
            if keys is not None:
                keys.pop(key, None)
                if not keys:
                    del self.by_ns[key[0]]

    def in_ns(self, namespace: str) -> list[Any]:
        return [self.items[k] for k in self.by_ns.get(namespace, ())]

    def drop_ns(self, namespace: str) -> None:
        for key in list(self.by_ns.get(namespace, ())):
            self.pop(key)

    def values(self) -> Iterable[Any]:
        return self.items.values()

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        return iter(self.items)


class ClusterInventory:
    def __init__(self, max_objects: int) -> None:
        self.services = _Store(max_objects)  # (ns, name) -> ServiceInfo
        self.pods = _Store(max_objects)  # (ns, kind, name) -> PodShape
        self.namespaces = _Store(max_objects)  # (name,) -> True
        self.trust_hba = _Store(max_objects)  # (ns, name) of ConfigMaps with a trust pg_hba

    def selected(self, svc: ServiceInfo) -> list[PodShape]:
        if not svc.selector:
            return []
        return [p for p in self.pods.in_ns(svc.namespace) if selects(svc.selector, p.labels)]

    def services_in(self, namespace: str) -> list[ServiceInfo]:
        return list(self.services.in_ns(namespace))

    def has_namespace(self, name: str) -> bool:
        return (name,) in self.namespaces


class Inventory:
    """Per-cluster inventories; ``apply`` takes one audit event."""

    def __init__(self, max_objects: int = 20_000) -> None:
        self.max_objects = max_objects
        self.clusters: dict[str | None, ClusterInventory] = {}
        self.changed = False  # since the owner last saved it

    def cluster(self, name: str | None) -> ClusterInventory:
        inv = self.clusters.get(name)
        if inv is None:
            inv = self.clusters[name] = ClusterInventory(self.max_objects)
        return inv

    def apply(self, raw: Mapping[str, Any], cluster: str | None) -> Change | None:
        """Update from one audit event; the change, or None when the event changed nothing."""
        ref = raw.get("objectRef")
        if not isinstance(ref, dict):
            return None
        resource = ref.get("resource")
        if resource not in RESOURCES or ref.get("subresource"):
            return None
        verb = raw.get("verb")
        if verb not in _WRITES and verb != "delete":
            return None
        code = _dig(raw, "responseStatus", "code")
        if raw.get("stage") != "ResponseComplete" or not isinstance(code, int) or code >= 300:
            return None
        obj = raw.get("responseObject")
        if obj is None and verb == "create":
            obj = raw.get("requestObject")
        ns = ref.get("namespace") or _dig(obj, "metadata", "namespace")
        name = ref.get("name") or _dig(obj, "metadata", "name")
        if not isinstance(name, str) or not name:
            return None
        ns = ns if isinstance(ns, str) and ns else None
        inv = self.cluster(cluster)
        if ns is not None:
            inv.namespaces.put((ns,), True)  # an object in it: the namespace exists
        self.changed = True
        if verb == "delete":
            self._delete(inv, str(resource), ns, name)
            return Change(str(resource), ns, name, True)
        if not isinstance(obj, dict) or obj.get("kind") == "Status":
            return None
        if not self._put(inv, str(resource), ns, name, obj):
            return None
        return Change(str(resource), ns, name, False)

    def put_object(self, resource: str, obj: Mapping[str, Any], cluster: str | None) -> bool:
        """Take one object as listed from the API server (not from an audit event)."""
        if resource not in RESOURCES or not isinstance(obj, dict):
            return False
        name = _dig(obj, "metadata", "name")
        ns = _dig(obj, "metadata", "namespace")
        if not isinstance(name, str) or not name:
            return False
        ns = ns if isinstance(ns, str) and ns else None
        inv = self.cluster(cluster)
        if ns is not None:
            inv.namespaces.put((ns,), True)
        self.changed = True
        return self._put(inv, resource, ns, name, obj)

    def _put(
        self,
        inv: ClusterInventory,
        resource: str,
        ns: str | None,
        name: str,
        obj: Mapping[str, Any],
    ) -> bool:
        if resource == "namespaces":
            inv.namespaces.put((name,), True)
            return True
        if ns is None:
            return False
        if resource == "services":
            inv.services.put((ns, name), ServiceInfo.from_object(obj, ns, name))
        elif resource == "configmaps":
            data = obj.get("data")
            trust = isinstance(data, dict) and any(
                isinstance(v, str) and "hba" in str(k) and _HBA_TRUST.search(v)
                for k, v in data.items()
            )
            if trust:
                inv.trust_hba.put((ns, name), True)
            else:
                inv.trust_hba.pop((ns, name))
        elif resource == "pods":
            inv.pods.put((ns, resource, name), PodShape.from_template(resource, ns, name, obj))
        else:
            template = _dig(obj, *WORKLOADS[resource])
            if not isinstance(template, dict):
                return False
            inv.pods.put((ns, resource, name), PodShape.from_template(resource, ns, name, template))
        return True

    def _delete(self, inv: ClusterInventory, resource: str, ns: str | None, name: str) -> None:
        if resource == "namespaces":
            inv.namespaces.pop((name,))
            for store in (inv.services, inv.pods, inv.trust_hba):
                store.drop_ns(name)
        elif ns is None:
            return
        elif resource == "services":
            inv.services.pop((ns, name))
        elif resource == "configmaps":
            inv.trust_hba.pop((ns, name))
        else:
            inv.pods.pop((ns, resource, name))

    # persistence -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for cluster, inv in self.clusters.items():
            out[cluster or ""] = {
                "services": [_service_json(s) for s in inv.services.values()],
                "pods": [_pod_json(p) for p in inv.pods.values()],
                "namespaces": [k[0] for k in inv.namespaces],
                "trust_hba": [list(k) for k in inv.trust_hba],
            }
        return out

    def restore(self, data: Mapping[str, Any]) -> None:
        for cluster, doc in data.items():
            inv = self.cluster(cluster or None)
            for s in doc.get("services", []):
                ports = tuple(ServicePort(*p) for p in s["ports"])
                info = ServiceInfo(s["namespace"], s["name"], s["uid"], s["type"], s["selector"],
                                   s["annotations"], ports, tuple(s["source_ranges"]))  # fmt: skip
                inv.services.put((info.namespace, info.name), info)
            for p in doc.get("pods", []):
                shape = PodShape(p["kind"], p["namespace"], p["name"], p["labels"],
                                 tuple(p["images"]), p["env"],
                                 tuple((n, int(v)) for n, v in p["ports"]),
                                 tuple(p["configmaps"]))  # fmt: skip
                inv.pods.put((shape.namespace, shape.kind, shape.name), shape)
            for n in doc.get("namespaces", []):
                inv.namespaces.put((n,), True)
            for ns, name in doc.get("trust_hba", []):
                inv.trust_hba.put((ns, name), True)

    def sizes(self) -> dict[str, int]:
        return {
            kind: sum(len(getattr(inv, kind)) for inv in self.clusters.values())
            for kind in ("services", "pods", "namespaces", "trust_hba")
        }


def _service_json(s: ServiceInfo) -> dict[str, Any]:
    return {"namespace": s.namespace, "name": s.name, "uid": s.uid, "type": s.type,
            "selector": dict(s.selector), "annotations": dict(s.annotations),
            "ports": [[p.port, p.target, p.node_port] for p in s.ports],
            "source_ranges": list(s.source_ranges)}  # fmt: skip


def _pod_json(p: PodShape) -> dict[str, Any]:
    return {"kind": p.kind, "namespace": p.namespace, "name": p.name, "labels": dict(p.labels),
            "images": list(p.images), "env": dict(p.env), "ports": [list(x) for x in p.ports],
            "configmaps": list(p.configmaps)}  # fmt: skip


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
