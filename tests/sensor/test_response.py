from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mamori.core.findings import Alert
from mamori.core.severity import Severity
from mamori.rules.ruleset import RuleMatching
from mamori.sensor.identity.docker import DockerClient
from mamori.sensor.response import (
    Responder,
    kill_process,
    pause_container,
    stop_container,
    unpause_container,
)
from mamori.sensor.rules_detector import RulesDetector, load_rules
from mamori.sensor.runtime import Sensor, SensorOptions
from mamori.sensor.sources.procfs import read_snapshot
from tests.sensor.conftest import Containers, docker


def test_kill_process_checks_identity() -> None:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        snap = read_snapshot(proc.pid)
        assert snap.start_ticks is not None
        assert not kill_process(proc.pid, start_ticks=snap.start_ticks + 1).ok  # not that one
        result = kill_process(proc.pid, start_ticks=snap.start_ticks)
        assert result.ok
        assert proc.wait(10) == -9
        assert not kill_process(proc.pid).ok  # reaped: no such process
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.docker
@pytest.mark.root
def test_pause_unpause_stop(containers: Containers) -> None:
    cid = containers.run("sleep", "600", detach=True)
    client = DockerClient()
    try:
        assert pause_container(client, cid).ok
        assert docker("inspect", "-f", "{{.State.Status}}", cid) == "paused"
        assert unpause_container(client, cid).ok
        assert stop_container(client, cid).ok
        assert docker("inspect", "-f", "{{.State.Running}}", cid) == "false"
        assert stop_container(client, cid).detail == "already done"
        assert not stop_container(client, "0" * 64).ok
    finally:
        client.close()


RESPONSE_RULES = """\
- rule: test kill marked sleep
  desc: a sleep with a marker argument is killed
  condition: evt.type in (execve, execveat) and container.id != host and proc.name = sleep
    and proc.args contains "4242"
  output: marked sleep (pid=%proc.pid container=%container.id)
  priority: WARNING
  tags: [test, mamori.response.kill_process]
- rule: test stop on marker
  desc: a sleep with another marker stops its container
  condition: evt.type in (execve, execveat) and container.id != host and proc.name = sleep
    and proc.args contains "4343"
  output: stop marker (container=%container.id)
  priority: WARNING
  tags: [test, mamori.response.stop_container]
"""


def test_responder_never_acts_outside_containers() -> None:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        alert = Alert(
            id="a1",
            time=datetime.now(UTC),
            rule="r",
            severity=Severity.WARNING,
            source="syscall",
            output="out",
            fields={"container.id": "host", "proc.pid": proc.pid},
            tags=("mamori.response.kill_process", "mamori.response.reboot"),
        )
        done = Responder(None).apply(alert, proc.pid, None, None)
        assert proc.poll() is None  # a host process: never killed
        assert [(r["action"], r["ok"]) for r in done.fields["response"]] == [
            ("kill_process", False),
            ("reboot", False),
        ]
        assert done.fields["response"][1]["detail"] == "unknown response action"
        assert done.output.endswith("(response: kill_process=failed, reboot=failed)")
        dry = Responder(None, dry_run=True).apply(alert, proc.pid, None, "c" * 64)
        assert proc.poll() is None
        assert dry.fields["response"][0]["detail"] == "dry run: responses are off"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.docker
@pytest.mark.root
def test_rule_responses_kill_and_stop_live(containers: Containers, tmp_path: Path) -> None:
    """A rule tagged mamori.response.kill_process kills the exec'd process in its container;
    one tagged mamori.response.stop_container stops the container; both are on the alert."""
    rules = tmp_path / "response.yaml"
    rules.write_text(RESPONSE_RULES)
    sink = _Collect()
    sensor = Sensor(
        SensorOptions(sources=("fanotify",), cluster="test-cluster"),
        [RulesDetector(load_rules([rules], RuleMatching.ALL))],
        [sink],
    )
    sensor.start()
    try:
        cid = containers.run("sleep", "600", detach=True)
        killed = subprocess.run(
            ["docker", "exec", cid, "sleep", "4242"], capture_output=True, timeout=60
        )
        assert killed.returncode == 137  # SIGKILLed, not a 60 s wait for the timeout
        subprocess.run(
            ["docker", "exec", "-d", cid, "sleep", "4343"], capture_output=True, timeout=60
        )
        deadline = time.monotonic() + 30
        while docker("inspect", "-f", "{{.State.Running}}", cid) == "true":
            assert time.monotonic() < deadline, "container still running"
            time.sleep(0.2)
        sensor.wait_idle()
    finally:
        sensor.stop()
    by_rule = {a.rule: a for a in sink.alerts}
    kill = by_rule["test kill marked sleep"].fields["response"]
    assert [(r["action"], r["ok"]) for r in kill] == [("kill_process", True)]
    stop = by_rule["test stop on marker"].fields["response"]
    assert [(r["action"], r["ok"], r["target"]) for r in stop] == [("stop_container", True, cid)]
    assert sensor.status()["responses"] == {"done": 2, "failed": 0, "dry_run": False}


class _Collect:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def emit(self, alerts: Iterable[Alert]) -> None:
        self.alerts.extend(alerts)
