"""MAM-K8S-005 (Service ports), 006 (host network and ports), 009 (host PID/IPC), 011 (HTTPS)."""

from __future__ import annotations

from collections.abc import Iterator

from mamori.posture.checks.base import Check, Outcome, Params, Subject, Violation, params
from mamori.posture.checks.util import in_ranges, is_true
from mamori.posture.model import Level
from mamori.posture.workload import as_list, as_map, get


@params
class ServicePortsParams(Params):
    allowed_service_ports: list[str] = ["80", "443"]
    service_types: list[str] = ["LoadBalancer", "NodePort"]


def service_ports(s: Subject, p: ServicePortsParams) -> Iterator[Outcome]:
    obj = s.manifest.obj
    if s.manifest.name == "kubernetes" and s.namespace in (None, "default"):
        return
    spec = as_map(obj.get("spec"))
    stype = str(spec.get("type") or "ClusterIP")
    exposed = "*" in p.service_types or stype in p.service_types or bool(spec.get("externalIPs"))
    if not exposed:
        return
    for i, port in enumerate(as_list(spec.get("ports"))):
        number = as_map(port).get("port")
        if not isinstance(number, int) or not in_ranges(number, p.allowed_service_ports):
            yield Violation(
                ("spec", "ports", i, "port"),
                f"{stype} Service listens on port {number}",
                value=number,
            )


SERVICE_PORTS: Check[ServicePortsParams] = Check(
    id="MAM-K8S-005",
    title="Services should listen on allowed ports only",
    severity=Level.MEDIUM,
    family="defender",
    run=service_ports,
    params=ServicePortsParams,
    kinds=frozenset({"Service"}),
    fields=("spec.ports[].port",),
    azure_policy_id="233a2a17-77ca-4fb1-9b6b-69223d272a44",
    remediation="Expose only the allowed ports, or keep the Service internal (ClusterIP).",
    fix="ports: [{port: 443, targetPort: 8443}]",
)


@params
class HostNetworkParams(Params):
    allow_host_network: bool = False
    allowed_host_ports: list[str] = []


def host_network(s: Subject, p: HostNetworkParams) -> Iterator[Outcome]:
    pod = s.pod
    if is_true(pod.spec.get("hostNetwork")) and not p.allow_host_network:
        yield Violation((*pod.spec_path, "hostNetwork"), "uses the host network", value=True)
    # Ephemeral containers included: the API forbids their ports, Gatekeeper still checks them.
    for ref, body in pod.containers():
        for j, port in enumerate(as_list(body.get("ports"))):
            host_port = as_map(port).get("hostPort")
            allowed = isinstance(host_port, int) and in_ranges(host_port, p.allowed_host_ports)
            if isinstance(host_port, int) and host_port >= 1 and not allowed:
                path = (*ref.path, "ports", j, "hostPort")
                yield Violation(path, f"uses host port {host_port}", ref, host_port)


HOST_NETWORK: Check[HostNetworkParams] = Check(
    id="MAM-K8S-006",
    title="Usage of host networking and ports should be restricted",
    severity=Level.MEDIUM,
    family="defender",
    run=host_network,
    params=HostNetworkParams,
    fields=("spec.hostNetwork", "<c>.ports[].hostPort"),
    pss=("B hostNamespaces", "B hostPorts"),
    azure_policy_id="82985f06-dc18-4a48-bc1c-b9f4f0098cfe",
    remediation="Do not use the host network or host ports; expose the pod through a Service.",
    fix="hostNetwork: false  # and remove hostPort",
)


@params
class HostNamespaceParams(Params):
    include_host_network: bool = False


def host_namespaces(s: Subject, p: HostNamespaceParams) -> Iterator[Outcome]:
    keys = ["hostPID", "hostIPC"] + (["hostNetwork"] if p.include_host_network else [])
    for key in keys:
        if is_true(s.pod.spec.get(key)):
            yield Violation(
                (*s.pod.spec_path, key), f"shares the host's namespace ({key})", None, True
            )


HOST_NAMESPACES: Check[HostNamespaceParams] = Check(
    id="MAM-K8S-009",
    title="Containers sharing sensitive host namespaces should be avoided",
    severity=Level.MEDIUM,
    family="defender",
    run=host_namespaces,
    params=HostNamespaceParams,
    fields=("spec.hostPID", "spec.hostIPC"),
    pss=("B hostNamespaces",),
    azure_policy_id="47a1ee2f-2a2a-4576-bf2a-e0e36709c2b8",
    pod_image_exclusion=True,
    remediation="Do not share the host's PID or IPC namespace.",
    fix="hostPID: false\nhostIPC: false",
)

ALLOW_HTTP = "kubernetes.io/ingress.allow-http"


@params
class HttpsParams(Params):
    require_tls: bool = True
    require_allow_http_annotation: bool = True
    require_tls_for_all_hosts: bool = False


def https_only(s: Subject, p: HttpsParams) -> Iterator[Outcome]:
    obj = s.manifest.obj
    tls = [as_map(t) for t in as_list(get(obj, "spec", "tls"))]
    if p.require_tls and not tls:
        yield Violation(("spec", "tls"), "Ingress has no TLS configuration")
    annotations = as_map(get(obj, "metadata", "annotations"))
    if p.require_allow_http_annotation and annotations.get(ALLOW_HTTP) != "false":
        path = ("metadata", "annotations", ALLOW_HTTP)
        yield Violation(
            path, f'annotation {ALLOW_HTTP} is not "false"', None, annotations.get(ALLOW_HTTP)
        )
    if p.require_tls_for_all_hosts:
        covered = {h for t in tls for h in as_list(t.get("hosts"))}
        for i, rule in enumerate(as_list(get(obj, "spec", "rules"))):
            host = as_map(rule).get("host")
            if host and host not in covered:
                yield Violation(("spec", "rules", i, "host"), f"host {host} has no TLS", None, host)


HTTPS_ONLY: Check[HttpsParams] = Check(
    id="MAM-K8S-011",
    title="Kubernetes clusters should be accessible only over HTTPS",
    severity=Level.HIGH,
    family="defender",
    run=https_only,
    params=HttpsParams,
    kinds=frozenset({"Ingress"}),
    fields=("spec.tls[]", f"metadata.annotations[{ALLOW_HTTP}]"),
    azure_policy_id="1a5b4dca-0b6f-4cf5-907c-56316bc1bf3d",
    remediation="Serve the Ingress over TLS only and refuse plain HTTP.",
    fix="tls: [{hosts: [app.example.com], secretName: app-tls}]\n"
    f'# metadata.annotations: {{{ALLOW_HTTP}: "false"}}',
)
