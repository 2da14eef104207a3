"""Drift in the web UI: the verdict explained on an alert, the policy page with hit counters."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from types import MappingProxyType

import pytest
from fastapi.testclient import TestClient

from mamori.config import Settings
from mamori.drift.reload import PolicyHolder
from mamori.drift.verdict import EXPLAIN, Verdict
from mamori.store.database import Database
from tests import data
from tests.server.ui_session import add_user, login


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


def test_alert_detail_explains_the_verdict(client: TestClient, db: Database) -> None:
    fields = {"drift.verdict": "drift-modified", "drift.rule": "shop-block",
              "drift.action_taken": "blocked", "proc.sha256": "ab" * 32}  # fmt: skip
    alert = data.alert(0, id="d0", rule="Blocked binary drift executing in the container")
    db.alerts.insert([replace(alert, fields=MappingProxyType(fields))])
    add_user(db)
    login(client)
    html = client.get("/alerts/d0").text
    sentence = EXPLAIN[Verdict.DRIFT_MODIFIED]
    assert sentence in html.replace("&#39;", "'")
    assert re.search(r'id="drift-verdict"><strong>drift-modified</strong>', html)
    assert "shop-block" in html


def test_policy_page_lists_rules_in_order_with_hits(
    client: TestClient, db: Database, settings: Settings
) -> None:
    holder = PolicyHolder()
    holder.counters.hit("default-binary-drift", "alerted")
    holder.counters.hit("default-binary-drift", "alerted")
    holder.counters.hit("alert-on-kube-system", "alerted")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "drift-state.json").write_text(json.dumps(holder.state()))
    add_user(db)
    login(client)
    html = client.get("/drift/policy").text
    rows = re.findall(r'<tr data-rule="([^"]+)">', html)
    assert rows == ["alert-on-kube-system", "default-binary-drift"]
    hits = re.findall(r'<td class="hits">(\d+)</td>', html)
    assert hits == ["1", "2"]


def test_policy_page_without_a_sensor(client: TestClient, db: Database) -> None:
    add_user(db)
    login(client)
    r = client.get("/drift/policy")
    assert r.status_code == 200
    assert "No sensor has reported a drift policy" in r.text
