"""Alerts from simulation containers (label ``mamori.simulation``) carry ``simulated=True``.

The three places a sensor alert is built: rules (``to_alert``), the drift detector, the exec
log; plus audit alerts, marked by the ``mamori.io/simulation`` annotation of a replayed event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import pytest

from mamori.audit.events import to_event
from mamori.core.events import ContainerInfo, Event, EventKind, K8sInfo, ProcessInfo
from mamori.core.findings import Alert
from mamori.core.severity import Severity
from mamori.core.simulation import SIM_LABEL, is_simulated
from mamori.drift.detector import DriftDetector
from mamori.sensor.detectors import ExecLog
from mamori.sensor.identity.docker import DockerResolver
from mamori.sensor.pipeline import Pipeline
from mamori.sensor.records import ExecRecord, ProcSnapshot
from mamori.sensor.rules_detector import RulesDetector, load_rules
from mamori.simulate.audit_events import PRIVILEGED_POD, fresh_events
from tests.audit.corpus_util import mamori_detector

RULE = """\
- rule: busybox wget in container
  desc: a download tool ran in a container
  condition: evt.type = execve and container.id != host and proc.name = wget
  output: wget in a container (container=%container.id)
  priority: WARNING
  source: syscall
  tags: [mamori.MAM-RT-009]
"""


def exec_event(labels: dict[str, str], **extra: object) -> Event:
    return Event(
        kind=EventKind.PROCESS_EXEC,
        time_ns=1_700_000_000_000_000_000,
        syscall="execve",
        process=ProcessInfo(pid=42, name="wget", exepath="/bin/wget", args=("http://x",)),
        container=ContainerInfo(id="c" * 64, name="victim", labels=MappingProxyType(labels)),
        k8s=K8sInfo(pod_name="mamori-sim-x", namespace="mamori-sim"),
        extra=MappingProxyType(dict(extra)),
    )


@pytest.mark.parametrize(("labels", "marked"), [({SIM_LABEL: "run1"}, True), ({}, False)])
def test_rule_alerts_follow_the_container_label(
    tmp_path: Path, labels: dict[str, str], marked: bool
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE)
    alerts = list(RulesDetector(load_rules([rules])).detect(exec_event(labels)))
    assert [a.rule for a in alerts] == ["busybox wget in container"]
    assert alerts[0].simulated is marked


@pytest.mark.parametrize(("labels", "marked"), [({SIM_LABEL: "run1"}, True), ({}, False)])
def test_drift_and_exec_log_alerts_follow_the_container_label(
    labels: dict[str, str], marked: bool
) -> None:
    event = exec_event(
        labels,
        **{
            "mamori.drift.verdict": "drift-new",
            "mamori.drift.action_taken": "alerted",
            "mamori.drift.path": "/tmp/tool",
        },
    )
    (drift,) = DriftDetector().detect(event)
    assert drift.simulated is marked
    assert "mamori.MAM-RT-040" in drift.tags
    (logged,) = ExecLog().detect(event)
    assert logged.simulated is marked


def test_blocked_drift_is_rt041() -> None:
    event = exec_event(
        {SIM_LABEL: "r"},
        **{"mamori.drift.verdict": "drift-new", "mamori.drift.action_taken": "blocked"},
    )
    (alert,) = DriftDetector().detect(event)
    assert "mamori.MAM-RT-041" in alert.tags
    assert "mamori.MAM-RT-040" not in alert.tags


def test_the_docker_resolver_keeps_the_label_on_the_container() -> None:
    """Enrichment: the label reaches ``ContainerInfo.labels`` (and the pod labels)."""
    data = {
        "Id": "d" * 64,
        "Name": "/victim",
        "Config": {
            "Image": "local/mamori-sim-victim:x",
            "Labels": {
                "io.kubernetes.pod.name": "mamori-sim-x",
                "io.kubernetes.pod.namespace": "mamori-sim",
                SIM_LABEL: "run1",
            },
        },
        "State": {"Pid": 1},
    }
    resolver = DockerResolver(client=None)  # type: ignore[arg-type]
    resolver._digests["img"] = None
    meta = resolver._meta({**data, "Image": "img"})
    event = Event(kind=EventKind.PROCESS_EXEC, time_ns=1, container=meta.container, k8s=meta.k8s)
    assert is_simulated(event)
    assert meta.k8s is not None
    assert meta.k8s.namespace == "mamori-sim"


def test_audit_alerts_follow_the_simulation_annotation() -> None:
    detector = mamori_detector()
    now = datetime.now(UTC)
    (marked,) = fresh_events([PRIVILEGED_POD], now, run_id="run1")
    (plain,) = fresh_events([PRIVILEGED_POD], now)
    sim_alerts = detector.detect(to_event(marked))
    real_alerts = detector.detect(to_event(plain))
    assert sim_alerts
    assert real_alerts
    assert all(a.simulated for a in sim_alerts)
    assert not any(a.simulated for a in real_alerts)


class _PlainDetector:
    """Builds its alert without looking at the label (as a new detector might)."""

    def detect(self, event: Event) -> list[Alert]:
        return [
            Alert(
                id="x",
                time=datetime.fromtimestamp(1, UTC),
                rule="plain",
                severity=Severity.CRITICAL,
                source="syscall",
                output="plain",
            )
        ]


class _OneEvent:
    def __init__(self, event: Event) -> None:
        self._event = event

    def event(self, record: object) -> Event:
        return self._event


class _Sink:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def emit(self, alerts: list[Alert]) -> None:
        self.alerts.extend(alerts)


@pytest.mark.parametrize(("labels", "marked"), [({SIM_LABEL: "run1"}, True), ({}, False)])
def test_the_pipeline_marks_whatever_a_detector_builds(
    labels: dict[str, str], marked: bool
) -> None:
    sink = _Sink()
    pipeline = Pipeline([], _OneEvent(exec_event(labels)), [_PlainDetector()], [sink])  # type: ignore[arg-type]
    pipeline.process_now([ExecRecord(1, 42, "/bin/wget", "test", ProcSnapshot(42))])
    assert [a.simulated for a in sink.alerts] == [marked]
