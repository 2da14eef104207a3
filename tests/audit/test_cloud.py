"""Managed clusters' audit exports (GKE, AKS, EKS) read by `mamori audit replay`: the same
detections fire as on the API server's own events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mamori.audit.cloud import gke_event, unwrap
from mamori.audit.events import AuditFormatError
from mamori.cli.app import app
from tests.audit.corpus_util import all_cases, case

STAMP = "2026-11-22T08:00:00.123456Z"


def gke(method: str, resource: str, **payload: Any) -> dict[str, Any]:
    """A Cloud Logging entry as GKE writes it for a Kubernetes API call."""
    return {
        "insertId": f"id-{method}",
        "logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity",
        "resource": {"type": "k8s_cluster", "labels": {"cluster_name": "prod", "location": "x"}},
        "timestamp": STAMP,
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "serviceName": "k8s.io",
            "methodName": method,
            "resourceName": resource,
            "authenticationInfo": {"principalEmail": "mallory@example.com"},
            "authorizationInfo": [{"granted": True, "permission": method}],
            "requestMetadata": {
                "callerIp": "203.0.113.7",
                "callerSuppliedUserAgent": "kubectl/v1.31",
            },
            "status": {},
            **payload,
        },
    }


BINDING = {
    "@type": "rbac.authorization.k8s.io/v1.ClusterRoleBinding",
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "backdoor"},
    "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "cluster-admin",
    },
    "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}],
}


def test_gke_entry_becomes_an_audit_event() -> None:
    ev = gke_event(
        gke("io.k8s.core.v1.pods.exec.create", "core/v1/namespaces/shop/pods/web-1/exec"),
        gke("io.k8s.core.v1.pods.exec.create", "core/v1/namespaces/shop/pods/web-1/exec")[
            "protoPayload"
        ],
        "x",
    )
    assert ev["verb"] == "create"
    assert ev["objectRef"] == {
        "apiGroup": "",
        "apiVersion": "v1",
        "namespace": "shop",
        "resource": "pods",
        "name": "web-1",
        "subresource": "exec",
    }
    assert ev["requestURI"] == "/api/v1/namespaces/shop/pods/web-1/exec"
    assert ev["stage"] == "ResponseStarted"  # a stream: audited when it starts
    assert (ev["user"]["username"], ev["sourceIPs"], ev["userAgent"]) == (
        "mallory@example.com",
        ["203.0.113.7"],
        "kubectl/v1.31",
    )
    assert ev["responseStatus"]["code"] == 200
    assert ev["annotations"] == {"authorization.k8s.io/decision": "allow"}
    denied = gke(
        "io.k8s.core.v1.secrets.list", "core/v1/namespaces/kube-system/secrets", status={"code": 7}
    )
    ev = gke_event(denied, denied["protoPayload"], "x")
    assert (ev["responseStatus"]["code"], ev["verb"], ev["objectRef"]["resource"]) == (
        403,
        "list",
        "secrets",
    )
    assert "name" not in ev["objectRef"]
    rbac = gke(
        "io.k8s.authorization.rbac.v1.clusterrolebindings.create",
        "rbac.authorization.k8s.io/v1/clusterrolebindings/backdoor",
        request=BINDING,
    )
    ev = gke_event(rbac, rbac["protoPayload"], "x")
    assert ev["objectRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    assert ev["requestObject"]["roleRef"]["name"] == "cluster-admin"
    assert "@type" not in ev["requestObject"]


def test_aks_and_eks_records_carry_the_original_event() -> None:
    original = case(all_cases()[0])
    aks = {
        "category": "kube-audit",
        "properties": {"log": json.dumps(original), "stream": "stdout"},
    }
    assert unwrap(aks, "x") == [original]
    assert unwrap({"records": [aks, aks]}, "x") == [original, original]
    eks = {
        "timestamp": 1,
        "message": json.dumps(original),
        "logStreamName": "kube-apiserver-audit-1",
    }
    assert unwrap(eks, "x") == [original]
    assert unwrap(original, "x") is None  # a plain Event is not a cloud record
    with pytest.raises(AuditFormatError, match=r"x.records\[1\]: not an AKS"):
        unwrap({"records": [aks, {"category": "other"}]}, "x")
    with pytest.raises(AuditFormatError, match=r"properties\.log: not JSON"):
        unwrap({"category": "kube-audit", "properties": {"log": "{oops"}}, "x")


def test_replay_of_a_gke_export_fires_the_detections(tmp_path: Path) -> None:
    log = tmp_path / "gke.jsonl"
    entries = [
        gke("io.k8s.core.v1.pods.exec.create", "core/v1/namespaces/shop/pods/web-1/exec"),
        gke(
            "io.k8s.authorization.rbac.v1.clusterrolebindings.create",
            "rbac.authorization.k8s.io/v1/clusterrolebindings/backdoor",
            request=BINDING,
            response=BINDING,
        ),
        gke("io.k8s.core.v1.configmaps.get", "core/v1/namespaces/shop/configmaps/app"),
    ]
    log.write_text("".join(json.dumps(e) + "\n" for e in entries))
    r = CliRunner().invoke(app, ["audit", "replay", str(log)])
    assert r.exit_code == 0, r.output
    tags = [set(json.loads(x)["tags"]) for x in r.stdout.splitlines()]
    assert any("mamori.MAM-CP-021" in t for t in tags)  # exec into pod
    assert any("mamori.MAM-CP-019" in t for t in tags)  # cluster-admin binding
    assert len(tags) == 2  # the configmap read raises nothing


def test_a_broken_gke_entry_names_its_line(tmp_path: Path) -> None:
    log = tmp_path / "gke.jsonl"
    bad = gke("io.k8s.core.v1.pods.create", "core")
    log.write_text(
        json.dumps(gke("io.k8s.core.v1.pods.get", "core/v1/namespaces/a/pods/b"))
        + "\n"
        + json.dumps(bad)
        + "\n"
    )
    r = CliRunner().invoke(app, ["audit", "replay", str(log)])
    assert r.exit_code != 0
    assert f"{log}:2" in r.output
    assert "resourceName 'core'" in r.output
