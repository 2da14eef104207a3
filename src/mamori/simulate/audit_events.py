"""Audit events the control-plane steps replay (``audit.k8s.io/v1`` Event objects, corpus shape).

In docker mode there is no API server: what ``kubectl`` would make it log is posted to mamori's
audit webhook instead. ``fresh_events`` gives each replay new audit ids (alert ids derive from
them), the run's time, and the annotation ``mamori.io/simulation: <run id>``, which the audit
alert builder turns into ``simulated=True``.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

SIM_NAMESPACE = "mamori-sim"
SIM_ANNOTATION = "mamori.io/simulation"
VICTIM_POD = "mamori-sim-victim"
VICTIM_SA = f"system:serviceaccount:{SIM_NAMESPACE}:mamori-sim-victim"

_ADMIN = {
    "username": "kubernetes-admin",
    "groups": ["kubeadm:cluster-admins", "system:authenticated"],
}
_VICTIM_SA_USER = {
    "username": VICTIM_SA,
    "uid": "6f0f3c4e-0000-4000-8000-000000000001",
    "groups": [
        "system:serviceaccounts",
        f"system:serviceaccounts:{SIM_NAMESPACE}",
        "system:authenticated",
    ],
}
_RS_CONTROLLER = {
    "username": "system:serviceaccount:kube-system:replicaset-controller",
    "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system"],
}
_AGENT = "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350"
_CONTROLLER_AGENT = (
    "kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/3968350/"
    "system:serviceaccount:kube-system:replicaset-controller"
)
_ALLOW = {
    "authorization.k8s.io/decision": "allow",
    "authorization.k8s.io/reason": 'RBAC: allowed by ClusterRoleBinding "kubeadm:cluster-admins" '
    'of ClusterRole "cluster-admin" to Group "kubeadm:cluster-admins"',
}


def event(
    stage: str,
    uri: str,
    verb: str,
    object_ref: dict[str, Any],
    code: int,
    level: str = "RequestResponse",
    request: dict[str, Any] | None = None,
    user: Mapping[str, Any] = _ADMIN,
    agent: str = _AGENT,
    source_ip: str = "172.18.0.1",
) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level,
        "auditID": "",
        "stage": stage,
        "requestURI": uri,
        "verb": verb,
        "user": dict(user),
        "sourceIPs": [source_ip],
        "userAgent": agent,
        "objectRef": object_ref,
        "responseStatus": {"metadata": {}, "code": code},
        "annotations": dict(_ALLOW),
    }
    if request is not None:
        ev["requestObject"] = request
        ev["responseObject"] = request
    return ev


def _created(
    resource: str,
    obj: dict[str, Any],
    group: str = "",
    namespaced: bool = True,
    user: Mapping[str, Any] = _ADMIN,
    agent: str = _AGENT,
) -> dict[str, Any]:
    meta = obj["metadata"]
    ns = meta.get("namespace", SIM_NAMESPACE) if namespaced else None
    base = f"/apis/{group}/v1" if group else "/api/v1"
    uri = f"{base}/namespaces/{ns}/{resource}" if ns else f"{base}/{resource}"
    ref: dict[str, Any] = {"resource": resource, "name": meta["name"], "apiVersion": "v1"}
    if ns:
        ref["namespace"] = ns
    if group:
        ref["apiGroup"] = group
    return event("ResponseComplete", uri, "create", ref, 201, request=obj, user=user, agent=agent)


# -- exec, privileged pod, cluster-admin binding (the control-plane trio) -------------

EXEC_INTO_POD = event(
    "ResponseStarted",
    f"/api/v1/namespaces/{SIM_NAMESPACE}/pods/{VICTIM_POD}/exec"
    "?command=sh&container=victim&stdin=true&stdout=true&tty=true",
    "create",
    {
        "resource": "pods",
        "namespace": SIM_NAMESPACE,
        "name": VICTIM_POD,
        "apiVersion": "v1",
        "subresource": "exec",
    },
    101,
    level="Metadata",
)

PRIVILEGED_POD = _created(
    "pods",
    {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": "mamori-sim-priv", "namespace": SIM_NAMESPACE},
        "spec": {
            "containers": [
                {
                    "name": "priv",
                    "image": "busybox:1.36",
                    "command": ["sleep", "infinity"],
                    "securityContext": {"privileged": True},
                }
            ],
            "restartPolicy": "Always",
        },
    },
)

CLUSTER_ADMIN_BINDING = _created(
    "clusterrolebindings",
    {
        "kind": "ClusterRoleBinding",
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"name": "mamori-sim-victim-admin"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [
            {"kind": "ServiceAccount", "name": "mamori-sim-victim", "namespace": SIM_NAMESPACE}
        ],
    },
    group="rbac.authorization.k8s.io",
    namespaced=False,
)

# -- S1: the stolen token asks what it may do -------------------------------------------------

SELF_SUBJECT_REVIEW = event(
    "ResponseComplete",
    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    "create",
    {
        "resource": "selfsubjectaccessreviews",
        "apiGroup": "authorization.k8s.io",
        "apiVersion": "v1",
    },
    201,
    request={
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {},
        "spec": {"resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}},
    },
    user=_VICTIM_SA_USER,
    agent="kubectl",
    source_ip="10.244.0.23",
)

# -- S9: posture-checks.md's two reference samples, a webhook, events deleted -----------------


def _redis_pod(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": SIM_NAMESPACE, "labels": {"app": "redis"}},
        "spec": spec,
    }


_HEALTHY_SPEC: dict[str, Any] = {
    "containers": [
        {
            "name": "redis",
            "image": "<customer-registry>.azurecr.io/redis:latest",
            "ports": [{"containerPort": 80}],
            "resources": {"limits": {"cpu": "100m", "memory": "250Mi"}},
            "securityContext": {
                "privileged": False,
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "runAsNonRoot": True,
                "runAsUser": 1000,
            },
        }
    ]
}
_UNHEALTHY_SPEC: dict[str, Any] = {
    "hostNetwork": True,
    "hostPID": True,
    "hostIPC": True,
    "containers": [
        {
            "name": "redis",
            "image": "redis:latest",
            "ports": [{"containerPort": 9001, "hostPort": 9001}],
            "securityContext": {
                "privileged": True,
                "readOnlyRootFilesystem": False,
                "allowPrivilegeEscalation": True,
                "runAsUser": 0,
                "capabilities": {"add": ["NET_ADMIN"]},
            },
            "volumeMounts": [{"mountPath": "/test-pd", "name": "test-volume", "readOnly": True}],
        }
    ],
    "volumes": [{"name": "test-volume", "hostPath": {"path": "/tmp"}}],  # noqa: S108 - the sample, verbatim,
}


def _sample(kind: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Deployment + LoadBalancer Service (as applied) and one pod (as the controller makes it)."""
    name = f"redis-{kind}"
    deployment = {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {
            "name": f"{name}-deployment",
            "namespace": SIM_NAMESPACE,
            "labels": {"app": "redis"},
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "redis"}},
            "template": {"metadata": {"labels": {"app": "redis"}}, "spec": spec},
        },
    }
    port = 80 if kind == "healthy" else 9001
    service = {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {"name": f"{name}-service", "namespace": SIM_NAMESPACE},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "redis"},
            "ports": [{"port": port, "targetPort": port}],
        },
    }
    return [
        _created("deployments", deployment, group="apps"),
        _created("services", service),
        _created(
            "pods",
            _redis_pod(f"{name}-deployment-7d9c5-x2x4q", spec),
            user=_RS_CONTROLLER,
            agent=_CONTROLLER_AGENT,
        ),
    ]


SAMPLES = (*_sample("healthy", _HEALTHY_SPEC), *_sample("unhealthy", _UNHEALTHY_SPEC))

WEBHOOK = _created(
    "validatingwebhookconfigurations",
    {
        "kind": "ValidatingWebhookConfiguration",
        "apiVersion": "admissionregistration.k8s.io/v1",
        "metadata": {"name": "mamori-sim-hook"},
        "webhooks": [
            {
                "name": "sim.mamori.invalid",
                "clientConfig": {"url": "https://127.0.0.1:9/validate"},
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["pods"],
                    }
                ],
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "failurePolicy": "Ignore",
            }
        ],
    },
    group="admissionregistration.k8s.io",
    namespaced=False,
)

DELETE_EVENTS = event(
    "ResponseComplete",
    f"/api/v1/namespaces/{SIM_NAMESPACE}/events",
    "deletecollection",
    {"resource": "events", "namespace": SIM_NAMESPACE, "apiVersion": "v1"},
    200,
    level="Metadata",
)


def fresh_events(
    events: Iterable[Mapping[str, Any]], now: datetime, run_id: str = ""
) -> list[dict[str, Any]]:
    """Copies with new audit ids, the given time (RFC 3339, microseconds) and, with a run id,
    the simulation annotation."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out = []
    for template in events:
        ev = copy.deepcopy(dict(template))
        ev["auditID"] = str(uuid.uuid4())
        ev["requestReceivedTimestamp"] = ev["stageTimestamp"] = stamp
        if run_id:
            ev["annotations"] = {**ev.get("annotations", {}), SIM_ANNOTATION: run_id}
        out.append(ev)
    return out
