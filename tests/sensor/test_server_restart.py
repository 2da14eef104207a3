"""Acceptance: ``mamori sensor`` ships to a real ``mamori up``; the server is SIGKILLed while
the sensor sends and restarted: every alert arrives exactly once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, free_port
from tests.sensor.conftest import Containers

pytestmark = [pytest.mark.docker, pytest.mark.root, pytest.mark.slow]
ROUNDS, PER_ROUND = 3, 300


def _env(data: Path) -> dict[str, str]:
    env = dict(os.environ, MAMORI_DATA_DIR=str(data), MAMORI_LOG_LEVEL="warning")
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _mamori(*args: str, env: dict[str, str], **kw: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "mamori", *args], env=env, **kw)  # type: ignore[call-overload]


def _start_server(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        proc = _mamori(
            "up",
            "--port",
            str(port),
            "--no-sensor",
            env=env,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code < 500:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


@pytest.fixture
def server_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    env = _env(tmp_path / "data")
    token = subprocess.run(
        [sys.executable, "-m", "mamori", "token", "create", "sensor", "--scope", "ingest"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    return env, token_file


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.05)


def _rows(db: Path, cid: str) -> tuple[int, int]:
    if not db.exists():
        return 0, 0
    con = sqlite3.connect(db, timeout=10)
    try:
        rows = con.execute("SELECT id, fields FROM alerts").fetchall()
    finally:
        con.close()
    mine = [
        r
        for r in rows
        if json.loads(r[1]).get("container.full_id") == cid
        and json.loads(r[1]).get("proc.exepath") == "/bin/true"
    ]
    return len(mine), len({r[0] for r in mine})


def test_alerts_survive_a_server_kill(
    tmp_path: Path, server_env: tuple[dict[str, str], Path], containers: Containers
) -> None:
    env, token_file = server_env
    port = free_port()
    log = tmp_path / "server.log"
    server = _start_server(port, env, log)
    spool = tmp_path / "spool"
    sensor_log = tmp_path / "sensor.log"
    with open(sensor_log, "wb") as out:
        sensor = _mamori(
            "sensor",
            "--output",
            f"http://127.0.0.1:{port}",
            "--token-file",
            str(token_file),
            "--spool-dir",
            str(spool),
            "--source",
            "fanotify",
            "--detector",
            "exec-log",  # an alert per exec: this test is about delivery, not detection
            env=dict(env, MAMORI_LOG_LEVEL="info"),
            stdout=out,
            stderr=out,
        )
    try:
        # Marks are in place once it says so; execs before that would be missed.
        _wait(lambda: b"sensor started" in sensor_log.read_bytes(), 60, "sensor did not start")
        cid = containers.run(
            "sh",
            "-c",
            f"for r in $(seq {ROUNDS}); do for i in $(seq {PER_ROUND}); do /bin/true; done; "
            "sleep 1; done; sleep 3600",
            detach=True,
        )
        db = Path(env["MAMORI_DATA_DIR"]) / "mamori.db"
        _wait(lambda: _rows(db, cid)[0] > 0, 60, "no alert reached the server")
        server.send_signal(signal.SIGKILL)  # while the sensor is sending the first round
        server.wait(10)
        # Later rounds pile up in the spool while the server is down.
        _wait(lambda: bool(list(spool.glob("*.jsonl"))), 30, "nothing spooled")
        time.sleep(2)
        server = _start_server(port, env, log)
        want = ROUNDS * PER_ROUND
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if _rows(db, cid)[0] >= want and not list(spool.glob("*.jsonl")):
                break
            time.sleep(0.5)
        time.sleep(1)
        assert _rows(db, cid) == (want, want), sensor_log.read_text()[-3000:]
    finally:
        sensor.send_signal(signal.SIGTERM)
        try:
            sensor.wait(30)
        except subprocess.TimeoutExpired:
            sensor.kill()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    status = json.loads(sensor_log.read_text().strip().splitlines()[-1])
    assert status["stats"]["send_failures"] >= 1  # the kill really hit the sender
    assert status["stats"]["errors"] == 0
