"""``mamori audit replay`` and ``mamori audit tail`` (a real process, killed with SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mamori.cli.app import app
from mamori.store.database import Database
from mamori.store.models import ALERTS
from tests.audit.corpus_util import all_cases, case, event_list, mamori_detector
from tests.conftest import REPO

EVERY_EVENT = """
- rule: every audit event
  desc: test rule
  condition: ka.auditid exists
  output: seen %ka.auditid
  priority: INFO
  source: k8s_audit
"""


def compact(raw: dict[str, Any]) -> bytes:
    return json.dumps(raw, separators=(",", ":")).encode() + b"\n"


def test_replay_prints_falco_json_for_a_log_file(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(b"".join(compact(case(n)) for n in all_cases()))
    r = CliRunner().invoke(app, ["audit", "replay", str(log)])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    from mamori.audit.events import to_event

    expected = sum(len(mamori_detector().matches(to_event(case(n)))) for n in all_cases())
    assert len(lines) == expected
    exec_line = next(x for x in lines if x["rule"] == "mamori exec into pod")
    assert exec_line["source"] == "k8s_audit"
    assert exec_line["priority"] == "Notice"
    assert "mamori.MAM-CP-021" in exec_line["tags"]
    assert exec_line["output_fields"]["ka.user.name"] == "kubernetes-admin"


def test_replay_reads_an_eventlist_document_and_stores_alerts(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = tmp_path / "batch.json"
    doc.write_text(json.dumps(event_list(case("pod-create-miner"), case("pod-get")), indent=2))
    monkeypatch.setenv("MAMORI_DATABASE_URL", sqlite_url)
    for _ in range(2):  # twice: stored once
        r = CliRunner().invoke(app, ["audit", "replay", str(doc), "--store", "--cluster", "c9"])
        assert r.exit_code == 0, r.output
    db = Database.connect(sqlite_url)
    try:
        from mamori.store.query import Filters

        [alert] = db.alerts.list(Filters(), limit=10).items
    finally:
        db.close()
    assert (alert.rule, alert.cluster, alert.source) == (
        "mamori miner image pod",
        "c9",
        "k8s_audit",
    )


def test_replay_names_the_bad_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    bad = dict(case("pod-get"))
    del bad["stage"]
    log.write_bytes(compact(case("pod-get")) + compact(bad))
    r = CliRunner().invoke(app, ["audit", "replay", str(log)])
    assert r.exit_code == 2
    assert f"{log}:2.stage: expected a non-empty string" in r.output


def test_replay_with_rules_that_do_not_load_is_an_error(tmp_path: Path) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text("- rule: x\n")
    log = tmp_path / "audit.log"
    log.write_bytes(compact(case("pod-get")))
    r = CliRunner().invoke(app, ["audit", "replay", str(log), "--rules", str(rules)])
    assert r.exit_code != 0


# the tailer as a real process ---------------------------------------------------------------


def stored_ids(url: str) -> list[str]:
    db = Database.connect(url, upgrade=False)
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(select(ALERTS.c.fields)).all()
    finally:
        db.close()
    return [row[0]["ka.auditid"] for row in rows]


def wait_for(check: Callable[[], bool], what: str, limit_s: float = 120) -> None:
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


class Writer:
    """Appends audit log lines the way kube-apiserver does, and rotates by rename."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.template = case("pods-list-kubectl")
        self.written: list[str] = []
        self.rotations = 0

    def write(self, count: int) -> None:
        with self.log.open("ab") as f:
            for _ in range(count):
                n = len(self.written)
                raw = dict(self.template, auditID=f"00000000-0000-4000-8000-{n:012d}")
                f.write(compact(raw))
                self.written.append(raw["auditID"])

    def rotate(self) -> None:
        self.rotations += 1
        self.log.rename(self.log.with_name(f"audit-2025-03-01T12-00-0{self.rotations}.000.log"))


@pytest.mark.slow
def test_tail_resumes_without_duplicates_or_gaps_after_sigkill_and_rotation(
    tmp_path: Path, sqlite_url: str
) -> None:
    Database.connect(sqlite_url).close()  # migrate once, before the tailer starts
    rules = tmp_path / "every.yaml"
    rules.write_text(EVERY_EVENT)
    writer = Writer(tmp_path / "logs" / "audit.log")
    writer.log.parent.mkdir()
    env = {**os.environ, "MAMORI_DATABASE_URL": sqlite_url, "PYTHONPATH": str(REPO / "src"),
           "MAMORI_DATA_DIR": str(tmp_path / "data")}  # fmt: skip
    cmd = [sys.executable, "-m", "mamori", "audit", "tail", str(writer.log),
           "--state", str(tmp_path / "tail.state"), "--rules", str(rules),
           "--no-default-rules", "--store", "--batch-lines", "50"]  # fmt: skip

    def start(out: Path) -> subprocess.Popen[bytes]:
        with out.open("wb") as sink:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.PIPE)

    first = start(tmp_path / "out1.jsonl")
    writer.write(1000)
    wait_for(lambda: len(stored_ids(sqlite_url)) >= 300, "the first alerts")
    first.send_signal(signal.SIGKILL)  # mid-stream: lines are still waiting in the file
    first.communicate()
    at_kill = len(stored_ids(sqlite_url))
    assert at_kill < len(writer.written), "the tailer finished before it was killed"

    writer.write(500)
    writer.rotate()  # rotated while the tailer is down: it must finish the old file first
    writer.write(500)
    second = start(tmp_path / "out2.jsonl")
    writer.write(500)
    wait_for(lambda: len(stored_ids(sqlite_url)) >= 2000, "the second run to catch up")
    writer.rotate()  # and rotated while it is running
    writer.write(500)
    try:
        wait_for(lambda: len(stored_ids(sqlite_url)) >= len(writer.written), "every line")
    finally:
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=60)
    assert second.returncode == 0, err.decode()

    ids = stored_ids(sqlite_url)
    assert len(ids) == len(set(ids)) == len(writer.written)  # no duplicates
    assert set(ids) == set(writer.written)  # no gaps
    # It resumed (not restarted): the second run re-read at most the one uncommitted batch.
    second_lines = (tmp_path / "out2.jsonl").read_text().splitlines()
    assert len(second_lines) <= len(writer.written) - at_kill + 50
    first_lines = [x for x in (tmp_path / "out1.jsonl").read_text().splitlines() if x.endswith("}")]
    printed = [json.loads(x)["output_fields"]["ka.auditid"] for x in first_lines + second_lines]
    assert set(printed) == set(writer.written)
