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
    ev["requestReceivedTimestamp"] = WHEN.format(_n % 60, 120000 + _n)
    ev["stageTimestamp"] = WHEN.format(_n % 60, 180000 + _n)
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


if __name__ == "__main__":
    main()
