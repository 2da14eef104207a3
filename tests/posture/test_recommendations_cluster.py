"""The recommendations page over stored scan findings; the cluster source over a fake API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


@pytest.fixture
def api_server() -> Iterator[str]:
    """A local HTTP stand-in for the API server (the pods of ``_fake_api``), on 127.0.0.1."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = httpx.URL(self.path)
            if self.headers.get("authorization") != "Bearer t0ken":
                self.send_response(401)
                self.end_headers()
                return
            ns = (
                url.path.split("/namespaces/")[1].split("/")[0]
                if "/namespaces/" in url.path
                else None
            )
            items: list[Any] = []
            meta: dict[str, Any] = {}
            if url.path.endswith("/pods") and ns in (None, "apps"):
                if url.params.get("continue") is None:
                    items, meta = [POD], {"continue": "next"}
                else:
                    items = [OWNED]
            body = json.dumps({"items": items, "metadata": meta}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _cli_kubeconfig(tmp_path: Path, server: str) -> Path:
    config = json.loads(json.dumps(KUBECONFIG))
    config["clusters"][0]["cluster"]["server"] = server
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    return path


def _cluster_cli(tmp_path: Path, server: str, *args: str) -> tuple[int, Any]:
    from typer.testing import CliRunner

    from mamori.cli.app import app

    kubeconfig = _cli_kubeconfig(tmp_path, server)
    result = CliRunner().invoke(
        app,
        ["scan", "cluster", "--kubeconfig", str(kubeconfig), "--checks", "MAM-K8S-015",
         "--format", "json", *args],
    )  # fmt: skip
    doc = json.loads(result.stdout) if result.exit_code in (0, 1) else None
    return result.exit_code, doc


def test_cluster_cli_all_namespaces_and_include_owned(tmp_path: Path, api_server: str) -> None:
    code, doc = _cluster_cli(tmp_path, api_server, "-A")
    assert code == 1
    assert [r["resource"]["name"] for r in doc["results"]] == ["p"]
    code, doc = _cluster_cli(tmp_path, api_server, "--all-namespaces", "--include-owned")
    assert sorted(r["resource"]["name"] for r in doc["results"]) == ["p", "rs-pod"]
    code, doc = _cluster_cli(tmp_path, api_server, "-n", "other")
    assert code == 0
    assert doc["results"] == []
    code, _ = _cluster_cli(tmp_path, api_server, "-n", "apps", "-A")
    assert code == 2
