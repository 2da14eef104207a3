"""``mamori up`` with its in-process sensor: alerts land in the local store, no token or HTTP."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mamori.sensor.local import start_local_sensor
from mamori.store.database import Database
from tests.conftest import free_port
from tests.sensor.conftest import Containers, exec_with_tty
from tests.sensor.test_server_restart import _env

RULE = "mamori terminal shell in container"
DRIFT_RULE = "A drift binary detected executing in the container"


def test_no_runtime_socket_means_off_with_a_reason(tmp_path: Path) -> None:
    db = Database.connect(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        sensor, status = start_local_sensor(db, docker_socket=str(tmp_path / "none.sock"))
    finally:
        db.close()
    assert sensor is None
    assert status.startswith("off: ")
    assert ("root" in status) or ("none.sock" in status)


def _shell_alerts(db: Path, cid: str) -> list[dict[str, object]]:
    if not db.exists():
        return []
    con = sqlite3.connect(db, timeout=10)
    try:
        rows = con.execute("SELECT rule, fields FROM alerts").fetchall()
    finally:
        con.close()
    return [
        json.loads(f)
        for r, f in rows
        if r == RULE and json.loads(f).get("container.id") == cid[:12]
    ]


def _drift_alerts(db: Path, cid: str) -> list[dict[str, Any]]:
    if not db.exists():
        return []
    con = sqlite3.connect(db, timeout=10)
    try:
        rows = con.execute("SELECT rule, fields FROM alerts").fetchall()
    finally:
        con.close()
    return [
        json.loads(f)
        for r, f in rows
        if r == DRIFT_RULE and json.loads(f).get("container.full_id") == cid
    ]


@pytest.mark.docker
@pytest.mark.root
@pytest.mark.slow
def test_up_runs_a_local_sensor_into_the_store(containers: Containers, tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    log = tmp_path / "up.log"
    port = free_port()
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "mamori", "up", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 60
        while b"local sensor" not in log.read_bytes():
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        line = next(x for x in log.read_text().splitlines() if "local sensor" in x)
        assert line.startswith("local sensor on: fanotify"), line
        cid = containers.run("sleep", "600", detach=True)
        time.sleep(2.0)  # the mount watcher marks the new rootfs (slower under load)
        assert exec_with_tty(cid, "sh", typed=b"exit\n") == 0
        db = tmp_path / "data" / "mamori.db"
        deadline = time.monotonic() + 20
        while not _shell_alerts(db, cid) and time.monotonic() < deadline:
            time.sleep(0.1)
        got = _shell_alerts(db, cid)
        assert len(got) == 1
        assert got[0]["proc.name"] == "sh"
        # Drift with the shipped default policy (catch-all alert) and the policy page's file.
        script = "mkdir /tmp/d && cp /bin/true /tmp/d/true && /tmp/d/true"
        subprocess.run(["docker", "exec", cid, "sh", "-c", script], timeout=30, check=True)
        state_file = tmp_path / "data" / "drift-state.json"
        deadline = time.monotonic() + 20
        while not _drift_alerts(db, cid) and time.monotonic() < deadline:
            time.sleep(0.1)
        drift = _drift_alerts(db, cid)
        assert [d["drift.rule"] for d in drift] == ["default-binary-drift"]
        while not state_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        state = json.loads(state_file.read_text())
        names = [r["name"] for r in state["rules"]]
        assert names == ["alert-on-kube-system", "default-binary-drift"]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    # SIGTERM: uvicorn shuts down, then the sensor stops (its tracefs instance goes with it).
    assert server.returncode == 128 + signal.SIGTERM, log.read_text()[-2000:]
    assert not Path(f"/sys/kernel/tracing/instances/mamori_connect_{server.pid}").exists()
