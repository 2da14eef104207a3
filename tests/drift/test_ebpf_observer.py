"""Observer-only drift (design 1.1): memfd and direct-loader execs, seen by the eBPF observer
next to fanotify, judged by the policy and alerted (never blocked: ``observer_only``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mamori.drift.policy import default_policy_text
from mamori.sensor.bpf.build import BpfBuildError, build
from tests.conftest import unavailable
from tests.drift.conftest import Box, Running
from tests.sensor.conftest import docker

pytestmark = [pytest.mark.docker, pytest.mark.root]
LOADER = Path("/lib64/ld-linux-x86-64.so.2")
# The launcher and the copied loader are drift themselves (docker cp): allowed by path.
POLICY = """\
rules:
  - name: test-tools
    action: block
    allow_processes: [{path: /drifttool}, {path: /tmp/ld-linux-x86-64.so.2}]
default_rule: {action: block}
"""


@pytest.fixture(scope="module")
def bpf_object(root: None) -> Path:
    try:
        return build().path
    except BpfBuildError as exc:
        unavailable(f"cannot build the eBPF observer: {exc}")


@pytest.fixture
def observed(drift_sensor: Any, tmp_path: Path, bpf_object: Path) -> Any:
    """fanotify (block) + the eBPF observer, as ``auto`` runs them."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY or default_policy_text("block"))

    def make() -> Any:
        return drift_sensor(policy, mode="block", sources=("fanotify", "ebpf"))

    return make


def _observer_alerts(run: Running, verdict: str) -> list[Any]:
    return [a for a in run.drift_alerts() if a.fields["drift.verdict"] == verdict]


def test_memfd_exec_is_drift_memfd(observed: Any, box: Box, drifttool: Path) -> None:
    with observed() as run:
        cid = box.start()
        docker("cp", str(drifttool), f"{cid}:/drifttool")
        assert box.sh(cid, "/drifttool memfd /bin/true && echo ran") == (0, "ran\n")
        run.settle(lambda: bool(_observer_alerts(run, "drift-memfd")))
        assert run.sensor.status()["sources"]["ebpf"]["active"]
        (alert,) = _observer_alerts(run, "drift-memfd")
        f = alert.fields
        assert f["container.full_id"] == cid
        assert f["proc.exepath"] == "/memfd:payload"
        assert f["drift.action_taken"] == "alerted"  # a block policy cannot stop it
        assert f["drift.block_unavailable_reason"] == "observer_only"
        assert alert.mitre is not None
        assert alert.mitre.technique == "T1620"
        memfd = [
            e
            for e in run.events.events
            if e.process is not None and e.process.exe_flags.get("from_memfd")
        ]
        assert len(memfd) == 1  # one event for the exec (fanotify never sees it)
        assert memfd[0].extra["mamori.sensor.source"] == "ebpf"
        # Under fanotify the kernel passes only memfd/loader execs to the observer's reader.
        assert run.sensor.status()["ebpf"]["exec"] == 1


def test_direct_loader_exec_is_drift_loader(observed: Any, box: Box) -> None:
    if not LOADER.exists():
        pytest.skip("no x86-64 glibc loader on this host")
    with observed() as run:
        cid = box.start()
        docker("cp", str(LOADER.resolve()), f"{cid}:/tmp/ld-linux-x86-64.so.2")
        # busybox is static: ld.so refuses to run it, but the exec with a target happened.
        box.sh(cid, "/tmp/ld-linux-x86-64.so.2 /bin/true; /tmp/ld-linux-x86-64.so.2 --help")
        run.settle(lambda: bool(_observer_alerts(run, "drift-loader")))
        (alert,) = _observer_alerts(run, "drift-loader")  # --help runs no program
        f = alert.fields
        assert f["container.full_id"] == cid
        assert f["proc.exepath"] == "/bin/true"
        assert f["drift.block_unavailable_reason"] == "observer_only"
        loader_execs = [
            e
            for e in run.events.events
            if e.process is not None
            and e.process.exepath == "/tmp/ld-linux-x86-64.so.2"
            and not e.extra.get("mamori.sensor.decision_only")
        ]
        assert len(loader_execs) == 2  # fanotify's events; the observer's copy is decision-only


def _true_events(run: Running, cid: str) -> list[Any]:
    return [
        e
        for e in run.events.events
        if e.process is not None
        and e.process.exepath == "/bin/true"
        and e.container is not None
        and e.container.id == cid
    ]


def test_block_mode_answers_an_image_exec_before_reading_proc(observed: Any, box: Box) -> None:
    """With the observer's exec notes, an allowed image exec is answered before any /proc read;
    the event still has the process's facts (from the note, read after the exec completed)."""
    with observed() as run:
        cid = box.start()
        assert box.sh(cid, "/bin/true one two && echo ok") == (0, "ok\n")
        run.settle(lambda: bool(_true_events(run, cid)))
        fan = run.sensor.probe.fanotify()
        assert fan is not None
        assert fan.note_container is not None
        assert fan.gather_s == 0  # block mode: every permission event is read at once
        (event,) = _true_events(run, cid)
        p = event.process
        assert (p.name, p.args) == ("true", ("one", "two"))
        assert p.ppid
        assert p.vpid
        assert p.uid == 0
        assert event.extra["mamori.drift.verdict"] == "image"
        state = run.sensor.drift_status()
        assert state is not None
        assert state["answer_p50_us"] is not None


def test_detect_mode_gathers_and_takes_facts_from_the_note(
    drift_sensor: Any, tmp_path: Path, bpf_object: Path, box: Box
) -> None:
    """Detect mode with the observer: the fanotify reader gathers events (reads them after the
    short-lived exec exited) and the event's facts come from the kernel's note."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(default_policy_text("alert"))
    with drift_sensor(policy, mode="detect", sources=("fanotify", "ebpf")) as run:
        cid = box.start()
        assert box.sh(cid, "/bin/true a && echo ok") == (0, "ok\n")
        run.settle(lambda: bool(_true_events(run, cid)))
        fan = run.sensor.probe.fanotify()
        assert fan is not None
        assert fan.gather_s > 0
        (event,) = _true_events(run, cid)
        p = event.process
        assert (p.name, p.args, p.uid) == ("true", ("a",), 0)
        assert p.ppid
        assert p.vpid
        assert p.tty == 0
        assert run.sensor.status()["exec_completed"]["kernel_notes"] >= 1
