# ruff: noqa: E501  (a table of realistic audit events; long literal strings)
"""Writes the audit corpus: one ``<case>.json`` audit.k8s.io/v1 ``Event`` per case.

The events have the shape kube-apiserver 1.30 emits with mamori's audit policy (docs/audit.md):
``RequestResponse`` level for pods, workloads, RBAC, webhooks and kube-system ConfigMaps (with
``requestObject`` and, on success, ``responseObject``), ``Metadata`` for secrets and the rest.
The JSON files are the test data; this script only documents how they were made and lets a
maintainer regenerate them (``python tests/audit/corpus/generate.py``).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ADMIN = {
    "username": "kubernetes-admin",
    "groups": ["kubeadm:cluster-admins", "system:authenticated"],
}
ADMIN_REASON = (
    'RBAC: allowed by ClusterRoleBinding "kubeadm:cluster-admins" of ClusterRole '
    '"cluster-admin" to Group "kubeadm:cluster-admins"'
)
KUBECTL = "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350"
IPS = ["172.18.0.1"]
KCM = "kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/3968350/system:serviceaccount:kube-system:"
WHEN = "2025-03-01T12:00:{:02d}.{:06d}Z"
_n = 0

CASES: dict[str, dict[str, Any]] = {}


def sa(ns: str, name: str) -> dict[str, Any]:
    return {
        "username": f"system:serviceaccount:{ns}:{name}",
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sa/{ns}/{name}")),
        "groups": [
            "system:serviceaccounts",
            f"system:serviceaccounts:{ns}",
            "system:authenticated",
        ],
        "extra": {
            "authentication.kubernetes.io/pod-name": [f"{name}-7d4b9c8f6d-x2x9q"],
            "authentication.kubernetes.io/pod-uid": [str(uuid.uuid5(uuid.NAMESPACE_URL, name))],
        },
    }


def _uri(group: str, version: str, resource: str, ns: str | None, name: str | None,
         sub: str | None, query: str) -> str:  # fmt: skip
    base = f"/apis/{group}/{version}" if group else "/api/v1"
    if ns is not None and resource != "namespaces":
        base += f"/namespaces/{ns}"
    base += f"/{resource}"
    if name is not None:
        base += f"/{name}"
    if sub is not None:
        base += f"/{sub}"
    return base + (f"?{query}" if query else "")


def _status(code: int, resource: str, name: str | None) -> dict[str, Any]:
    if code < 300:
        return {"metadata": {}, "code": code}
    reason = {403: "Forbidden", 404: "NotFound", 409: "AlreadyExists"}[code]
    return {
        "metadata": {},
        "status": "Failure",
        "message": f'{resource} "{name}" {reason.lower()}',
        "reason": reason,
        "details": {"name": name, "kind": resource},
        "code": code,
    }


def _with_server_fields(obj: dict[str, Any], name: str, ns: str | None) -> dict[str, Any]:
    out = json.loads(json.dumps(obj))
    meta = out.setdefault("metadata", {})
    meta.update(
        uid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ns}/{name}")),
        resourceVersion="48213",
        creationTimestamp="2025-03-01T12:00:00Z",
    )
    if ns is not None:
        meta.setdefault("namespace", ns)
    return out


def event(
    case: str,
    verb: str,
    resource: str,
    *,
    ns: str | None = None,
    name: str | None = None,
    sub: str | None = None,
    group: str = "",
    version: str = "v1",
    user: dict[str, Any] | None = None,
    agent: str = KUBECTL,
    ips: list[str] | None = None,
    code: int | None = None,
    body: dict[str, Any] | None = None,
    stage: str = "ResponseComplete",
    query: str = "",
    uri: str | None = None,
    level: str | None = None,
    decision: str = "allow",
    reason: str = ADMIN_REASON,
    at: str | None = None,
) -> None:
    global _n
    _n += 1
    code = code if code is not None else (201 if verb == "create" else 200)
    collection = verb in ("create", "list", "watch", "deletecollection") and sub is None
    if uri is None:
        path_name = None if collection else name
        if verb == "create" and resource == "namespaces":
            path_name = None
        uri = _uri(group, version, resource, ns, path_name, sub, query)
    ref: dict[str, Any] = {"resource": resource}
    if ns is not None and resource != "namespaces":
        ref["namespace"] = ns
    if name is not None:
        ref["name"] = name
    if group:
        ref["apiGroup"] = group
    ref["apiVersion"] = version
    if sub is not None:
        ref["subresource"] = sub
    ev: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level or ("RequestResponse" if body is not None else "Metadata"),
        "auditID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"mamori-corpus/{case}")),
        "stage": stage,
        "requestURI": uri,
        "verb": verb,
        "user": user or ADMIN,
        "sourceIPs": ips or IPS,
        "userAgent": agent,
        "objectRef": ref,
        "responseStatus": _status(code, resource, name),
    }
    if body is not None:
        ev["requestObject"] = body
        if code < 300 and verb in ("create", "update") and stage == "ResponseComplete":
            ev["responseObject"] = _with_server_fields(body, name or "", ns)
    ev["requestReceivedTimestamp"] = at or WHEN.format(_n % 60, 120000 + _n)
    ev["stageTimestamp"] = at or WHEN.format(_n % 60, 180000 + _n)
    ev["annotations"] = {
        "authorization.k8s.io/decision": decision,
        "authorization.k8s.io/reason": reason,
    }
    if resource == "pods" and verb == "create" and sub is None:
        ev["annotations"]["pod-security.kubernetes.io/enforce-policy"] = "privileged:latest"
    CASES[case] = ev


def pod(name: str, ns: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": None,
                     "labels": {"run": name}},
        "spec": {"containers": list(containers), "restartPolicy": "Always",
                 "dnsPolicy": "ClusterFirst", **spec},
        "status": {},
    }  # fmt: skip


def container(name: str, image: str, privileged: bool | None = None, **more: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": image, "resources": {},
                         "terminationMessagePath": "/dev/termination-log",
                         "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent",
                         **more}  # fmt: skip
    if privileged is not None:
        c["securityContext"] = {"privileged": privileged}
    return c


def host_volume(path: str) -> dict[str, Any]:
    return {"volumes": [{"name": "host", "hostPath": {"path": path, "type": ""}}]}


def role(
    kind: str, name: str, rules: list[dict[str, Any]], ns: str | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "creationTimestamp": None}
    if ns:
        meta["namespace"] = ns
    return {"kind": kind, "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": meta,
            "rules": rules}  # fmt: skip


def binding(kind: str, name: str, role_name: str, subject: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": kind,
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"name": name, "creationTimestamp": None},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": role_name},
        "subjects": [subject],
    }  # fmt: skip


def meta_obj(kind: str, name: str, ns: str | None = None, **rest: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "creationTimestamp": None}
    if ns:
        m["namespace"] = ns
    api = rest.pop("apiVersion", "v1")
    return {"kind": kind, "apiVersion": api, "metadata": m, **rest}


def deployment(name: str, ns: str, image: str) -> dict[str, Any]:
    template = {"metadata": {"creationTimestamp": None, "labels": {"app": name}},
                "spec": {"containers": [container(name.split("-")[0], image)]}}  # fmt: skip
    return meta_obj("Deployment", name, ns, apiVersion="apps/v1",
                    spec={"replicas": 1, "selector": {"matchLabels": {"app": name}},
                          "template": template, "strategy": {}},
                    status={})  # fmt: skip


def build() -> None:
    nginx = container("web", "nginx:1.27")
    event(
        "pod-create-plain",
        "create",
        "pods",
        ns="default",
        name="web",
        body=pod("web", "default", nginx),
    )
    event(
        "pod-create-privileged",
        "create",
        "pods",
        ns="default",
        name="priv",
        body=pod(
            "priv",
            "default",
            container("priv", "ubuntu:24.04", True, command=["sleep", "infinity"]),
        ),
    )
    event(
        "pod-create-privileged-init",
        "create",
        "pods",
        ns="default",
        name="priv-init",
        body=pod(
            "priv-init", "default", nginx, initContainers=[container("setup", "busybox:1.36", True)]
        ),
    )
    event(
        "pod-create-privileged-node-agent",
        "create",
        "pods",
        ns="falco",
        name="falco-x7k2p",
        user=sa("kube-system", "daemon-set-controller"),
        agent=KCM + "daemon-set-controller",
        body=pod(
            "falco-x7k2p",
            "falco",
            container("falco", "docker.io/falcosecurity/falco:0.39.2", True),
            **host_volume("/proc"),
        ),
    )
    event(
        "pod-create-etc-mount",
        "create",
        "pods",
        ns="default",
        name="hostetc",
        body=pod("hostetc", "default", nginx, **host_volume("/etc")),
    )
    event(
        "pod-create-runtime-socket",
        "create",
        "pods",
        ns="default",
        name="dind",
        body=pod(
            "dind",
            "default",
            container("docker", "docker:27-cli"),
            **host_volume("/var/run/docker.sock"),
        ),
    )
    event(
        "pod-create-tmp-mount",
        "create",
        "pods",
        ns="mamori-sim",
        name="healthy",
        body=pod("healthy", "mamori-sim", nginx, **host_volume("/tmp")),
    )
    event(
        "pod-create-hostnetwork",
        "create",
        "pods",
        ns="default",
        name="hostnet",
        body=pod("hostnet", "default", nginx, hostNetwork=True),
    )
    event(
        "pod-create-hostpid",
        "create",
        "pods",
        ns="default",
        name="hostpid",
        body=pod("hostpid", "default", nginx, hostPID=True),
    )
    event(
        "pod-create-hostipc",
        "create",
        "pods",
        ns="default",
        name="hostipc",
        body=pod("hostipc", "default", nginx, hostIPC=True),
    )
    event(
        "pod-create-miner",
        "create",
        "pods",
        ns="default",
        name="worker",
        body=pod("worker", "default", container("worker", "docker.io/xmrig/xmrig:6.21.0")),
    )
    event(
        "pod-create-kube-system-nginx",
        "create",
        "pods",
        ns="kube-system",
        name="dbg",
        body=pod("dbg", "kube-system", nginx),
    )
    event(
        "pod-create-kube-system-proxy",
        "create",
        "pods",
        ns="kube-system",
        name="kube-proxy-8xj2k",
        user=sa("kube-system", "daemon-set-controller"),
        agent=KCM + "daemon-set-controller",
        body=pod(
            "kube-proxy-8xj2k",
            "kube-system",
            container("kube-proxy", "registry.k8s.io/kube-proxy:v1.30.2", True),
        ),
    )
    event(
        "pod-create-kube-system-apiserver",
        "create",
        "pods",
        ns="kube-system",
        name="kube-apiserver-cp1",
        user={"username": "system:node:cp1", "groups": ["system:nodes", "system:authenticated"]},
        agent="kubelet/v1.30.2 (linux/amd64) kubernetes/3968350",
        body=pod(
            "kube-apiserver-cp1",
            "kube-system",
            container("kube-apiserver", "registry.k8s.io/kube-apiserver:v1.30.2"),
        ),
    )
    event(
        "pod-exec-started",
        "create",
        "pods",
        ns="default",
        name="web",
        sub="exec",
        stage="ResponseStarted",
        code=101,
        query="command=sh&container=web&stdin=true&stdout=true&tty=true",
    )
    event(
        "pod-exec-complete",
        "create",
        "pods",
        ns="default",
        name="web",
        sub="exec",
        query="command=sh&container=web&stdin=true&stdout=true&tty=true",
    )
    event(
        "pod-portforward",
        "create",
        "pods",
        ns="default",
        name="web",
        sub="portforward",
        stage="ResponseStarted",
        code=101,
    )
    event("pod-get", "get", "pods", ns="default", name="web")
    event(
        "pod-patch-labels",
        "patch",
        "pods",
        ns="default",
        name="web",
        body={"metadata": {"labels": {"tier": "front"}}},
    )
    event(
        "pod-debug-ephemeral",
        "patch",
        "pods",
        ns="default",
        name="web",
        sub="ephemeralcontainers",
        body={
            "spec": {
                "ephemeralContainers": [
                    {
                        "name": "debugger-9kq2x",
                        "image": "busybox:1.36",
                        "stdin": True,
                        "tty": True,
                        "targetContainerName": "web",
                        "resources": {},
                        "terminationMessagePolicy": "File",
                        "imagePullPolicy": "IfNotPresent",
                    }
                ]
            }
        },
    )
    event(
        "pod-debug-ephemeral-privileged",
        "patch",
        "pods",
        ns="default",
        name="web",
        sub="ephemeralcontainers",
        body={
            "spec": {
                "ephemeralContainers": [
                    {
                        "name": "debugger-p2",
                        "image": "busybox:1.36",
                        "stdin": True,
                        "tty": True,
                        "securityContext": {"privileged": True},
                    }
                ]
            }
        },
    )
    event(
        "service-create-nodeport",
        "create",
        "services",
        ns="default",
        name="web",
        body=meta_obj(
            "Service",
            "web",
            "default",
            spec={
                "type": "NodePort",
                "selector": {"run": "web"},
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
            },
        ),
    )
    event(
        "service-create-clusterip",
        "create",
        "services",
        ns="default",
        name="web-int",
        body=meta_obj(
            "Service",
            "web-int",
            "default",
            spec={
                "type": "ClusterIP",
                "selector": {"run": "web"},
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
            },
        ),
    )
    event(
        "service-create-forbidden",
        "create",
        "services",
        ns="default",
        name="web",
        code=403,
        decision="forbid",
        reason="",
        user={"username": "dev@example.com", "groups": ["system:authenticated"]},
        body=meta_obj("Service", "web", "default", spec={"ports": [{"port": 80}]}),
    )
    event(
        "service-delete",
        "delete",
        "services",
        ns="default",
        name="web",
        body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
    )
    event(
        "service-delete-missing",
        "delete",
        "services",
        ns="default",
        name="web",
        code=404,
        body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
    )
    event(
        "configmap-create-password",
        "create",
        "configmaps",
        ns="default",
        name="app-config",
        body=meta_obj(
            "ConfigMap", "app-config", "default", data={"DB_HOST": "db", "password": "hunter2"}
        ),
    )
    event(
        "configmap-create-plain",
        "create",
        "configmaps",
        ns="default",
        name="app-settings",
        body=meta_obj("ConfigMap", "app-settings", "default", data={"LOG_LEVEL": "info"}),
    )
    event(
        "configmap-create-exists",
        "create",
        "configmaps",
        ns="default",
        name="app-settings",
        code=409,
        body=meta_obj("ConfigMap", "app-settings", "default", data={"a": "b"}),
    )
    event("configmap-delete", "delete", "configmaps", ns="default", name="app-settings")
    event(
        "configmap-delete-forbidden",
        "delete",
        "configmaps",
        ns="default",
        name="app-settings",
        code=403,
        decision="forbid",
        reason="",
    )
    event(
        "coredns-patch",
        "patch",
        "configmaps",
        ns="kube-system",
        name="coredns",
        body={"data": {"Corefile": ".:53 {\n    forward . 203.0.113.53\n}\n"}},
    )
    event(
        "coredns-update-addon-manager",
        "update",
        "configmaps",
        ns="kube-system",
        name="coredns",
        user={"username": "system:addon-manager", "groups": ["system:authenticated"]},
        body=meta_obj(
            "ConfigMap",
            "coredns",
            "kube-system",
            data={"Corefile": ".:53 {\n    forward . /etc/resolv.conf\n}\n"},
        ),
    )
    event(
        "anonymous-list-pods",
        "list",
        "pods",
        ns="default",
        user={"username": "system:anonymous", "groups": ["system:unauthenticated"]},
        agent="curl/8.5.0",
        reason='RBAC: allowed by ClusterRoleBinding "anon-view" of ClusterRole "view" to User "system:anonymous"',
    )
    event(
        "anonymous-healthz",
        "get",
        "",
        uri="/healthz",
        user={"username": "system:anonymous", "groups": ["system:unauthenticated"]},
        agent="kube-probe/1.30",
        reason="",
    )
    event(
        "namespace-create",
        "create",
        "namespaces",
        name="crypto",
        body=meta_obj("Namespace", "crypto", spec={}, status={}),
    )
    event(
        "namespace-create-default-exists",
        "create",
        "namespaces",
        name="default",
        code=409,
        body=meta_obj("Namespace", "default", spec={}, status={}),
    )
    event("namespace-delete", "delete", "namespaces", name="crypto")
    event(
        "namespace-delete-by-controller",
        "delete",
        "namespaces",
        name="crypto",
        user=sa("kube-system", "namespace-controller"),
        agent=KCM + "namespace-controller",
    )
    event(
        "serviceaccount-create-kube-system",
        "create",
        "serviceaccounts",
        ns="kube-system",
        name="backdoor",
        body=meta_obj("ServiceAccount", "backdoor", "kube-system"),
    )
    event(
        "serviceaccount-create-coredns",
        "create",
        "serviceaccounts",
        ns="kube-system",
        name="coredns",
        body=meta_obj("ServiceAccount", "coredns", "kube-system"),
    )
    event(
        "serviceaccount-create-exists",
        "create",
        "serviceaccounts",
        ns="default",
        name="builder",
        code=409,
        body=meta_obj("ServiceAccount", "builder", "default"),
    )
    event("serviceaccount-delete", "delete", "serviceaccounts", ns="default", name="builder")
    event(
        "serviceaccount-delete-missing",
        "delete",
        "serviceaccounts",
        ns="default",
        name="builder",
        code=404,
    )
    rbac = "rbac.authorization.k8s.io"
    read_only = [{"apiGroups": [""], "resources": ["pods", "services"],
                  "verbs": ["get", "list", "watch"]}]  # fmt: skip
    event("clusterrole-patch-system-node", "patch", "clusterroles", name="system:node",
          group=rbac, body={"rules": [{"apiGroups": [""], "resources": ["secrets"],
                                        "verbs": ["get"]}]})  # fmt: skip
    event("clusterrole-patch-system-coredns", "patch", "clusterroles", name="system:coredns",
          group=rbac, body={"rules": [{"apiGroups": [""], "resources": ["endpoints"],
                                        "verbs": ["list", "watch"]}]})  # fmt: skip
    event(
        "clusterrole-create-wildcard",
        "create",
        "clusterroles",
        name="everything",
        group=rbac,
        body=role(
            "ClusterRole", "everything", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
        ),
    )
    event(
        "clusterrole-create-readonly",
        "create",
        "clusterroles",
        name="pod-reader",
        group=rbac,
        body=role("ClusterRole", "pod-reader", read_only),
    )
    event(
        "clusterrole-create-writer",
        "create",
        "clusterroles",
        name="deployer",
        group=rbac,
        body=role(
            "ClusterRole",
            "deployer",
            [
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments"],
                    "verbs": ["get", "create", "patch"],
                }
            ],
        ),
    )
    event(
        "clusterrole-create-exists",
        "create",
        "clusterroles",
        name="pod-reader",
        group=rbac,
        code=409,
        body=role("ClusterRole", "pod-reader", read_only),
    )
    event("clusterrole-create-secrets-reader", "create", "clusterroles", name="secret-reader",
          group=rbac, body=role("ClusterRole", "secret-reader",
                                [{"apiGroups": [""], "resources": ["secrets"],
                                  "verbs": ["get", "list"]}]))  # fmt: skip
    event("clusterrole-delete", "delete", "clusterroles", name="pod-reader", group=rbac)
    event(
        "clusterrole-delete-forbidden",
        "delete",
        "clusterroles",
        name="pod-reader",
        group=rbac,
        code=403,
        decision="forbid",
        reason="",
    )
    event(
        "clusterrole-update-aggregation",
        "update",
        "clusterroles",
        name="admin",
        group=rbac,
        user=sa("kube-system", "clusterrole-aggregation-controller"),
        agent=KCM + "clusterrole-aggregation-controller",
        body=role(
            "ClusterRole",
            "admin",
            [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]}],
        ),
    )
    event(
        "role-create-pod-exec",
        "create",
        "roles",
        ns="default",
        name="exec-er",
        group=rbac,
        body=role(
            "Role",
            "exec-er",
            [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]}],
            "default",
        ),
    )
    event(
        "role-create-readonly",
        "create",
        "roles",
        ns="default",
        name="pod-reader",
        group=rbac,
        body=role("Role", "pod-reader", read_only, "default"),
    )
    event(
        "role-create-exists",
        "create",
        "roles",
        ns="default",
        name="pod-reader",
        group=rbac,
        code=409,
        body=role("Role", "pod-reader", read_only, "default"),
    )
    event("role-delete", "delete", "roles", ns="default", name="pod-reader", group=rbac)
    event(
        "role-delete-missing",
        "delete",
        "roles",
        ns="default",
        name="pod-reader",
        group=rbac,
        code=404,
    )
    victim = {"kind": "ServiceAccount", "name": "mamori-sim-victim", "namespace": "mamori-sim"}
    event(
        "clusterrolebinding-create-cluster-admin",
        "create",
        "clusterrolebindings",
        name="mamori-sim-victim-admin",
        group=rbac,
        body=binding("ClusterRoleBinding", "mamori-sim-victim-admin", "cluster-admin", victim),
    )
    event(
        "clusterrolebinding-create-view",
        "create",
        "clusterrolebindings",
        name="mamori-sim-victim-view",
        group=rbac,
        body=binding("ClusterRoleBinding", "mamori-sim-victim-view", "view", victim),
    )
    event(
        "clusterrolebinding-create-exists",
        "create",
        "clusterrolebindings",
        name="mamori-sim-victim-view",
        group=rbac,
        code=409,
        body=binding("ClusterRoleBinding", "mamori-sim-victim-view", "view", victim),
    )
    event(
        "clusterrolebinding-delete",
        "delete",
        "clusterrolebindings",
        name="mamori-sim-victim-view",
        group=rbac,
    )
    event(
        "clusterrolebinding-delete-missing",
        "delete",
        "clusterrolebindings",
        name="mamori-sim-victim-view",
        group=rbac,
        code=404,
    )
    rb = binding("RoleBinding", "victim-admin", "cluster-admin", victim)
    rb["metadata"]["namespace"] = "mamori-sim"
    event(
        "rolebinding-create-cluster-admin",
        "create",
        "rolebindings",
        ns="mamori-sim",
        name="victim-admin",
        group=rbac,
        body=rb,
    )
    rbv = binding("RoleBinding", "victim-view", "view", victim)
    rbv["metadata"]["namespace"] = "mamori-sim"
    event(
        "rolebinding-create-view",
        "create",
        "rolebindings",
        ns="mamori-sim",
        name="victim-view",
        group=rbac,
        body=rbv,
    )
    event(
        "rolebinding-create-exists",
        "create",
        "rolebindings",
        ns="mamori-sim",
        name="victim-view",
        group=rbac,
        code=409,
        body=rbv,
    )
    event(
        "rolebinding-delete",
        "delete",
        "rolebindings",
        ns="mamori-sim",
        name="victim-view",
        group=rbac,
    )
    event(
        "rolebinding-delete-forbidden",
        "delete",
        "rolebindings",
        ns="mamori-sim",
        name="victim-view",
        group=rbac,
        code=403,
        decision="forbid",
        reason="",
    )
    event(
        "deployment-create",
        "create",
        "deployments",
        ns="default",
        name="web",
        group="apps",
        body=deployment("web", "default", "nginx:1.27"),
    )
    event(
        "deployment-create-miner",
        "create",
        "deployments",
        ns="default",
        name="cache-warmer",
        group="apps",
        body=deployment("cache-warmer", "default", "docker.io/xmrig/xmrig:latest"),
    )
    event(
        "deployment-create-exists",
        "create",
        "deployments",
        ns="default",
        name="web",
        group="apps",
        code=409,
        body=deployment("web", "default", "nginx:1.27"),
    )
    event("deployment-delete", "delete", "deployments", ns="default", name="web", group="apps")
    event(
        "deployment-delete-missing",
        "delete",
        "deployments",
        ns="default",
        name="web",
        group="apps",
        code=404,
    )
    event("secret-create", "create", "secrets", ns="default", name="db-creds")
    event("secret-create-kube-system", "create", "secrets", ns="kube-system", name="bootstrap")
    event("secret-delete", "delete", "secrets", ns="default", name="db-creds")
    event(
        "secret-delete-forbidden",
        "delete",
        "secrets",
        ns="default",
        name="db-creds",
        code=403,
        decision="forbid",
        reason="",
    )
    event("secret-get", "get", "secrets", ns="default", name="db-creds")
    event(
        "secret-get-forbidden",
        "get",
        "secrets",
        ns="default",
        name="db-creds",
        code=403,
        user=sa("mamori-sim", "mamori-sim-victim"),
        decision="forbid",
        reason="",
        agent="curl/8.5.0",
    )
    event(
        "secret-list-by-serviceaccount",
        "list",
        "secrets",
        ns="mamori-sim",
        user=sa("mamori-sim", "mamori-sim-victim"),
        agent="curl/8.5.0",
        reason='RBAC: allowed by RoleBinding "victim-view/mamori-sim" of ClusterRole "edit" to ServiceAccount "mamori-sim-victim/mamori-sim"',
    )
    event(
        "secret-list-by-serviceaccount-forbidden",
        "list",
        "secrets",
        ns="",
        uri="/api/v1/secrets?limit=500",
        user=sa("mamori-sim", "mamori-sim-victim"),
        agent="curl/8.5.0",
        code=403,
        decision="forbid",
        reason="",
    )
    event(
        "secret-list-by-controller",
        "list",
        "secrets",
        ns="kube-system",
        user=sa("kube-system", "namespace-controller"),
        agent=KCM + "namespace-controller",
    )
    hook = {"kind": "ValidatingWebhookConfiguration",
            "apiVersion": "admissionregistration.k8s.io/v1",
            "metadata": {"name": "mamori-sim-hook", "creationTimestamp": None},
            "webhooks": [{"name": "hook.mamori-sim.example",
                          "clientConfig": {"url": "https://203.0.113.10/validate"},
                          "rules": [{"operations": ["CREATE"], "apiGroups": [""],
                                     "apiVersions": ["v1"], "resources": ["pods"],
                                     "scope": "*"}],
                          "sideEffects": "None", "admissionReviewVersions": ["v1"],
                          "failurePolicy": "Ignore"}]}  # fmt: skip
    adm = "admissionregistration.k8s.io"
    event(
        "webhook-create",
        "create",
        "validatingwebhookconfigurations",
        name="mamori-sim-hook",
        group=adm,
        body=hook,
    )
    event(
        "webhook-patch-cainjector",
        "patch",
        "mutatingwebhookconfigurations",
        name="cert-manager-webhook",
        group=adm,
        user=sa("cert-manager", "cert-manager-cainjector"),
        agent="cainjector/v1.15.1 (linux/amd64) cert-manager/4486c01f",
        body={
            "webhooks": [
                {
                    "name": "webhook.cert-manager.io",
                    "clientConfig": {"caBundle": "LS0tLS1CRUdJTi=="},
                }
            ]
        },
    )
    event(
        "webhook-patch-labels",
        "patch",
        "mutatingwebhookconfigurations",
        name="istio-sidecar-injector",
        group=adm,
        body={"metadata": {"labels": {"owner": "mesh"}}},
    )
    event("events-deletecollection", "deletecollection", "events", ns="mamori-sim")
    event(
        "events-deletecollection-controller",
        "deletecollection",
        "events",
        ns="crypto",
        user=sa("kube-system", "namespace-controller"),
        agent=KCM + "namespace-controller",
    )
    event(
        "events-delete-new-api",
        "delete",
        "events",
        ns="default",
        name="web.17f3a",
        group="events.k8s.io",
    )
    event(
        "pods-list-kube-hunter",
        "list",
        "pods",
        ns="default",
        agent="kube-hunter",
        user={"username": "system:anonymous", "groups": ["system:unauthenticated"]},
        code=403,
        decision="forbid",
        reason="",
    )
    event("pods-list-kubectl", "list", "pods", ns="default")
    event("pods-list-from-proxy", "list", "pods", ns="default", ips=["198.51.100.254"])
    ssar = {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "get",
                                            "resource": "pods"}},
            "status": {"allowed": False}}  # fmt: skip
    event(
        "ssar-by-serviceaccount",
        "create",
        "selfsubjectaccessreviews",
        group="authorization.k8s.io",
        user=sa("mamori-sim", "mamori-sim-victim"),
        agent="kubectl",
        ips=["10.244.1.17"],
        body=ssar,
        level="Request",
    )
    event(
        "ssar-by-admin",
        "create",
        "selfsubjectaccessreviews",
        group="authorization.k8s.io",
        body=ssar,
        level="Request",
    )
    event(
        "ingress-create",
        "create",
        "ingresses",
        ns="default",
        name="web",
        group="networking.k8s.io",
        body=meta_obj(
            "Ingress",
            "web",
            "default",
            apiVersion="networking.k8s.io/v1",
            spec={
                "rules": [
                    {
                        "host": "web.example.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "web", "port": {"number": 80}}},
                                }
                            ]
                        },
                    }
                ]
            },
        ),
    )
    event(
        "ingress-create-tls",
        "create",
        "ingresses",
        ns="default",
        name="web-tls",
        group="networking.k8s.io",
        body=meta_obj(
            "Ingress",
            "web-tls",
            "default",
            apiVersion="networking.k8s.io/v1",
            spec={
                "tls": [{"hosts": ["web.example.com"], "secretName": "web-tls"}],
                "rules": [{"host": "web.example.com"}],
            },
        ),
    )
    event(
        "pods-list-by-dev",
        "list",
        "pods",
        ns="default",
        user={"username": "dev@example.com", "groups": ["system:authenticated"]},
        reason='RBAC: allowed by RoleBinding "devs/default" of ClusterRole "view" to Group "system:authenticated"',
    )


def main() -> None:
    build()
    for old in HERE.glob("*.json"):
        old.unlink()
    for case, ev in CASES.items():
        (HERE / f"{case}.json").write_text(json.dumps(ev, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(CASES)} cases to {HERE}")
    build_sequences()
    seq_dir = HERE / "sequences"
    seq_dir.mkdir(exist_ok=True)
    for old in seq_dir.glob("*.jsonl"):
        old.unlink()
    for name, events in SEQUENCES.items():
        text = "".join(json.dumps(ev, separators=(",", ":")) + "\n" for ev in events)
        (seq_dir / f"{name}.jsonl").write_text(text, encoding="utf-8")
    print(f"wrote {len(SEQUENCES)} sequences to {seq_dir}")


# Sequences for the stateful detections: ``sequences/<name>.jsonl``, one Event per line in the
# order the API server wrote them (the log backend's format).
SEQUENCES: dict[str, list[dict[str, Any]]] = {}
RS_CONTROLLER = sa("kube-system", "replicaset-controller")
DS_CONTROLLER = sa("kube-system", "daemon-set-controller")


def step(seq: str, verb: str, resource: str, **kw: Any) -> None:
    """One event of sequence ``seq`` (made by ``event``, then moved out of the single cases)."""
    n = len(SEQUENCES.setdefault(seq, []))
    key = f"{seq}#{n}"
    event(key, verb, resource, **kw)
    SEQUENCES[seq].append(CASES.pop(key))


def at(day: int = 0, hour: int = 12, minute: int = 0, second: float = 0.0) -> str:
    whole = int(second)
    micro = round((second - whole) * 1_000_000)
    return f"2025-03-{1 + day:02d}T{hour:02d}:{minute:02d}:{whole:02d}.{micro:06d}Z"


def service(name: str, ns: str, selector: dict[str, str] | None, ports: list[tuple[int, int | str]],
            type_: str = "LoadBalancer", annotations: dict[str, str] | None = None,
            **spec: Any) -> dict[str, Any]:  # fmt: skip
    obj = meta_obj("Service", name, ns, spec={
        "type": type_, "ports": [{"protocol": "TCP", "port": p, "targetPort": t} for p, t in ports],
        **({"selector": selector} if selector else {}), **spec})  # fmt: skip
    if annotations:
        obj["metadata"]["annotations"] = annotations
    return obj


def workload(kind: str, name: str, ns: str, labels: dict[str, str], *containers: dict[str, Any],
             **pod_spec: Any) -> dict[str, Any]:  # fmt: skip
    template = {"metadata": {"creationTimestamp": None, "labels": labels},
                "spec": {"containers": list(containers), **pod_spec}}  # fmt: skip
    return meta_obj(kind, name, ns, apiVersion="apps/v1",
                    spec={"replicas": 1, "selector": {"matchLabels": labels},
                          "template": template}, status={})  # fmt: skip


def owned_pod(name: str, ns: str, labels: dict[str, str], owner: tuple[str, str],
              *containers: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    body = pod(name, ns, *containers)
    body["metadata"]["labels"] = labels
    body["metadata"]["generateName"] = name.rsplit("-", 1)[0] + "-"
    body["metadata"]["ownerReferences"] = [{
        "apiVersion": "apps/v1", "kind": owner[0], "name": owner[1],
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"owner/{ns}/{owner[1]}")),
        "controller": True, "blockOwnerDeletion": True}]  # fmt: skip
    return body


def expose(seq: str, ns: str, svc: dict[str, Any], **kw: Any) -> None:
    name = svc["metadata"]["name"]
    step(seq, "create", "services", ns=ns, name=name, body=svc, **kw)


def deploy(seq: str, ns: str, obj: dict[str, Any], resource: str = "deployments") -> None:
    name = obj["metadata"]["name"]
    step(seq, "create", resource, ns=ns, name=name, group="apps", body=obj)


def build_sequences() -> None:
    exposure_sequences()
    stateful_sequences()


def exposure_sequences() -> None:
    redis = container("redis", "redis:7.2", ports=[{"name": "redis", "containerPort": 6379}])
    # CP-012 by port alone (no pods known), and its negatives: an internal LB, a ClusterIP.
    expose(
        "exposure-redis-port", "cache", service("redis", "cache", {"app": "redis"}, [(6379, 6379)])
    )
    expose("exposure-redis-internal-lb", "cache", service(
        "redis", "cache", {"app": "redis"}, [(6379, 6379)],
        annotations={"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}))  # fmt: skip
    expose("exposure-redis-clusterip", "cache",
           service("redis", "cache", {"app": "redis"}, [(6379, 6379)], type_="ClusterIP"))  # fmt: skip
    # CP-012 by image, the Service first: the pod created later by the ReplicaSet controller
    # triggers it; a second replica, a rolling update and a label patch raise nothing more.
    seq = "exposure-redis-service-first"
    expose(seq, "cache", service("cache", "cache", {"app": "cache"}, [(80, "redis")]))
    for pod_name in ("cache-5d9c7b8f4-abcde", "cache-5d9c7b8f4-fghij"):
        step(seq, "create", "pods", ns="cache", name=pod_name, user=RS_CONTROLLER,
             agent=KCM + "replicaset-controller",
             body=owned_pod(pod_name, "cache", {"app": "cache"},
                            ("ReplicaSet", "cache-5d9c7b8f4"), redis))  # fmt: skip
    step(seq, "delete", "pods", ns="cache", name="cache-5d9c7b8f4-abcde", user=RS_CONTROLLER,
         agent=KCM + "replicaset-controller")  # fmt: skip
    step(seq, "create", "pods", ns="cache", name="cache-6f7d8e9a1-klmno", user=RS_CONTROLLER,
         agent=KCM + "replicaset-controller",
         body=owned_pod("cache-6f7d8e9a1-klmno", "cache", {"app": "cache"},
                        ("ReplicaSet", "cache-6f7d8e9a1"), redis))  # fmt: skip
    patched = service("cache", "cache", {"app": "cache"}, [(80, "redis")])
    patched["metadata"]["labels"] = {"team": "a"}
    step(
        seq,
        "patch",
        "services",
        ns="cache",
        name="cache",
        body={"metadata": {"labels": {"team": "a"}}},
    )
    SEQUENCES[seq][-1]["responseObject"] = json.loads(json.dumps(patched))
    # The same Service then made internal, then public again: raised again (the spec changed).
    # (kept short: the fire-once test reads the events above)

    pg = "postgres:16"
    trust_env = [{"name": "POSTGRES_HOST_AUTH_METHOD", "value": "trust"}]
    md5_env = [{"name": "POSTGRES_HOST_AUTH_METHOD", "value": "scram-sha-256"}]
    # CP-001 (env) + CP-002 (no source ranges)
    seq = "exposure-postgres-trust-env"
    deploy(seq, "db", workload("Deployment", "pg", "db", {"app": "pg"},
                               container("postgres", pg, env=trust_env)))  # fmt: skip
    expose(seq, "db", service("pg", "db", {"app": "pg"}, [(5432, 5432)]))
    # CP-001 (pg_hba ConfigMap) + CP-002 (a range wider than /16)
    seq = "exposure-postgres-trust-hba"
    step(seq, "create", "configmaps", ns="db", name="pg-hba", body=meta_obj(
        "ConfigMap", "pg-hba", "db", data={"pg_hba.conf": "local all all trust\n"
                                           "host all all 0.0.0.0/0 trust\n"}))  # fmt: skip
    deploy(seq, "db", workload(
        "StatefulSet", "pg", "db", {"app": "pg"},
        container("postgres", "docker.io/bitnami/postgresql:16.4.0",
                  volumeMounts=[{"name": "hba", "mountPath": "/etc/pg"}]),
        volumes=[{"name": "hba", "configMap": {"name": "pg-hba"}}]), "statefulsets")  # fmt: skip
    expose(seq, "db", service("pg", "db", {"app": "pg"}, [(5432, 5432)],
                              loadBalancerSourceRanges=["10.0.0.0/8"]))  # fmt: skip
    # negative for both: scram auth, a /24 source range
    seq = "exposure-postgres-restricted"
    step(seq, "create", "configmaps", ns="db", name="pg-hba", body=meta_obj(
        "ConfigMap", "pg-hba", "db", data={"pg_hba.conf": "local all all trust\n"
                                           "host all all 0.0.0.0/0 scram-sha-256\n"}))  # fmt: skip
    deploy(seq, "db", workload(
        "Deployment", "pg", "db", {"app": "pg"}, container("postgres", pg, env=md5_env),
        volumes=[{"name": "hba", "configMap": {"name": "pg-hba"}}]))  # fmt: skip
    expose(seq, "db", service("pg", "db", {"app": "pg"}, [(5432, 5432)],
                              loadBalancerSourceRanges=["203.0.113.0/24"]))  # fmt: skip

    # CP-009: the gateway first, then the kubeflow namespace; negative: no kubeflow namespace.
    gateway = service("istio-ingressgateway", "istio-system",
                      {"app": "istio-ingressgateway", "istio": "ingressgateway"},
                      [(80, 8080), (443, 8443)])  # fmt: skip
    expose("exposure-kubeflow", "istio-system", gateway)
    step("exposure-kubeflow", "create", "namespaces", name="kubeflow",
         body=meta_obj("Namespace", "kubeflow"))  # fmt: skip
    expose("exposure-istio-without-kubeflow", "istio-system", gateway)
    step("exposure-istio-without-kubeflow", "create", "namespaces", name="shop",
         body=meta_obj("Namespace", "shop"))  # fmt: skip

    # CP-010: dashboard behind a NodePort; negative: a ClusterIP (kubectl proxy access).
    dash_labels = {"k8s-app": "kubernetes-dashboard"}
    dash = workload("Deployment", "kubernetes-dashboard", "kubernetes-dashboard", dash_labels,
                    container("kubernetes-dashboard", "kubernetesui/dashboard:v2.7.0",
                              ports=[{"containerPort": 8443, "protocol": "TCP"}]))  # fmt: skip
    for seq, kind in (("exposure-dashboard-nodeport", "NodePort"),
                      ("exposure-dashboard-clusterip", "ClusterIP")):  # fmt: skip
        deploy(seq, "kubernetes-dashboard", dash)
        expose(seq, "kubernetes-dashboard", service(
            "kubernetes-dashboard", "kubernetes-dashboard", dash_labels, [(443, 8443)],
            type_=kind))  # fmt: skip

    # CP-011: Jupyter behind a public LB; negative: the same behind a GKE internal LB.
    jupyter = workload("Deployment", "notebook", "ml", {"app": "notebook"},
                       container("notebook", "quay.io/jupyter/scipy-notebook:2024-07-29",
                                 ports=[{"containerPort": 8888, "name": "http"}]))  # fmt: skip
    deploy("exposure-jupyter", "ml", jupyter)
    expose("exposure-jupyter", "ml", service("notebook", "ml", {"app": "notebook"}, [(80, 8888)]))
    deploy("exposure-jupyter-internal-lb", "ml", jupyter)
    expose("exposure-jupyter-internal-lb", "ml", service(
        "notebook", "ml", {"app": "notebook"}, [(80, 8888)],
        annotations={"networking.gke.io/load-balancer-type": "Internal"}))  # fmt: skip
    # CP-011 by port: a dind daemon's 2375 declared by the pod; negative: nginx on 80.
    dind = workload(
        "Deployment",
        "builder",
        "ci",
        {"app": "builder"},
        container("dind", "docker:27-dind", ports=[{"containerPort": 2375}]),
    )
    deploy("exposure-docker-api", "ci", dind)
    expose(
        "exposure-docker-api", "ci", service("builder", "ci", {"app": "builder"}, [(2375, 2375)])
    )
    web = workload(
        "Deployment",
        "web",
        "shop",
        {"app": "web"},
        container("web", "nginx:1.27", ports=[{"containerPort": 80}]),
    )
    deploy("exposure-web", "shop", web)
    expose("exposure-web", "shop", service("web", "shop", {"app": "web"}, [(80, 80)]))


def stateful_sequences() -> None:
    runner = sa("ci", "runner")
    # CP-004: what the runner does in its first hour and day is learned; later, a new
    # operation fires once. With the default 7-day window, nothing fires.
    seq = "serviceaccount-rare-operation"
    for minute, (verb, res, ns) in enumerate([("get", "pods", "ci"), ("list", "pods", "ci"),
                                              ("create", "pods", "ci"), ("get", "configmaps", "ci")]):  # fmt: skip
        step(seq, verb, res, ns=ns, name=None if verb in ("list", "create") else "x",
             user=runner, agent="gitlab-runner/17.2", ips=["10.244.1.7"], at=at(0, 12, minute),
             body=pod("job", "ci", container("job", "alpine:3.20")) if verb == "create" else None)  # fmt: skip
    step(
        seq,
        "get",
        "pods",
        ns="ci",
        name="y",
        user=runner,
        agent="gitlab-runner/17.2",
        ips=["10.244.1.7"],
        at=at(1, 12, 0),
    )  # learned: nothing
    step(
        seq,
        "create",
        "pods",
        ns="ci",
        name="job",
        user=runner,
        agent="gitlab-runner/17.2",
        ips=["10.244.1.7"],
        at=at(1, 13, 0),
        code=403,
        decision="forbid",
        body=pod("job", "ci", container("job", "alpine:3.20")),
    )  # denied, learned or not: nothing
    for minute in (0, 1):  # new and allowed: one alert, then learned
        step(seq, "list", "secrets", ns=None, user=runner, agent="curl/8.9.1", ips=["10.244.1.7"],
             at=at(1, 14, minute), uri="/api/v1/secrets")  # fmt: skip

    # CP-015: 20 denials over 5 resource types in 30 s (one alert, however long it goes on);
    # negatives: 25 denials over 3 types; 20 over 5 types spread over 5 minutes.
    scanner = {
        "username": "system:serviceaccount:default:default",
        "groups": ["system:serviceaccounts"],
    }
    resources = ["secrets", "pods", "nodes", "configmaps", "serviceaccounts"]
    for seq, count, kinds, spacing in (("forbidden-burst", 26, 5, 1.5),
                                       ("forbidden-few-kinds", 25, 3, 1.0),
                                       ("forbidden-slow", 20, 5, 15.0)):  # fmt: skip
        for i in range(count):
            res = resources[i % kinds]
            step(seq, "list", res, ns=None if res == "nodes" else "default", user=scanner,
                 agent="python-requests/2.32.3", ips=["10.244.2.9"], code=403, decision="forbid",
                 reason="", at=at(0, 12, int(i * spacing) // 60, (i * spacing) % 60))  # fmt: skip

    # CP-016: kube-system pods seen during the learning window (kube-proxy DaemonSet, CoreDNS),
    # then after it: a new CoreDNS replica (learned: nothing), a new DaemonSet running an
    # allow-listed image (new owner: alert), a bare pod by an admin (new owner and image: alert).
    seq = "kube-system-baseline"
    proxy = container("kube-proxy", "registry.k8s.io/kube-proxy:v1.30.2")
    coredns = container("coredns", "registry.k8s.io/coredns/coredns:v1.11.1")
    step(seq, "create", "pods", ns="kube-system", name="kube-proxy-x7k2p", user=DS_CONTROLLER,
         agent=KCM + "daemon-set-controller", at=at(0, 12, 0),
         body=owned_pod("kube-proxy-x7k2p", "kube-system", {"k8s-app": "kube-proxy"},
                        ("DaemonSet", "kube-proxy"), proxy))  # fmt: skip
    step(seq, "create", "pods", ns="kube-system", name="coredns-7db6d8ff4d-4kq2v",
         user=RS_CONTROLLER, agent=KCM + "replicaset-controller", at=at(0, 12, 1),
         body=owned_pod("coredns-7db6d8ff4d-4kq2v", "kube-system", {"k8s-app": "kube-dns"},
                        ("ReplicaSet", "coredns-7db6d8ff4d"), coredns))  # fmt: skip
    step(seq, "create", "pods", ns="kube-system", name="coredns-5c98db65d4-z9v8m",
         user=RS_CONTROLLER, agent=KCM + "replicaset-controller", at=at(8, 12, 0),
         body=owned_pod("coredns-5c98db65d4-z9v8m", "kube-system", {"k8s-app": "kube-dns"},
                        ("ReplicaSet", "coredns-5c98db65d4"), coredns))  # fmt: skip
    step(seq, "create", "pods", ns="kube-system", name="node-helper-q8w7e", user=DS_CONTROLLER,
         agent=KCM + "daemon-set-controller", at=at(8, 12, 5),
         body=owned_pod("node-helper-q8w7e", "kube-system", {"app": "node-helper"},
                        ("DaemonSet", "node-helper"), proxy))  # fmt: skip
    step(
        seq,
        "create",
        "pods",
        ns="kube-system",
        name="dbg",
        at=at(8, 12, 10),
        body=pod("dbg", "kube-system", container("dbg", "docker.io/library/alpine:3.20")),
    )


if __name__ == "__main__":
    main()
