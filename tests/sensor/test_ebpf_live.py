"""Acceptance for the eBPF observer: built from source here, loaded with libbpf, real containers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from mamori.core.events import Event, EventKind
from mamori.sensor.bpf.build import BpfBuildError, build, cache_key
from mamori.sensor.runtime import Sensor, SensorOptions
from mamori.sensor.sources.procfs import parse_stat
from tests.conftest import unavailable
from tests.sensor.conftest import K8S_LABELS, Containers, docker, exec_with_tty

pytestmark = [pytest.mark.docker, pytest.mark.root, pytest.mark.slow]
LOOP = "for i in $(seq 2000); do /bin/true; done"
TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


class Events:
    """An event sink: every enriched event (``Sensor(event_sinks=...)``)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def record(self, events: Sequence[Event]) -> None:
        self.events.extend(events)

    def of(self, kind: EventKind, cid: str) -> list[Event]:
        return [
            e
            for e in self.events
            if e.kind is kind and e.container is not None and e.container.id == cid
        ]


@pytest.fixture(scope="module")
def bpf_object(root: None) -> Path:
    """Built from source for this kernel (the first run compiles; later ones hit the cache)."""
    try:
        first = build()
    except BpfBuildError as exc:
        unavailable(f"cannot build the eBPF observer: {exc}")
    again = build()
    assert again.cached
    assert again.path == first.path
    assert cache_key() in first.path.name
    return first.path


@pytest.fixture
def ebpf_sensor(bpf_object: Path, containers: Containers) -> Iterator[tuple[Sensor, Events]]:
    events = Events()
    options = SensorOptions(sources=("ebpf",), cluster="test-cluster")
    sensor = Sensor(options, [], [], event_sinks=[events])
    sensor.start()
    try:
        yield sensor, events
    finally:
        sensor.stop()


def _settle(sensor: Sensor, done: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)
    time.sleep(0.3)
    sensor.wait_idle()


def test_ebpf_2000_execs_with_identity(
    ebpf_sensor: tuple[Sensor, Events], containers: Containers
) -> None:
    sensor, events = ebpf_sensor
    cid = containers.run("sh", "-c", f"{LOOP}; sleep 1", labels=K8S_LABELS, detach=True)

    def trues() -> list[Event]:
        return [
            e
            for e in events.of(EventKind.PROCESS_EXEC, cid)
            if e.process is not None and e.process.exepath == "/bin/true"
        ]

    _settle(sensor, lambda: len(trues()) >= 2000)
    # Host processes, once a v2 cgroup named a container (the v2 id is then authoritative and
    # host cgroups are in the kernel's skip map): never reported.
    for _ in range(5):
        subprocess.run(["/bin/true"], check=True)
    time.sleep(0.5)
    sensor.wait_idle()
    got = trues()
    assert len(got) == 2000
    one = got[-1]
    assert one.process is not None
    assert one.container is not None
    assert one.process.name == "true"
    assert one.process.pname == "sh"  # ppid from the event, the parent from the process tree
    # ... for every exec: no /proc race (fanotify alone loses some, test_sources_live)
    assert {e.process.pname for e in got if e.process} == {"sh"}
    assert one.process.uid == 0
    assert one.process.exe_ino
    assert one.k8s is not None
    assert one.k8s.pod_name == "web-0"
    assert one.extra["mamori.sensor.source"] == "ebpf"
    host_trues = [
        e
        for e in events.events
        if e.container is None and e.process is not None and e.process.exepath == "/bin/true"
    ]
    assert host_trues == []
    status = sensor.status()
    assert status["sources"]["ebpf"]["active"]
    assert status["ebpf"]["drops"] == 0
    assert status["stats"]["errors"] == 0
    assert status["stats"]["dropped_queue"] == 0


def test_ebpf_exec_carries_tty_vpid_and_start_as_proc_says(
    ebpf_sensor: tuple[Sensor, Events], containers: Containers
) -> None:
    """tty, the namespace pid and the start time come with the kernel's record, not from a
    /proc read: equal to what /proc says while the process lives, and present for one that
    exits at once."""
    sensor, events = ebpf_sensor
    cid = containers.run("sh", "-c", "exec sleep 30", detach=True)
    assert exec_with_tty(cid, "sh", "-c", "exec /bin/true") == 0
    _settle(sensor, lambda: len(events.of(EventKind.PROCESS_EXEC, cid)) >= 2, timeout=15)
    # busybox's shell runs an applet (sleep) through /proc/self/exe: found by name
    got = {e.process.name: e for e in events.of(EventKind.PROCESS_EXEC, cid) if e.process}
    sleep = got["sleep"].process
    assert sleep is not None
    pid = int(docker("inspect", "-f", "{{.State.Pid}}", cid))
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    _, _, tty_nr, start_ticks = parse_stat(stat)  # type: ignore[misc]
    assert sleep.pid == pid
    assert sleep.vpid == 1  # the container's init
    assert sleep.tty == tty_nr == 0
    assert sleep.start_ns is not None  # from the kernel's start time, as /proc counts it
    ticks = os.sysconf("SC_CLK_TCK")
    boot_ns = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    assert abs(sleep.start_ns - (boot_ns + start_ticks * 1_000_000_000 // ticks)) < 5_000_000
    assert abs(sleep.start_ns - time.time_ns()) < 60 * 1_000_000_000
    true = got["true"].process
    assert true is not None
    assert true.tty is not None
    assert true.tty >> 8 == 136  # a pseudo-terminal (/dev/pts/N), though true exited at once
    assert true.vpid is not None
    assert true.vpid > 1


def test_ebpf_failed_connect_from_network_none(
    ebpf_sensor: tuple[Sensor, Events], containers: Containers
) -> None:
    sensor, events = ebpf_sensor
    cid = containers.run("sh", "-c", "nc -w 1 169.254.169.254 80 </dev/null; sleep 1", detach=True)
    _settle(sensor, lambda: events.of(EventKind.NETWORK_CONNECT, cid), timeout=15)
    got = events.of(EventKind.NETWORK_CONNECT, cid)
    assert len(got) == 1
    e = got[0]
    assert e.network is not None
    assert (e.network.dst_ip, e.network.dst_port, e.network.protocol) == (
        "169.254.169.254",
        80,
        "tcp",
    )
    assert e.result == "ENETUNREACH"  # --network none: no route, the attempt still counts
    assert e.syscall == "connect"
    assert e.process is not None
    assert e.process.name == "nc"


def test_ebpf_watched_opens_only(
    ebpf_sensor: tuple[Sensor, Events], containers: Containers
) -> None:
    sensor, events = ebpf_sensor
    script = (
        f"mkdir -p {TOKEN.rsplit('/', 1)[0]} && echo secret > {TOKEN} && "
        f"cat {TOKEN} >/dev/null && touch /etc/ld.so.preload && cat /etc/passwd >/dev/null && "
        "cd /etc && cat ld.so.preload && touch /tmp/ld.so.preload; sleep 1"
    )
    cid = containers.run("sh", "-c", script, detach=True)
    _settle(sensor, lambda: len(events.of(EventKind.FILE_OPEN, cid)) >= 4, timeout=15)
    opens = [
        (e.file.path, e.process.name if e.process else None, e.file.flags)
        for e in events.of(EventKind.FILE_OPEN, cid)
        if e.file is not None
    ]
    paths = [p for p, _, _ in opens]
    # The relative open is resolved against /proc/<pid>/cwd when cat is still there to read.
    assert paths[:3] == [TOKEN, TOKEN, "/etc/ld.so.preload"], opens
    assert paths[3:] in (["/etc/ld.so.preload"], ["ld.so.preload"]), opens
    write, read, touch, relative = opens
    assert "O_CREAT" in write[2]
    assert "O_WRONLY" in write[2]
    assert read[1] == "cat"
    assert "O_RDONLY" in read[2]
    assert touch[1] == "touch"
    assert "O_CREAT" in touch[2]
    assert relative[1] == "cat"  # "cat ld.so.preload" in /etc, resolved against the cwd
    # /etc/passwd and /tmp/ld.so.preload are not watched: filtered in the kernel / by path.
    assert all(e.syscall == "openat" for e in events.of(EventKind.FILE_OPEN, cid))


def test_fanotify_execs_gone_before_proc_get_name_and_argv_from_the_kernel(
    bpf_object: Path, containers: Containers
) -> None:
    """fanotify + eBPF (auto): each exec is one fanotify event; a short-lived busybox applet
    that exits before its /proc could be read still gets its name and argv (the kernel's
    note of the exec), not the file's name ``busybox`` and no arguments."""
    events = Events()
    sensor = Sensor(
        SensorOptions(sources=("fanotify", "ebpf"), cluster="c"), [], [], event_sinks=[events]
    )
    sensor.start()
    try:
        script = "for i in $(seq 200); do grep -q AWS_SECRET_MARKER /dev/null; done; true"
        cid = containers.run("sleep", "600", detach=True)
        subprocess.run(["docker", "exec", cid, "sh", "-c", script], check=True, timeout=120)

        def execs() -> list[Event]:
            return events.of(EventKind.PROCESS_EXEC, cid)

        _settle(sensor, lambda: len(execs()) >= 202)  # sh, seq, 200 x grep
        status = sensor.status()
    finally:
        sensor.stop()
    found = execs()
    greps = [
        e
        for e in found
        if e.process is not None
        and e.process.name == "grep"
        and e.process.args == ("-q", "AWS_SECRET_MARKER", "/dev/null")
    ]
    print("completed:", status["exec_completed"])
    names = {e.process.name for e in found if e.process is not None}
    others = [(e.process.name, e.process.args) for e in found if e.process and e not in greps]
    assert len(greps) == 200, (status["exec_completed"], others)
    assert not names & {"exe", "busybox"}, names  # every applet under its own name


def test_observer_mounts_tracefs_when_the_boot_left_none(bpf_object: Path) -> None:
    """A fresh boot may mount no tracefs; libbpf reads each tracepoint's id from it. In a
    private mount namespace with tracefs unmounted, the observer still attaches every program."""
    script = (
        "import ctypes, os, sys\n"
        "from pathlib import Path\n"
        "libc = ctypes.CDLL('libc.so.6', use_errno=True)\n"
        "for root in ('/sys/kernel/debug/tracing', '/sys/kernel/tracing'):\n"
        "    while libc.umount2(root.encode(), 0) == 0: pass\n"
        "assert not os.path.exists('/sys/kernel/tracing/events'), 'still mounted'\n"
        "from mamori.sensor.bpf.loader import BpfObserver\n"
        "o = BpfObserver(Path(sys.argv[1]), [], [])\n"
        "print(','.join(o.attached), ','.join(o.missing) or '-')\n"
        "o.close()\n"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    out = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", script,
         str(bpf_object)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": src},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    attached, missing = out.stdout.strip().split(" ")
    assert "mamori_exec" in attached.split(",")
    assert missing == "-"
