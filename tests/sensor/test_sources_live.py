"""Acceptance: real containers, real fanotify / tracefs, the whole in-process pipeline."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Iterable, Iterator

import pytest

from mamori.core.findings import Alert
from mamori.sensor.detectors import ExecLog
from mamori.sensor.mounts import MountWatcher
from mamori.sensor.records import ExecRecord
from mamori.sensor.runtime import Sensor, SensorOptions
from mamori.sensor.sources.fanotify import FanotifySource
from tests.sensor.conftest import K8S_LABELS, Containers

pytestmark = [pytest.mark.docker, pytest.mark.root, pytest.mark.slow]
LOOP = "for i in $(seq 2000); do /bin/true; done"


class Collect:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def emit(self, alerts: Iterable[Alert]) -> None:
        self.alerts.extend(alerts)


def _sensor(source: str, sink: Collect) -> Iterator[Sensor]:
    options = SensorOptions(sources=(source,), cluster="test-cluster")
    sensor = Sensor(options, [ExecLog(containers_only=False)], [sink])
    sensor.start()
    try:
        yield sensor
    finally:
        sensor.stop()


def _settle(sensor: Sensor, sink: Collect, want: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(sink.alerts) < want and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    sensor.wait_idle()


@pytest.fixture
def collect() -> Collect:
    return Collect()


@pytest.fixture
def fanotify_sensor(collect: Collect, containers: Containers) -> Iterator[Sensor]:
    yield from _sensor("fanotify", collect)


@pytest.fixture
def tracefs_sensor(collect: Collect, containers: Containers) -> Iterator[Sensor]:
    yield from _sensor("tracefs", collect)


def _true_execs(alerts: list[Alert], cid: str) -> list[Alert]:
    return [
        a
        for a in alerts
        if a.fields.get("container.full_id") == cid and a.fields["proc.exepath"] == "/bin/true"
    ]


def test_fanotify_2000_execs_with_identity(
    fanotify_sensor: Sensor, collect: Collect, containers: Containers
) -> None:
    cid = containers.run("sh", "-c", f"{LOOP}; sleep 1", labels=K8S_LABELS, detach=True)
    _settle(fanotify_sensor, collect, 2001)
    got = _true_execs(collect.alerts, cid)
    assert len(got) == 2000
    assert len({a.id for a in got}) == 2000
    one = got[-1].fields
    assert one["container.image"] == containers.image
    assert (one["k8s.pod.name"], one["k8s.ns.name"], one["k8s.container.name"]) == (
        "web-0",
        "shop",
        "app",
    )
    assert one["proc.name"] == "true"
    pnames = collections.Counter(a.fields["proc.pname"] for a in got)
    print("pname", pnames)
    # Detect mode: the /proc read races the exec'ing process (design 3.3: 4-18 % lost, more on
    # a loaded 2-vCPU machine: 9-61 % in ten runs here on 2026-11-23, old and new code alike);
    # then pname is None. Identity above never races (device map). fanotify alone only: with
    # the eBPF observer's notes every exec has its parent (test_ebpf_live).
    assert pnames["sh"] >= 500
    assert set(pnames) <= {"sh", None}
    assert got[-1].cluster == "test-cluster"
    assert got[-1].namespace == "shop"
    status = fanotify_sensor.status()
    assert status["sources"]["fanotify"]["active"]
    assert status["stats"]["errors"] == 0
    assert status["stats"]["dropped_queue"] == 0


def test_fanotify_sees_first_exec_of_short_container(
    fanotify_sensor: Sensor, collect: Collect, containers: Containers
) -> None:
    for _ in range(3):
        containers.run("true", rm=True)
    _settle(fanotify_sensor, collect, 3)
    firsts = [a for a in collect.alerts if a.fields["proc.exepath"] == "/bin/true"]
    assert len(firsts) == 3
    assert len({a.fields["container.full_id"] for a in firsts}) == 3


def test_fanotify_marks_containers_started_before_the_sensor(
    collect: Collect, containers: Containers
) -> None:
    cid = containers.run("sh", "-c", "sleep 2; /bin/true; sleep 30", detach=True)
    for sensor in _sensor("fanotify", collect):
        _settle(sensor, collect, 1, timeout=10)
    assert len(_true_execs(collect.alerts, cid)) == 1


def test_tracefs_2000_execs(
    tracefs_sensor: Sensor, collect: Collect, containers: Containers
) -> None:
    cid = containers.run("sh", "-c", f"{LOOP}; sleep 1", labels=K8S_LABELS, detach=True)
    _settle(tracefs_sensor, collect, 2001)
    # tracefs has no cgroup: identity comes from /proc, else the parent's (the process tree);
    # when both reads lose the race the exec is still reported, without a container.
    execs = [a for a in collect.alerts if a.fields["proc.exepath"] == "/bin/true"]
    assert len(execs) == 2000
    owners = collections.Counter(a.fields.get("container.full_id") for a in execs)
    assert set(owners) <= {cid, None}
    assert owners[cid] >= 500  # the /proc race, as above (865-1,809 of 2,000 seen here)
    print("tracefs identity", owners)


class DenyTmp:
    """A decider for the permission path: deny anything exec'd from /tmp."""

    def decide(self, record: ExecRecord, event_fd: int) -> bool:
        return not record.path.startswith("/tmp/")


def test_permission_events_apply_the_decider(containers: Containers) -> None:
    source = FanotifySource("block", DenyTmp())
    source.open()
    watcher = MountWatcher([source.attach], [source.detach])
    watcher.start()
    seen: list[ExecRecord] = []
    reader = threading.Thread(target=lambda: seen.extend(source.records()), daemon=True)
    reader.start()
    try:
        out = containers.run(
            "sh",
            "-c",
            "cp /bin/busybox /tmp/true; /tmp/true; echo rc=$?; /bin/true; echo rc=$?",
            timeout=60,
        )
    finally:
        source.close()
        watcher.close()
        reader.join(10)
    assert out.split() == ["rc=126", "rc=0"]  # EPERM: the shell prints rc 126
    assert "/tmp/true" in [r.path for r in seen]
    assert source.decide_errors == 0
