"""The audit webhook: EventLists in, alerts stored in the background; nothing accepted is lost."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from mamori.audit.journal import Journal
from mamori.audit.webhook import WebhookReceiver
from mamori.config import Settings
from mamori.core.findings import Alert
from mamori.server.app import create_app
from mamori.store.database import Database
from mamori.store.models import ALERTS
from tests.audit.corpus_util import all_cases, case, event_list, mamori_detector
from tests.conftest import Tokens, bearer

URL = "/api/v1/audit/webhook"


def stored(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ALERTS)).scalar_one())


def drained(app: FastAPI) -> None:
    assert app.state.audit.worker.wait_idle(60), "the audit worker did not catch up"


def many(n: int) -> list[dict[str, Any]]:
    """``n`` distinct events: the corpus again and again with fresh audit ids."""
    names = all_cases()
    out = []
    for i in range(n):
        raw = case(names[i % len(names)])
        raw["auditID"] = f"{raw['auditID'][:24]}{i:012d}"
        out.append(raw)
    return out


def expected_alerts(items: list[dict[str, Any]]) -> int:
    from mamori.audit.events import to_event

    return sum(len(mamori_detector().matches(to_event(r))) for r in items)


def test_a_batch_of_1000_events_is_accepted_and_its_alerts_stored(
    app: FastAPI, client: TestClient, db: Database, tokens: Tokens
) -> None:
    items = many(1000)
    r = client.post(URL, json=event_list(*items), headers=bearer(tokens.ingest))
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1000}
    drained(app)
    assert stored(db) == expected_alerts(items) > 0
    assert list(Path(app.state.settings.audit_journal).glob("*.batch")) == []
    # the same batch again (an API server retry): no new alerts
    assert (
        client.post(URL, json=event_list(*items), headers=bearer(tokens.ingest)).status_code == 200
    )
    drained(app)
    assert stored(db) == expected_alerts(items)


def test_stored_alerts_say_who_what_where(
    app: FastAPI, client: TestClient, db: Database, tokens: Tokens
) -> None:
    body = event_list(case("clusterrolebinding-create-cluster-admin"))
    r = client.post(URL + "?cluster=prod-eu", json=body, headers=bearer(tokens.ingest))
    assert r.status_code == 200
    drained(app)
    from mamori.store.query import Filters

    page = db.alerts.list(Filters(rule="mamori cluster-admin binding"), limit=10)
    [alert] = page.items
    assert alert.source == "k8s_audit"
    assert alert.cluster == "prod-eu"
    assert alert.fields["ka.user.name"] == "kubernetes-admin"
    assert alert.fields["ka.useragent"].startswith("kubectl/")
    assert alert.fields["ka.sourceips"] == ["172.18.0.1"]
    assert alert.fields["ka.req.binding.subjects"] == ["mamori-sim-victim"]
    [target] = alert.resources
    assert (target.kind, target.name, target.cluster) == (
        "clusterrolebindings", "mamori-sim-victim-admin", "prod-eu",
    )  # fmt: skip
    assert alert.mitre is not None
    assert alert.mitre.technique == "T1098"


MALFORMED = [
    b"not json",
    b"{}",
    b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"stage":"x"}]}',
    json.dumps({"alerts": []}).encode(),
]


def test_malformed_bodies_get_400_and_are_counted(
    client: TestClient, tokens: Tokens, app: FastAPI
) -> None:
    for body in MALFORMED:
        r = client.post(URL, content=body, headers=bearer(tokens.ingest))
        assert r.status_code == 400, body
        assert r.json()["detail"]
    r = client.post(URL + "?cluster=bad%20name", json=event_list(), headers=bearer(tokens.ingest))
    assert r.status_code == 400
    metrics = client.get("/metrics", headers=bearer(tokens.all)).text
    assert f"mamori_audit_rejected_total {len(MALFORMED) + 1}.0" in metrics
    assert list(Path(app.state.settings.audit_journal).glob("*")) == []


def test_an_unauthenticated_post_gets_401(client: TestClient, tokens: Tokens) -> None:
    body = event_list(case("pod-exec-started"))
    assert client.post(URL, json=body).status_code == 401
    assert client.post(URL, json=body, headers=bearer("mamori_nope")).status_code == 401
    assert client.post(URL, json=body, headers=bearer(tokens.read)).status_code == 403


def test_batches_journaled_before_a_crash_are_evaluated_at_the_next_start(
    settings: Settings, db: Database
) -> None:
    # A "previous run" accepted two batches and died before its worker got to them.
    journal = Journal(settings.audit_journal)
    journal.append(json.dumps(event_list(case("pod-create-privileged"))).encode(), "c1")
    journal.append(json.dumps(event_list(case("webhook-create"))).encode(), None)
    (settings.audit_journal / ".000-cut-short.batch.tmp").write_bytes(b'{"v": 1}\n{"ki')
    app = create_app(settings, db)
    with TestClient(app):
        drained(app)
    rules = {a.rule: a.cluster for a in db.alerts.list(_all(), limit=50).items}
    assert rules == {
        "mamori privileged container": "c1",
        "mamori admission webhook configuration": None,
    }
    assert list(settings.audit_journal.iterdir()) == []


def _all() -> Any:
    from mamori.store.query import Filters

    return Filters()


class FlakySink:
    """Fails the first ``failures`` calls, like a database that is briefly away."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.alerts: dict[str, Alert] = {}
        self.calls = 0

    def __call__(self, alerts: list[Alert]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("database unavailable")
        self.alerts.update((a.id, a) for a in alerts)


def test_a_failing_sink_keeps_the_batch_until_it_is_stored(tmp_path: Path) -> None:
    sink = FlakySink(failures=3)
    receiver = WebhookReceiver(tmp_path, mamori_detector().detect_all, sink)
    receiver.worker.retry_s = 0.001
    receiver.start()
    try:
        body = json.dumps(event_list(case("pod-create-miner"), case("pod-get"))).encode()
        assert receiver.accept(body) == 2
        assert receiver.worker.wait_idle(30)
    finally:
        receiver.stop()
    assert sink.calls == 4
    assert [a.rule for a in sink.alerts.values()] == ["mamori miner image pod"]
    assert receiver.worker.stats.sink_failures == 3
    assert list(tmp_path.glob("*.batch")) == []


def test_stopping_mid_retry_leaves_the_batch_for_the_next_run(tmp_path: Path) -> None:
    never = FlakySink(failures=10**9)
    first = WebhookReceiver(tmp_path, mamori_detector().detect_all, never)
    first.worker.retry_s = 0.001
    first.start()
    body = json.dumps(event_list(case("pod-create-miner"))).encode()
    first.accept(body)
    while never.calls < 2:
        threading.Event().wait(0.01)
    first.stop()
    assert len(list(tmp_path.glob("*.batch"))) == 1

    ok = FlakySink(failures=0)
    second = WebhookReceiver(tmp_path, mamori_detector().detect_all, ok)
    second.start()
    try:
        assert second.worker.wait_idle(30)
    finally:
        second.stop()
    assert [a.rule for a in ok.alerts.values()] == ["mamori miner image pod"]
    assert list(tmp_path.glob("*.batch")) == []


def test_an_unreadable_journal_entry_is_kept_aside(tmp_path: Path) -> None:
    (tmp_path / "00000000000000000001-1-00000000.batch").write_bytes(b"garbage")
    sink = FlakySink(failures=0)
    receiver = WebhookReceiver(tmp_path, mamori_detector().detect_all, sink)
    receiver.start()
    try:
        assert receiver.worker.wait_idle(30)
    finally:
        receiver.stop()
    assert [p.suffix for p in tmp_path.iterdir()] == [".bad"]
    assert receiver.worker.stats.quarantined == 1
