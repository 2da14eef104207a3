"""One detector seam: the webhook worker, ``audit replay`` and ``audit tail`` run the stateful
detections, keep their state across restarts, and store each alert once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from mamori.audit.pipeline import build_pipeline
from mamori.audit.webhook import WebhookReceiver
from mamori.cli.app import app as cli
from mamori.config import Settings
from mamori.core.findings import Alert
from mamori.store.database import Database
from mamori.store.models import ALERTS
from mamori.store.query import Filters
from tests.audit.corpus_util import SEQUENCES, event_list, mamori_detector, run_stateful, sequence
from tests.audit.test_cli_audit import wait_for
from tests.conftest import REPO, Tokens, bearer

URL = "/api/v1/audit/webhook"


def test_the_webhook_worker_raises_stateful_alerts_and_saves_its_state(
    app: FastAPI, client: TestClient, db: Database, tokens: Tokens, settings: Settings
) -> None:
    for raw in sequence("exposure-postgres-trust-env"):  # one batch per event: state carries over
        r = client.post(URL + "?cluster=prod", json=event_list(raw), headers=bearer(tokens.ingest))
        assert r.status_code == 200
    assert app.state.audit.worker.wait_idle(60)
    alerts = db.alerts.list(Filters(), limit=10).items
    assert {a.rule for a in alerts} == {
        "mamori exposed postgres with trust authentication",
        "mamori exposed postgres with broad source range",
    }
    assert {a.cluster for a in alerts} == {"prod"}
    state = json.loads(settings.audit_state.read_text())
    assert [s["name"] for s in state["inventory"]["prod"]["services"]] == ["pg"]


class Sink:
    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.calls = 0
        self.alerts: dict[str, Alert] = {}

    def __call__(self, alerts: list[Alert]) -> None:
        self.calls += 1
        if self.fail:
            raise ConnectionError("database unavailable")
        self.alerts.update((a.id, a) for a in alerts)


def test_state_is_saved_only_after_the_alerts_are_stored(tmp_path: Path) -> None:
    """A batch whose alerts never reached the store is evaluated again after a restart against
    the state from before it: the same alerts, with the same ids."""
    raws = sequence("exposure-postgres-trust-env")
    expected = {a.id for _, a in run_stateful(raws)}
    journal, state = tmp_path / "journal", tmp_path / "state.json"
    body = json.dumps(event_list(*raws)).encode()

    down = Sink(fail=True)
    first_pipeline = build_pipeline(mamori_detector(), state_file=state)
    first = WebhookReceiver(journal, first_pipeline.detect_all, down, first_pipeline.commit)
    first.worker.retry_s = 0.001
    first.start()
    first.accept(body, "test")
    while down.calls < 2:
        threading.Event().wait(0.01)
    first.stop()
    assert not state.exists()  # nothing stored: nothing saved

    up = Sink(fail=False)
    second_pipeline = build_pipeline(mamori_detector(), state_file=state)
    second = WebhookReceiver(journal, second_pipeline.detect_all, up, second_pipeline.commit)
    second.start()
    try:
        assert second.worker.wait_idle(30)
    finally:
        second.stop()
    assert set(up.alerts) == expected
    assert state.exists()


def test_replay_prints_stateful_alerts_and_keeps_state_between_runs(tmp_path: Path) -> None:
    state = tmp_path / "detect.json"
    lines = (SEQUENCES / "exposure-postgres-trust-env.jsonl").read_text().splitlines(True)
    (tmp_path / "a.log").write_text(lines[0])
    (tmp_path / "b.log").write_text(lines[1])
    runner = CliRunner()
    r = runner.invoke(
        cli, ["audit", "replay", str(tmp_path / "a.log"), "--detect-state", str(state)]
    )
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    r = runner.invoke(
        cli, ["audit", "replay", str(tmp_path / "b.log"), "--detect-state", str(state)]
    )
    assert r.exit_code == 0, r.output
    printed = [json.loads(x) for x in r.stdout.splitlines()]
    assert {p["rule"] for p in printed} == {
        "mamori exposed postgres with trust authentication",
        "mamori exposed postgres with broad source range",
    }
    assert all(p["source"] == "k8s_audit" for p in printed)
    assert "mamori.MAM-CP-001" in printed[0]["tags"]
    # without the state the Service alone raises CP-002 only (port 5432, no pods known)
    r = runner.invoke(cli, ["audit", "replay", str(tmp_path / "b.log")])
    assert [json.loads(x)["rule"] for x in r.stdout.splitlines()] == [
        "mamori exposed postgres with broad source range"
    ]
    r = runner.invoke(cli, ["audit", "replay", str(tmp_path / "b.log"), "--no-stateful"])
    assert r.stdout == ""


def test_replay_learning_days_option() -> None:
    log = SEQUENCES / "serviceaccount-rare-operation.jsonl"

    def rules(*options: str) -> list[str]:
        r = CliRunner().invoke(cli, ["audit", "replay", str(log), *options])
        assert r.exit_code == 0, r.output
        return [json.loads(x)["rule"] for x in r.stdout.splitlines()]

    cp023 = "mamori secrets enumeration by service account"  # a rule, on both secrets lists
    assert rules() == [cp023, cp023]
    assert sorted(rules("--learning-days", "0.04")) == [
        cp023, cp023, "mamori service account rare operation",
    ]  # fmt: skip


def stored_rules(url: str) -> list[str]:
    db = Database.connect(url, upgrade=False)
    try:
        with db.engine.connect() as conn:
            return [row[0] for row in conn.execute(select(ALERTS.c.rule)).all()]
    finally:
        db.close()


@pytest.mark.slow
def test_tail_keeps_the_inventory_across_a_kill(tmp_path: Path, sqlite_url: str) -> None:
    Database.connect(sqlite_url).close()
    lines = (SEQUENCES / "exposure-postgres-trust-env.jsonl").read_text().splitlines(True)
    log = tmp_path / "audit.log"
    log.write_text(lines[0])  # the Deployment
    env = {**os.environ, "MAMORI_DATABASE_URL": sqlite_url, "PYTHONPATH": str(REPO / "src"),
           "MAMORI_DATA_DIR": str(tmp_path / "data")}  # fmt: skip
    tail_state = tmp_path / "tail.state"
    cmd = [sys.executable, "-m", "mamori", "audit", "tail", str(log), "--state", str(tail_state),
           "--store", "--quiet"]  # fmt: skip
    first = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    detectors = tmp_path / "tail.state.detectors.json"
    try:
        wait_for(lambda: tail_state.exists() and detectors.exists(), "the first batch committed")
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    with log.open("a") as f:
        f.write(lines[1])  # the Service, read by the next run only
    second = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(stored_rules(sqlite_url)) >= 2, "the exposure alerts")
    finally:
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=60)
    assert second.returncode == 0, err.decode()
    assert sorted(stored_rules(sqlite_url)) == [
        "mamori exposed postgres with broad source range",
        "mamori exposed postgres with trust authentication",
    ]
