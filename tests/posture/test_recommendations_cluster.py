"""The recommendations page over stored scan findings; the cluster source over a fake API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from mamori.posture.checks import select
from mamori.posture.config import load_config
from mamori.posture.findings import findings_of
from mamori.posture.scan import scan_paths
from mamori.posture.sources.cluster import ClusterError, from_kubeconfig, scan_cluster
from mamori.store.database import Database
from tests.server.ui_session import add_user, login

DATA = Path(__file__).parent / "data"


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


def test_recommendations_page(client: TestClient, db: Database) -> None:
    report = scan_paths(
        [str(DATA / "redis-unhealthy.yaml"), str(DATA / "redis-healthy.yaml")],
        load_config(None, select("defender")),
    )
    db.findings.insert(findings_of(report.results))
    add_user(db)
    login(client)
    page = client.get("/recommendations")
    assert page.status_code == 200
    html = page.text
    assert 'data-check="MAM-K8S-012"' in html
    row = html.split('data-check="MAM-K8S-012"')[1].split("</tr>")[0]
    assert "Deployment/redis-healthy-deployment" in row
    assert "Deployment/redis-unhealthy-deployment" in row
    assert "automountServiceAccountToken: false" in row  # the fix snippet
    assert html.index("MAM-K8S-002") < html.index("MAM-K8S-001")  # High before Medium


POD = {
    "metadata": {"name": "p", "namespace": "apps"},
    "spec": {
        "containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": True}}]
    },
}
OWNED = {
    "metadata": {
        "name": "rs-pod",
        "namespace": "apps",
        "ownerReferences": [{"kind": "ReplicaSet", "name": "rs"}],
    },
    "spec": POD["spec"],
}


def _fake_api(seen: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        assert request.headers["authorization"] == "Bearer t0ken"
        path, cont = request.url.path, request.url.params.get("continue")
        assert request.url.params["limit"] == "500"
        if path == "/api/v1/pods":
            if cont is None:  # two pages
                return httpx.Response(200, json={"items": [POD], "metadata": {"continue": "next"}})
            return httpx.Response(200, json={"items": [OWNED], "metadata": {}})
        return httpx.Response(200, json={"items": [], "metadata": {}})

    return httpx.MockTransport(handler)


KUBECONFIG: dict[str, Any] = {
    "current-context": "dev",
    "contexts": [{"name": "dev", "context": {"cluster": "kind", "user": "me"}}],
    "clusters": [{"name": "kind", "cluster": {"server": "https://k8s.example:6443"}}],
    "users": [{"name": "me", "user": {"token": "t0ken"}}],
}


def test_cluster_scan_pages_and_reports_owned_objects_once() -> None:
    seen: list[str] = []
    api = from_kubeconfig(KUBECONFIG, None, Path("."), transport=_fake_api(seen))
    report = scan_cluster(api, load_config(None, select("MAM-K8S-015")))
    assert [(r.resource.name, r.status.value) for r in report.results] == [("p", "fail")]
    assert any("continue=next" in u for u in seen)
    assert report.results[0].location.file == "cluster:kind"


def test_cluster_errors_are_clear() -> None:
    def forbidden(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"kind": "Status"})

    api = from_kubeconfig(KUBECONFIG, None, Path("."), transport=httpx.MockTransport(forbidden))
    with pytest.raises(ClusterError, match="HTTP 403"):
        scan_cluster(api, load_config(None, select("defender")))
    with pytest.raises(ClusterError, match="no context named"):
        from_kubeconfig(KUBECONFIG, "prod", Path("."))
    assert json.dumps(KUBECONFIG)  # unchanged input
