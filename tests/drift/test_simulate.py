"""``mamori drift simulate`` on recorded decisions (offline), and a live record -> simulate run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mamori.cli.app import app
from mamori.core.eventjson import to_dict
from mamori.core.events import ContainerInfo, Event, EventKind, K8sInfo, ProcessInfo
from mamori.drift.policy import default_policy_text
from mamori.sensor.recorder import EventRecorder
from tests.drift.conftest import Box

BLOCK_SHOP = """\
rules:
  - name: alert-on-kube-system
    action: alert
    resource_scope: [{category: namespace, operator: equals, values: [kube-system]}]
  - name: shop-block
    action: block
    resource_scope: [{category: namespace, operator: equals, values: [shop]}]
default_rule: {action: ignore}
"""


def _event(ns: str, path: str, verdict: str, taken: str, n: int) -> dict[str, Any]:
    e = Event(
        kind=EventKind.PROCESS_EXEC,
        time_ns=1_700_000_000_000_000_000 + n,
        syscall="execve",
        process=ProcessInfo(pid=100 + n, name="x", exepath=path),
        container=ContainerInfo(id="c" * 64, name=f"app-{ns}"),
        k8s=K8sInfo(namespace=ns, pod_name="p"),
        extra={
            "mamori.drift.verdict": verdict,
            "mamori.drift.path": path,
            "mamori.drift.action_taken": taken,
            "mamori.drift.rule": "default-binary-drift",
        },
    )
    return to_dict(e)


def test_simulate_shows_rule_action_hits_and_diff(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    rows = [
        _event("shop", "/tmp/a", "drift-new", "alerted", 1),
        _event("shop", "/tmp/b", "drift-modified", "alerted", 2),
        _event("kube-system", "/tmp/c", "drift-new", "alerted", 3),
        _event("dev", "/tmp/d", "drift-new", "alerted", 4),
        _event("dev", "/bin/true", "image", "none", 5),
    ]
    events.write_text("".join(json.dumps(r) + "\n" for r in rows))
    policy = tmp_path / "p.yaml"
    policy.write_text(BLOCK_SHOP)
    result = CliRunner().invoke(
        app, ["drift", "simulate", "--policy", str(policy), "--events", str(events), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["hits"] == {"alert-on-kube-system": 1, "shop-block": 2, "default-binary-drift": 1}
    assert data["changes"] == {"alerted -> blocked": 2, "alerted -> ignored": 1}
    assert data["skipped"] == 1
    assert [(e["path"], e["rule"], e["action"]) for e in data["execs"]] == [
        ("/tmp/a", "shop-block", "block"),
        ("/tmp/b", "shop-block", "block"),
        ("/tmp/c", "alert-on-kube-system", "alert"),
        ("/tmp/d", "default-binary-drift", "ignore"),
    ]
    text = CliRunner().invoke(
        app, ["drift", "simulate", "--policy", str(policy), "--events", str(events)]
    )
    assert "2 exec(s) would change: alerted -> blocked" in text.output


def test_simulate_refuses_a_bad_policy_with_locations(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  - {name: a, action: maybe}\n")
    events = tmp_path / "e.jsonl"
    events.write_text("")
    result = CliRunner().invoke(
        app, ["drift", "simulate", "--policy", str(policy), "--events", str(events)]
    )
    assert result.exit_code == 2
    assert f"{policy}:2:15: literal_error" in result.output


def test_check_and_default_policy(tmp_path: Path) -> None:
    runner = CliRunner()
    shipped = runner.invoke(app, ["drift", "default-policy"]).output
    assert shipped == default_policy_text("alert")
    path = tmp_path / "p.yaml"
    path.write_text(shipped)
    assert runner.invoke(app, ["drift", "check", str(path)]).exit_code == 0
    defender = runner.invoke(app, ["drift", "default-policy", "--defender-defaults"]).output
    assert "action: ignore" in defender


@pytest.mark.docker
@pytest.mark.root
def test_live_recording_replays_through_simulate(
    drift_sensor: Any, box: Box, tmp_path: Path
) -> None:
    recording = tmp_path / "rec.jsonl"
    recorder = EventRecorder.file(recording)
    with drift_sensor() as run:
        run.sensor.event_sinks.append(recorder)
        run.sensor.pipeline.event_sinks.append(recorder)  # type: ignore[union-attr]
        cid = box.start(labels={"io.kubernetes.pod.namespace": "shop"})
        box.sh(cid, "mkdir /tmp/d && cp /bin/true /tmp/d/true && /tmp/d/true")
        run.settle(lambda: bool(run.drift_alerts()))
    policy = tmp_path / "p.yaml"
    policy.write_text(BLOCK_SHOP)
    result = CliRunner().invoke(
        app, ["drift", "simulate", "--policy", str(policy), "--events", str(recording), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    mine = [e for e in data["execs"] if e["path"] == "/tmp/d/true"]
    assert [(e["rule"], e["action_taken"], e["recorded_action_taken"]) for e in mine] == [
        ("shop-block", "blocked", "alerted")
    ]
