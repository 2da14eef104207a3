"""Exposure detections (MAM-CP-001, 002, 009, 010, 011, 012): a Service joined with its pods.

Each judges the Service's spec (type, internal-load-balancer annotations, source ranges,
ports), never whether the cloud assigned an address, together with the pods and workload pod
templates its selector matches in the inventory. They are evaluated again when either side
changes (the Service, a pod or workload in its namespace, a mounted ConfigMap, the
``kubeflow`` namespace) and fire once per (Service, reason): a reason that stops holding after
a change of the Service itself may fire again if it comes back; pods coming and going (a
rolling update) never re-fire a reason already raised.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mamori.audit.alerts import Detection
from mamori.audit.inventory import (
    Change,
    ClusterInventory,
    Inventory,
    PodShape,
    ServiceInfo,
    image_repository,
    unique,
)
from mamori.core.events import Event
from mamori.core.findings import Alert, ResourceRef
from mamori.core.severity import Severity

_INITIAL = ("mitre_initial_access", "T1133")


def _exposure(num: str, rule: str, severity: Severity, defender: str) -> Detection:
    tags = ("k8s", f"mamori.MAM-CP-{num}", f"defender.{defender}", *_INITIAL)
    return Detection(f"MAM-CP-{num}", rule, severity, tags)


CP001 = _exposure("001", "mamori exposed postgres with trust authentication", Severity.WARNING,
                  "K8S_ExposedPostgresTrustAuth")  # fmt: skip
CP002 = _exposure("002", "mamori exposed postgres with broad source range", Severity.WARNING,
                  "K8S_ExposedPostgresBroadIPRange")  # fmt: skip
CP009 = _exposure("009", "mamori exposed kubeflow dashboard", Severity.WARNING,
                  "K8S_ExposedKubeflow")  # fmt: skip
CP010 = _exposure("010", "mamori exposed kubernetes dashboard", Severity.CRITICAL,
                  "K8S_ExposedDashboard")  # fmt: skip
CP011 = _exposure("011", "mamori exposed sensitive service", Severity.WARNING,
                  "K8S_ExposedService")  # fmt: skip
CP012 = _exposure("012", "mamori exposed redis service", Severity.NOTICE, "K8S_ExposedRedis")
DETECTIONS = (CP001, CP002, CP009, CP010, CP011, CP012)

# Annotations that make a LoadBalancer internal (cloud providers' own spellings); the value
# that means "internal", or None for "any value but false".
INTERNAL_LB: Mapping[str, str | None] = {
    "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
    "networking.gke.io/load-balancer-type": "internal",
    "cloud.google.com/load-balancer-type": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-internal": None,
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/oci-load-balancer-internal": "true",
    "service.beta.kubernetes.io/openstack-internal-load-balancer": "true",
    "service.kubernetes.io/ibm-load-balancer-cloud-provider-ip-type": "private",
    "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": "intranet",
}
SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"
POSTGRES_IMAGES = ("postgres", "postgresql", "postgis", "timescaledb", "timescaledb-ha", "pgvector")
# CP-011: sensitive applications by image repository (substring) and by container port.
SENSITIVE_APPS: tuple[tuple[str, tuple[str, ...], tuple[int, ...]], ...] = (
    ("docker-api", (), (2375, 2376)),
    ("kubelet", (), (10250, 10255)),
    ("etcd", ("etcd",), (2379, 2380)),
    ("weave-scope", ("weaveworks/scope",), (4040,)),
    ("jupyter", ("jupyter/", "jupyterhub/"), (8888,)),
    ("argo-workflows", ("argoproj/argocli", "argoproj/argo-server"), (2746,)),
)
WIDEST_V4, WIDEST_V6 = 16, 48


@dataclass(frozen=True, slots=True)
class Hit:
    detection: Detection
    reason: str
    pods: tuple[PodShape, ...]

    @property
    def key(self) -> str:
        return f"{self.detection.id}:{self.reason}"


def internal_lb(svc: ServiceInfo) -> bool:
    for name, want in INTERNAL_LB.items():
        value = svc.annotations.get(name)
        if value is None:
            continue
        value = value.strip().lower()
        if (want is None and value not in ("", "false")) or value == want:
            return True
    return False


def public_lb(svc: ServiceInfo) -> bool:
    return svc.type == "LoadBalancer" and not internal_lb(svc)


def _last(image: str) -> str:
    return image_repository(image).rsplit("/", 1)[-1].lower()


def _pods_with(pods: Iterable[PodShape], test: Callable[[PodShape], bool]) -> tuple[PodShape, ...]:
    return tuple(p for p in pods if test(p))


def _is_postgres(p: PodShape) -> bool:
    return any(_last(i) in POSTGRES_IMAGES for i in p.images)


def _declares(p: PodShape, target: int | str) -> bool:
    return any(target in (name, port) for name, port in p.ports)


def broad_range(svc: ServiceInfo) -> str | None:
    """Why the source ranges are too broad (absent, or one wider than /16), else None."""
    ranges = list(svc.source_ranges)
    if not ranges and svc.annotations.get(SOURCE_RANGES_ANNOTATION):
        ranges = [r.strip() for r in svc.annotations[SOURCE_RANGES_ANNOTATION].split(",")]
    ranges = [r for r in ranges if r]
    if not ranges:
        return "no loadBalancerSourceRanges"
    for text in ranges:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue
        widest = WIDEST_V4 if net.version == 4 else WIDEST_V6
        if net.prefixlen < widest:
            return f"source range {text} wider than /{widest}"
    return None


def evaluate(inv: ClusterInventory, svc: ServiceInfo) -> list[Hit]:
    """Every (detection, reason) that holds for ``svc`` now."""
    pods = inv.selected(svc)
    hits: list[Hit] = []
    lb = public_lb(svc)
    targets = svc.target_ports()
    ports = {p.port for p in svc.ports} | targets
    if lb:
        postgres = _pods_with(pods, _is_postgres)
        trust_env = _pods_with(
            postgres, lambda p: p.env.get("POSTGRES_HOST_AUTH_METHOD") == "trust"
        )
        if trust_env:
            hits.append(Hit(CP001, "POSTGRES_HOST_AUTH_METHOD=trust", trust_env))
        for p in postgres:
            for cm in p.configmaps:
                if (svc.namespace, cm) in inv.trust_hba:
                    hits.append(Hit(CP001, f"pg_hba ConfigMap {cm} trusts host connections", (p,)))
        if postgres or 5432 in ports:
            why = broad_range(svc)
            if why is not None:
                hits.append(Hit(CP002, why, postgres))
        if (
            svc.namespace == "istio-system"
            and svc.selector.get("istio") == "ingressgateway"
            and inv.has_namespace("kubeflow")
        ):
            hits.append(
                Hit(CP009, "istio ingress gateway with namespace kubeflow", pods_tuple(pods))
            )
        hits += _sensitive(pods, targets)
        if 6379 in ports:
            hits.append(Hit(CP012, "port 6379", pods_tuple(pods)))
        redis = _pods_with(pods, lambda p: any(_last(i).endswith("redis") for i in p.images))
        if redis:
            hits.append(Hit(CP012, "redis image", redis))
    if lb or svc.type == "NodePort":
        dash = _pods_with(pods, _is_dashboard)
        if dash or svc.selector.get("k8s-app") == "kubernetes-dashboard":
            hits.append(Hit(CP010, f"{svc.type} selecting the Kubernetes dashboard", dash))
    return hits


def _sensitive(pods: list[PodShape], targets: set[int | str]) -> list[Hit]:
    """CP-011: pods of a sensitive application by image, or declaring its port as a target."""
    hits: list[Hit] = []
    for app, words, app_ports in SENSITIVE_APPS:
        by_image = tuple(p for p in pods if any(w in i for i in p.images for w in words))
        if by_image:
            hits.append(Hit(CP011, f"{app} image", by_image))
        for port in app_ports:
            declaring = tuple(p for p in pods if _declares(p, port))
            if declaring and (port in targets or any(_named(p, port) & targets for p in declaring)):
                hits.append(Hit(CP011, f"{app} port {port}", declaring))
    return hits


def _named(p: PodShape, port: int) -> set[int | str]:
    return {name for name, number in p.ports if number == port and name}


def pods_tuple(pods: Iterable[PodShape]) -> tuple[PodShape, ...]:
    return tuple(pods)


def _is_dashboard(p: PodShape) -> bool:
    return (
        p.labels.get("k8s-app") == "kubernetes-dashboard"
        or "kubernetes-dashboard" in p.labels.get("app.kubernetes.io/name", "")
        or any("kubernetesui/dashboard" in i for i in p.images)
    )


class ExposureDetector:
    """Keeps the inventory and the (Service, reason) pairs already raised."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.fired: dict[tuple[str, str, str], set[str]] = {}  # (cluster, ns, name) -> hit keys

    def observe(self, event: Event) -> list[Alert]:
        if event.audit is None:
            return []
        change = self.inventory.apply(event.audit.raw, event.cluster)
        if change is None:
            return []
        inv = self.inventory.cluster(event.cluster)
        cluster = event.cluster or ""
        if change.resource == "services" and change.namespace is not None:
            key = (cluster, change.namespace, change.name)
            if change.deleted:
                self.fired.pop(key, None)
                return []
            svc = inv.services.get((change.namespace, change.name))
            return self._judge(event, inv, [svc], replace=True) if svc else []
        if change.deleted:
            if change.resource == "namespaces":
                for k in [k for k in self.fired if k[0] == cluster and k[1] == change.name]:
                    del self.fired[k]
            return []
        return self._judge(event, inv, self._affected(inv, change), replace=False)

    def _affected(self, inv: ClusterInventory, change: Change) -> list[ServiceInfo]:
        if change.resource == "namespaces":
            return inv.services_in("istio-system") if change.name == "kubeflow" else []
        if change.namespace is None:
            return []
        services = [s for s in inv.services_in(change.namespace) if s.type != "ClusterIP"]
        if change.resource == "configmaps":
            return services
        shape = inv.pods.get((change.namespace, change.resource, change.name))
        if shape is None:
            return []
        return [s for s in services if all(shape.labels.get(k) == v for k, v in s.selector.items())
                and s.selector]  # fmt: skip

    def _judge(
        self, event: Event, inv: ClusterInventory, services: list[ServiceInfo], *, replace: bool
    ) -> list[Alert]:
        out: list[Alert] = []
        for svc in services:
            key = (event.cluster or "", svc.namespace, svc.name)
            hits = evaluate(inv, svc)
            done = self.fired.get(key, set())
            for hit in hits:
                if hit.key not in done:
                    out.append(exposure_alert(event, svc, hit))
            now = {h.key for h in hits}
            merged = now if replace else done | now
            if merged:
                self.fired[key] = merged
            else:
                self.fired.pop(key, None)
        return out

    def mark_known(self, cluster: str | None) -> None:
        """Record what holds now for every Service of ``cluster`` as raised (after a seed)."""
        inv = self.inventory.cluster(cluster)
        for svc in list(inv.services.values()):
            hits = {h.key for h in evaluate(inv, svc)}
            key = (cluster or "", svc.namespace, svc.name)
            if hits:
                self.fired[key] = self.fired.get(key, set()) | hits

    def snapshot(self) -> list[list[Any]]:
        return [[*k, sorted(v)] for k, v in self.fired.items()]

    def restore(self, data: list[list[Any]]) -> None:
        for cluster, ns, name, keys in data:
            self.fired[(cluster, ns, name)] = set(keys)


def exposure_alert(event: Event, svc: ServiceInfo, hit: Hit) -> Alert:
    pods = unique(p.ref() for p in hit.pods)
    images = unique(i for p in hit.pods for i in p.images)
    ports = [f"{p.port}->{p.target}" if p.target is not None else str(p.port) for p in svc.ports]
    raw: Mapping[str, Any] = event.audit.raw if event.audit is not None else {}
    user = (raw.get("user") or {}).get("username") if isinstance(raw.get("user"), dict) else None
    ips = raw.get("sourceIPs") if isinstance(raw.get("sourceIPs"), list) else []
    output = (
        f"{hit.detection.rule.removeprefix('mamori ').capitalize()} "
        f"(service={svc.namespace}/{svc.name} type={svc.type} reason={hit.reason} "
        f"ports={','.join(ports)} pods={','.join(pods) or '-'} images={','.join(images) or '-'} "
        f"user={user} useragent={raw.get('userAgent')} sourceip={ips[0] if ips else None})"
    )
    fields = {
        "mamori.service": f"{svc.namespace}/{svc.name}",
        "mamori.service.type": svc.type,
        "mamori.service.ports": ports,
        "mamori.service.source_ranges": list(svc.source_ranges),
        "mamori.reason": hit.reason,
        "mamori.pods": pods,
        "mamori.images": images,
    }
    resource = ResourceRef("services", svc.name, svc.namespace, event.cluster, svc.uid)
    key = f"{svc.namespace}/{svc.name}/{hit.key}"
    return hit.detection.alert(event, key, output, resource, fields)
