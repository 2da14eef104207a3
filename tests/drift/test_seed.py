"""Acceptance seed: `cp /bin/echo /bin/echod; /bin/echod ...` under the default policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mamori.drift.policy import default_policy_text
from tests.drift.conftest import Box

pytestmark = [pytest.mark.docker, pytest.mark.root]
SEED = "cp /bin/echo /bin/echod; /bin/echod This is a binary drift execution"
NS = "io.kubernetes.pod.namespace"


def test_seed_kube_system_alerts_once(drift_sensor: Any, box: Box) -> None:
    with drift_sensor() as run:
        cid = box.start(labels={NS: "kube-system", "io.kubernetes.pod.name": "kp"})
        box.sh(cid, SEED)
        run.settle(lambda: bool(run.drift_alerts()))
        alerts = run.drift_alerts()
        assert len(alerts) == 1, [a.output for a in alerts]
        a = alerts[0]
        assert a.rule == "A drift binary detected executing in the container"
        assert a.fields["drift.verdict"] == "drift-new"
        assert a.fields["drift.rule"] == "alert-on-kube-system"
        assert a.fields["proc.exepath"] == "/bin/echod"
        assert a.fields["k8s.ns.name"] == "kube-system"
        assert a.fields["container.full_id"] == cid
        assert len(a.fields["proc.sha256"]) == 64
        # The alert's context (design 2.5): process, parent, user, container, image, node.
        # Detect mode races the exec: argv when /proc still had it, else the file's name.
        assert a.fields["proc.cmdline"].startswith(("echod", "sh -c cp /bin/echo"))
        # The uid is the process's own or, if it exited before /proc was read, its parent's;
        # only a process gone before even its ppid was read has none.
        assert a.fields["user.name"] == "root" or a.fields["proc.ppid"] is None
        assert a.fields["container.name"]
        assert a.fields["container.image"] == box.image
        assert a.fields["container.image.digest"]
        assert a.fields["k8s.pod.name"] == "kp"
        assert (a.node, a.cluster) == (a.fields["node"], "test-cluster")
        assert a.fields["drift.policy_revision"].startswith("sha256:")
        assert a.mitre is not None
        assert a.mitre.tactic == "Execution"


def test_seed_default_namespace_with_ignore_catch_all_is_silent(
    drift_sensor: Any, box: Box, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(default_policy_text("ignore"))
    with drift_sensor(policy) as run:
        cid = box.start(labels={NS: "default"})
        box.sh(cid, SEED)
        run.settle(lambda: bool(run.events.drift("/bin/echod")))
        decisions = run.events.drift("/bin/echod")
        assert [d["mamori.drift.verdict"] for d in decisions] == ["drift-new"]
        assert decisions[0]["mamori.drift.rule"] == "default-binary-drift"
        assert decisions[0]["mamori.drift.action_taken"] == "ignored"
        assert run.drift_alerts() == []
        hits = run.sensor.policy.counters.as_dict()  # type: ignore[union-attr]
        assert hits["default-binary-drift"]["ignored"] == 1


def test_policy_response_kills_the_drifted_process(
    drift_sensor: Any, box: Box, tmp_path: Path
) -> None:
    """A policy rule with `response: [kill_process]`: the drifted process is killed by the
    sensor and the alert records it (detect mode: the exec ran, then it was stopped)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "apiVersion: mamori/v1\nkind: DriftPolicy\nrules:\n"
        "  - {name: kill-drift, action: alert, response: [kill_process]}\n"
    )
    with drift_sensor(policy) as run:
        cid = box.start()
        rc, out = box.sh(
            cid, "mkdir /tmp/d && cp /bin/sleep /tmp/d/sleep && /tmp/d/sleep 4545", timeout=60
        )
        assert rc == 137, out  # SIGKILLed long before its 75 minutes were up
        run.settle(lambda: bool(run.drift_alerts()))
        (alert,) = run.drift_alerts()
        assert "mamori.response.kill_process" in alert.tags
        assert [(r["action"], r["ok"]) for r in alert.fields["response"]] == [
            ("kill_process", True)
        ]
