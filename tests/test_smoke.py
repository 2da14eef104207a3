from fastapi.testclient import TestClient

from tests.conftest import Tokens, bearer


def test_health_needs_no_auth_but_alerts_do(client: TestClient, tokens: Tokens) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json() == {"status": "ready"}
    assert client.get("/api/v1/alerts").status_code == 401
    assert client.get("/api/v1/alerts", headers=bearer(tokens.read)).status_code == 200
