"""Health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import text

from mamori.store.database import Database
from tests import data
from tests.conftest import Tokens, bearer


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in metrics.splitlines():
        m = re.fullmatch(rf"{re.escape(name)}\{{(.*)\}} (\S+)", line)
        if m and ",".join(sorted(m.group(1).split(","))) == want:
            return float(m.group(2))
    return 0.0


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_readyz_says_unavailable_when_the_schema_is_behind(
    client: TestClient, db: Database
) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable"


def test_metrics_count_ingested_duplicates_and_rejected(client: TestClient, tokens: Tokens) -> None:
    batch = [data.alert_doc(n) for n in range(7)]
    client.post("/api/v1/alerts:batch", json={"alerts": batch}, headers=bearer(tokens.ingest))
    client.post(
        "/api/v1/alerts:batch",
        json={"alerts": [*batch[:3], {"rule": "bad"}]},
        headers=bearer(tokens.ingest),
    )
    client.post(
        "/api/v1/findings:batch",
        json={"findings": [data.finding_doc(1)]},
        headers=bearer(tokens.ingest),
    )
    r = client.get("/metrics", headers=bearer(tokens.read))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    m = r.text
    assert sample(m, "mamori_ingested_total", kind="alerts") == 7
    assert sample(m, "mamori_ingest_duplicates_total", kind="alerts") == 3
    assert sample(m, "mamori_ingest_rejected_total", kind="alerts") == 1
    assert sample(m, "mamori_ingested_total", kind="findings") == 1
    assert (
        sample(
            m,
            "mamori_http_requests_total",
            method="POST",
            route="/api/v1/alerts:batch",
            status="200",
        )
        == 2
    )
    assert (
        sample(m, "mamori_http_requests_total", method="GET", route="/metrics", status="200") == 0
    )


def test_openapi_lists_the_api_routes_and_batch_bodies(client: TestClient, tokens: Tokens) -> None:
    doc = client.get("/openapi.json", headers=bearer(tokens.read)).json()
    paths = doc["paths"]
    expected = {
        "/api/v1/alerts": {"get"},
        "/api/v1/alerts/{alert_id}": {"get", "patch"},
        "/api/v1/alerts:batch": {"post"},
        "/api/v1/findings": {"get"},
        "/api/v1/findings/{finding_id}": {"get", "patch"},
        "/api/v1/findings:batch": {"post"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    body = paths["/api/v1/alerts:batch"]["post"]["requestBody"]["content"]["application/json"]
    assert "alerts" in body["schema"]["properties"]
    assert not any(p.startswith(("/login", "/static")) for p in paths)
