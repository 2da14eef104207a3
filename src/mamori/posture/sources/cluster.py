"""A live cluster, read-only (get/list), through the plain Kubernetes REST API over httpx.

Kubeconfig is resolved as kubectl does (``--kubeconfig``, ``$KUBECONFIG``, ``~/.kube/config``,
then in-cluster). Supported credentials: bearer token (``token``/``tokenFile``), client
certificate and key (files or ``-data``), basic auth; ``exec``/``auth-provider`` plugins are not
run (get a token with them and pass it in a kubeconfig). Lists are paginated (``limit=500`` +
``continue``) and scanned page by page, so memory does not grow with the cluster.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from mamori.posture.config import ScanConfig
from mamori.posture.engine import Context, evaluate
from mamori.posture.model import Diagnostic, Manifest
from mamori.posture.scan import Report

PAGE = 500
IN_CLUSTER = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# (API path prefix, resource, kind); order: owners before what they own does not matter.
RESOURCES = (
    ("/api/v1", "pods", "Pod"),
    ("/api/v1", "services", "Service"),
    ("/api/v1", "replicationcontrollers", "ReplicationController"),
    ("/api/v1", "configmaps", "ConfigMap"),
    ("/apis/apps/v1", "deployments", "Deployment"),
    ("/apis/apps/v1", "statefulsets", "StatefulSet"),
    ("/apis/apps/v1", "daemonsets", "DaemonSet"),
    ("/apis/apps/v1", "replicasets", "ReplicaSet"),
    ("/apis/batch/v1", "jobs", "Job"),
    ("/apis/batch/v1", "cronjobs", "CronJob"),
    ("/apis/networking.k8s.io/v1", "ingresses", "Ingress"),
)
OWNER_KINDS = frozenset(k for _, _, k in RESOURCES)


class ClusterError(Exception):
    """Unreachable, forbidden or misconfigured (exit code 2)."""


@dataclass
class KubeApi:
    client: httpx.Client
    cluster_name: str | None = None

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        try:
            r = self.client.get(path, params=dict(params or {}))
        except httpx.HTTPError as exc:
            raise ClusterError(f"cannot reach the API server: {exc}") from None
        if r.status_code in (401, 403):
            raise ClusterError(f"the API server refused {path}: HTTP {r.status_code}")
        if r.status_code == 404:
            return {"items": []}
        if r.status_code >= 400:
            raise ClusterError(f"GET {path}: HTTP {r.status_code} {r.text[:200]}")
        data: dict[str, Any] = r.json()
        return data

    def list(
        self, prefix: str, resource: str, namespace: str | None
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of items (each item with kind and apiVersion filled in)."""
        path = (
            f"{prefix}/namespaces/{namespace}/{resource}" if namespace else f"{prefix}/{resource}"
        )
        token: str | None = None
        while True:
            params: dict[str, Any] = {"limit": PAGE}
            if token:
                params["continue"] = token
            page = self.get(path, params)
            yield [i for i in page.get("items") or [] if isinstance(i, dict)]
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return


def _kubeconfig_path(flag: Path | None) -> Path | None:
    if flag is not None:
        return flag
    env = os.environ.get("KUBECONFIG")
    if env:
        for part in env.split(os.pathsep):
            if part and Path(part).is_file():
                return Path(part)
    home = Path.home() / ".kube" / "config"
    return home if home.is_file() else None


def _named(entries: Any, name: str, key: str) -> dict[str, Any]:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(key)
            return value if isinstance(value, dict) else {}
    raise ClusterError(f"kubeconfig has no {key} named {name!r}")


def _pem(section: Mapping[str, Any], key: str, base: Path) -> bytes | None:
    if section.get(f"{key}-data"):
        return base64.b64decode(section[f"{key}-data"])
    if section.get(key):
        return (base / str(section[key])).read_bytes()
    return None


def _ssl_context(
    cluster: Mapping[str, Any], user: Mapping[str, Any], base: Path
) -> ssl.SSLContext | bool:
    if cluster.get("insecure-skip-tls-verify"):
        return False
    ca = _pem(cluster, "certificate-authority", base)
    ctx = ssl.create_default_context(cadata=ca.decode() if ca else None)
    cert, key = _pem(user, "client-certificate", base), _pem(user, "client-key", base)
    if cert and key:
        with tempfile.TemporaryDirectory() as tmp:  # ssl wants files; they live only this long
            cert_file, key_file = Path(tmp) / "c.pem", Path(tmp) / "k.pem"
            cert_file.write_bytes(cert)
            key_file.write_bytes(key)
            key_file.chmod(0o600)
            ctx.load_cert_chain(cert_file, key_file)
    return ctx


def _headers(user: Mapping[str, Any], base: Path) -> dict[str, str]:
    if user.get("token"):
        return {"Authorization": f"Bearer {user['token']}"}
    if user.get("tokenFile"):
        token = (base / str(user["tokenFile"])).read_text().strip()
        return {"Authorization": f"Bearer {token}"}
    if user.get("username"):
        raw = f"{user['username']}:{user.get('password', '')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    if user.get("exec") or user.get("auth-provider"):
        raise ClusterError(
            "kubeconfig exec/auth-provider credentials are not supported; use a token"
        )
    return {}


def from_kubeconfig(
    data: Mapping[str, Any],
    context: str | None,
    base: Path,
    transport: httpx.BaseTransport | None = None,
) -> KubeApi:
    name = context or data.get("current-context")
    if not name:
        raise ClusterError("kubeconfig has no current-context; pass --context")
    ctx = _named(data.get("contexts"), str(name), "context")
    cluster = _named(data.get("clusters"), str(ctx.get("cluster")), "cluster")
    user = _named(data.get("users"), str(ctx.get("user")), "user") if ctx.get("user") else {}
    server = cluster.get("server")
    if not server:
        raise ClusterError(f"cluster {ctx.get('cluster')!r} has no server")
    verify = _ssl_context(cluster, user, base) if transport is None else True
    client = httpx.Client(
        base_url=str(server),
        headers=_headers(user, base),
        verify=verify,
        timeout=30,
        transport=transport,
    )
    return KubeApi(client, str(ctx.get("cluster")))


def _in_cluster() -> KubeApi:
    host, port = (
        os.environ.get("KUBERNETES_SERVICE_HOST"),
        os.environ.get("KUBERNETES_SERVICE_PORT"),
    )
    if not (host and port and (IN_CLUSTER / "token").is_file()):
        raise ClusterError("no kubeconfig found and not running in a cluster")
    ctx = ssl.create_default_context(cafile=str(IN_CLUSTER / "ca.crt"))
    token = (IN_CLUSTER / "token").read_text().strip()
    client = httpx.Client(
        base_url=f"https://{host}:{port}",
        headers={"Authorization": f"Bearer {token}"},
        verify=ctx,
        timeout=30,
    )
    return KubeApi(client, None)


def connect(kubeconfig: Path | None, context: str | None) -> KubeApi:
    path = _kubeconfig_path(kubeconfig)
    if path is None:
        return _in_cluster()
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ClusterError(f"cannot read kubeconfig {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ClusterError(f"kubeconfig {path} is not a mapping")
    try:
        return from_kubeconfig(data, context, path.parent)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ClusterError(f"kubeconfig {path}: {exc}") from None


def _owned(obj: Mapping[str, Any]) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(r, dict) and r.get("kind") in OWNER_KINDS for r in refs)


def _accounts(
    api: KubeApi, namespace: str | None
) -> dict[tuple[str | None, str], Mapping[str, Any]]:
    found: dict[tuple[str | None, str], Mapping[str, Any]] = {}
    for page in api.list("/api/v1", "serviceaccounts", namespace):
        for sa in page:
            meta = sa.get("metadata") or {}
            found[(meta.get("namespace"), str(meta.get("name")))] = sa
    return found


def _namespace_labels(api: KubeApi) -> dict[str, Mapping[str, Any]]:
    labels: dict[str, Mapping[str, Any]] = {}
    try:
        for page in api.list("/api/v1", "namespaces", None):
            for ns in page:
                meta = ns.get("metadata") or {}
                labels[str(meta.get("name"))] = meta.get("labels") or {}
    except ClusterError:
        return {}  # namespaceSelector then cannot apply; everything else still works
    return labels


def scan_cluster(
    api: KubeApi, config: ScanConfig, *, namespace: str | None = None, include_owned: bool = False
) -> Report:
    report = Report()
    ctx = Context(
        config, _accounts(api, namespace), _namespace_labels(api) if not namespace else {}
    )
    source = f"cluster:{api.cluster_name or 'in-cluster'}"
    report.inputs.append(source)
    for prefix, resource, kind in RESOURCES:
        api_version = prefix.removeprefix("/apis/").removeprefix("/api/")
        for page in api.list(prefix, resource, namespace):
            for obj in page:
                if not include_owned and _owned(obj):
                    continue
                obj.setdefault("kind", kind)
                obj.setdefault("apiVersion", api_version)
                for out in evaluate(Manifest(obj, source), ctx):
                    if isinstance(out, Diagnostic):
                        report.diagnostics.append(out)
                    else:
                        report.results.append(out)
    return report
