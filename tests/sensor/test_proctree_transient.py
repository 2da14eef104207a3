"""A parent caught under runc's transient init name is read again, not cached for good."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from mamori.sensor.bpf.records import RecentExec
from mamori.sensor.enrich import _with_note
from mamori.sensor.proctree import ProcTree
from mamori.sensor.records import ProcSnapshot


def write_stat(proc: Path, pid: int, comm: str, ppid: int) -> None:
    fields = ["S", str(ppid), str(pid), str(pid), "0", "-1", *["0"] * 13, "12345", *["0"] * 30]
    (proc / str(pid)).mkdir(parents=True, exist_ok=True)
    (proc / str(pid) / "stat").write_text(f"{pid} ({comm}) " + " ".join(fields) + "\n")


@pytest.mark.parametrize(
    ("cached", "expected"),
    [
        ("runc:[2:INIT]", ("sh", "containerd-shim")),  # transient: read again
        ("nginx", ("nginx", "containerd-shim")),  # a real name stays cached
    ],
)
def test_transient_parent_names_are_reread(
    tmp_path: Path, cached: str, expected: tuple[str, ...]
) -> None:
    write_stat(tmp_path, 40, "sh", 30)
    write_stat(tmp_path, 30, "containerd-shim", 1)
    tree = ProcTree(proc=str(tmp_path))
    tree.on_exec(40, cached, 30, "c1")  # what the sensor saw before the init exec'd sh
    assert tree.ancestors(40, depth=2) == expected
    assert tree.container_of(40) == "c1"  # a re-read keeps what identity knew


def test_a_child_gone_before_its_uid_was_read_gets_its_parents(tmp_path: Path) -> None:
    """Under load a short-lived exec can exit before /proc/<pid>/status is read: exec keeps
    the real uid, so the parent's (seen at its own exec) is reported rather than nothing."""
    from mamori.sensor.enrich import Enricher
    from mamori.sensor.records import ExecRecord, ProcSnapshot

    write_stat(tmp_path, 30, "sh", 1)
    tree = ProcTree(proc=str(tmp_path))
    enricher = Enricher(tree, None, "node", "c")
    sh = ProcSnapshot(pid=30, ppid=1, comm="sh", exe="/bin/sh", args=("sh",), uid=1000)
    enricher.event(ExecRecord(1, 30, "/bin/sh", "test", sh))
    gone = ProcSnapshot(pid=31, ppid=30, comm=None, exe=None, args=())
    event = enricher.event(ExecRecord(2, 31, "/bin/echod", "test", gone))
    assert event.process is not None
    assert (event.process.uid, event.process.pname) == (1000, "sh")
    own = ProcSnapshot(pid=32, ppid=30, comm="id", exe="/bin/id", args=("id",), uid=0)
    event = enricher.event(ExecRecord(3, 32, "/bin/id", "test", own))
    assert event.process is not None
    assert event.process.uid == 0  # its own, when read


def test_kernel_argv_cut_at_512_bytes_is_completed_from_proc() -> None:
    from mamori.sensor.enrich import _fuller

    full = ("sh", "-c", "echo " + "A" * 600 + " | base64 -d | sh")
    cut = ("sh", "-c", full[2][:500])
    assert _fuller(cut, full) == full
    assert _fuller(cut, ("sh", "-c", "other")) == cut  # /proc shows another program: keep
    assert _fuller(full, ()) == full


def test_a_cut_kernel_argv_is_read_again_when_the_snapshot_shows_the_caller(
    tmp_path: Path,
) -> None:
    """php-fpm runs `sh -c '<long script>'`: the snapshot raced the exec (php-fpm's argv), the
    kernel's note is cut at 512 bytes; /proc read again has the whole command line."""
    from mamori.sensor.bpf.records import RecentExec
    from mamori.sensor.enrich import Enricher
    from mamori.sensor.records import ExecRecord, ProcSnapshot

    script = "echo " + "QUJD" * 200 + " | base64 -d | sh"
    full = ("sh", "-c", script)
    write_stat(tmp_path, 50, "sh", 49)
    (tmp_path / "50" / "cmdline").write_bytes(b"\0".join(a.encode() for a in full) + b"\0")
    enricher = Enricher(ProcTree(proc=str(tmp_path)), None, "node", "c")
    cut = "\0".join(full)[:511].split("\0")
    enricher.exec_notes = lambda pid: RecentExec(7, 49, 33, "sh", tuple(cut))
    caller = ProcSnapshot(pid=50, ppid=49, comm="php-fpm", exe="/usr/sbin/php-fpm",
                          args=("/usr/sbin/php-fpm", script), uid=33)  # fmt: skip
    event = enricher.event(ExecRecord(1, 50, "/bin/busybox", "fanotify", caller, ino=7))
    assert event.process is not None
    assert (event.process.name, event.process.args) == ("sh", ("-c", script))


def test_an_older_exec_processed_late_does_not_rename_the_process(tmp_path: Path) -> None:
    """``su -> sh -> exec php-fpm`` under load: su's raced record is held back by the pipeline
    and processed after php-fpm's. The child php-fpm starts must still see php-fpm as its
    parent (MAM-RT-034 went missing in CI when the tree took "busybox" back)."""
    from mamori.sensor.enrich import Enricher
    from mamori.sensor.records import ExecRecord, ProcSnapshot

    tree = ProcTree(proc=str(tmp_path))  # an empty /proc: every process is gone already
    enricher = Enricher(tree, None, "node", "c")
    fpm = ProcSnapshot(pid=60, ppid=59, comm="php-fpm", exe="/usr/sbin/php-fpm",
                       args=("/usr/sbin/php-fpm", "whoami"), uid=101)  # fmt: skip
    enricher.event(ExecRecord(200, 60, "/usr/sbin/php-fpm", "test", fpm))
    su = ProcSnapshot(pid=60, ppid=59, comm=None, exe=None, args=(), uid=101)
    late = enricher.event(ExecRecord(100, 60, "/bin/busybox", "test", su))
    assert late.process is not None
    assert late.process.name == "busybox"
    child = ProcSnapshot(pid=61, ppid=60, comm="sh", exe="/bin/busybox",
                         args=("sh", "-c", "whoami"), uid=101)  # fmt: skip
    event = enricher.event(ExecRecord(300, 61, "/bin/busybox", "test", child))
    assert event.process is not None
    assert event.process.pname == "php-fpm"
    # A later exec of the same pid (or a reused pid) still renames it.
    again = ProcSnapshot(pid=60, ppid=59, comm="nginx", exe="/usr/sbin/nginx",
                         args=("nginx",), uid=101)  # fmt: skip
    enricher.event(ExecRecord(400, 60, "/usr/sbin/nginx", "test", again))
    assert tree.ancestors(60, depth=1) == ("nginx",)


def test_a_connect_of_a_process_gone_before_proc_was_read_keeps_its_container(
    tmp_path: Path,
) -> None:
    """A refused or closed client exits at once: the tracefs connect source finds no
    /proc/<pid> (no cgroup, no parent). Its exec, seen earlier in a container, still names
    the container and the parent, so container rules (outbound connection) can fire."""
    from mamori.core.events import NetworkInfo
    from mamori.sensor.enrich import Enricher
    from mamori.sensor.records import ExecRecord, ProcSnapshot

    tree = ProcTree(proc=str(tmp_path))
    enricher = Enricher(tree, None, "node", "c")
    sh = ProcSnapshot(pid=70, ppid=1, comm="sh", exe="/bin/sh", args=("sh",), uid=0)
    enricher.event(ExecRecord(1, 70, "/bin/sh", "test", sh, container_id="abc123"))
    nc = ProcSnapshot(pid=71, ppid=70, comm="nc", exe="/bin/nc", args=("nc", "x", "9"), uid=0)
    enricher.event(ExecRecord(2, 71, "/bin/nc", "test", nc, container_id="abc123"))
    net = NetworkInfo(protocol="tcp", dst_ip="10.1.1.1", dst_port=9)
    gone = ProcSnapshot(pid=71, comm="nc")  # the trace line's comm, nothing from /proc
    event = enricher.event(ExecRecord(3, 71, "", "connect", gone, network=net))
    assert event.container is not None
    assert event.container.id == "abc123"
    assert event.process is not None
    assert event.process.pname == "sh"
    host = ProcSnapshot(pid=72, comm="curl")  # never seen exec'ing: stays unknown
    event = enricher.event(ExecRecord(4, 72, "", "connect", host, network=net))
    assert event.container is None


def test_a_gone_child_of_a_parent_never_seen_exec_ing_gets_the_parents_uid(
    tmp_path: Path,
) -> None:
    """``docker exec c sh -c '...; /bin/echod'``: the shell execs its last command in place, so
    the drifted process's parent is the container's shim, started after the sensor's /proc
    scan and never seen exec'ing. Its uid is read with its name."""
    from mamori.sensor.enrich import Enricher
    from mamori.sensor.records import ExecRecord, ProcSnapshot

    write_stat(tmp_path, 80, "containerd-shim", 1)
    (tmp_path / "80" / "status").write_text("Name:\tcontainerd-shim\nUid:\t0\t0\t0\t0\n")
    enricher = Enricher(ProcTree(proc=str(tmp_path)), None, "node", "c")
    gone = ProcSnapshot(pid=81, ppid=80, comm=None, exe=None, args=())
    event = enricher.event(ExecRecord(1, 81, "/bin/echod", "test", gone))
    assert event.process is not None
    assert (event.process.uid, event.process.pname) == (0, "containerd-shim")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("true", "true"),  # read again: the kernel has renamed it by now
        (None, "true"),  # gone: the file's name, which argv[0] names too
        ("sh", "sh"),  # read again, still the caller's name: nothing better is known
    ],
)
def test_a_snapshot_read_across_an_exec_takes_the_new_programs_name(
    tmp_path: Path, now: str | None, expected: str
) -> None:
    """The snapshot reads the name before exe and argv: an exec completing in between left
    ``proc.name=sh`` beside ``/bin/true`` (a CI failure on a busy machine)."""
    from mamori.sensor.enrich import Enricher
    from mamori.sensor.records import ExecRecord, ProcSnapshot

    pid = 92
    if now is not None:
        write_stat(tmp_path, pid, now, 89)
    enricher = Enricher(ProcTree(proc=str(tmp_path)), None, "node", "c")
    torn = ProcSnapshot(pid=pid, ppid=89, comm="sh", exe="/bin/true", args=("true",))
    event = enricher.event(ExecRecord(1, pid, "/bin/true", "fanotify", torn))
    assert event.process is not None
    assert (event.process.name, event.process.exepath) == (expected, "/bin/true")


def test_a_script_keeps_the_name_the_kernel_gave_its_interpreter(tmp_path: Path) -> None:
    """``/app/run.sh`` run by ``/bin/sh``: the interpreter's process is named ``run.sh``."""
    from mamori.sensor.enrich import Enricher
    from mamori.sensor.records import ExecRecord, ProcSnapshot

    write_stat(tmp_path, 93, "run.sh", 89)
    enricher = Enricher(ProcTree(proc=str(tmp_path)), None, "node", "c")
    snap = ProcSnapshot(pid=93, ppid=89, comm="run.sh", exe="/bin/busybox",
                        args=("/bin/sh", "/app/run.sh"))  # fmt: skip
    event = enricher.event(ExecRecord(1, 93, "/bin/busybox", "fanotify", snap))
    assert event.process is not None
    assert event.process.name == "run.sh"


def test_a_gone_pid_is_not_read_again_at_every_lookup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every exec under a `docker exec` shell walked to the shell's parent (runc, exited) and
    failed the same /proc read again: a gone pid is remembered for a while, and forgotten when
    it execs (a reused pid) or the while is over."""
    import mamori.sensor.proctree as proctree

    write_stat(tmp_path, 40, "sh", 30)  # 30 (runc exec) is gone
    tree = ProcTree(proc=str(tmp_path))
    reads: list[str] = []
    real = proctree.read_file
    monkeypatch.setattr(proctree, "read_file", lambda p, n=65536: reads.append(p) or real(p, n))
    assert tree.ancestors(40) == ("sh",)
    assert tree.ancestors(40) == ("sh",)
    assert reads.count(f"{tmp_path}/30/stat") == 1
    write_stat(tmp_path, 30, "containerd-shim", 1)  # the pid reused
    assert tree.ancestors(40) == ("sh",)  # within the while: still taken as gone
    monkeypatch.setattr(proctree, "GONE_S", 0.0)
    assert tree.ancestors(40) == ("sh", "containerd-shim")
    tree2 = ProcTree(proc=str(tmp_path / "none"))
    assert tree2.get(31) is None
    tree2.on_exec(31, "nginx", 1, None)  # an exec names a pid known gone
    named = tree2.get(31)
    assert named is not None
    assert named.name == "nginx"


def test_the_kernel_note_completes_a_snapshot_of_a_gone_process(tmp_path: Path) -> None:
    """A detect-mode reader that gathers events reads /proc after a short-lived exec exited:
    terminal, loginuid, pid in the container and start time come from the kernel's note, and
    the pipeline takes the record as it is (no /proc read to wait for)."""
    from mamori.sensor.bpf.records import RecentExec
    from mamori.sensor.enrich import Enricher
    from mamori.sensor.pipeline import Pipeline
    from mamori.sensor.records import ExecRecord, ProcSnapshot
    from mamori.sensor.stats import SensorStats

    enricher = Enricher(ProcTree(proc=str(tmp_path)), None, "node", "c")
    note = RecentExec(7, 49, 0, "sh", ("sh", "-c", "id"), tty=34816, loginuid=1000, vpid=5,
                      start_ns=3 * 10**9)  # fmt: skip
    enricher.exec_notes = lambda pid: note if pid == 50 else None
    states: list[ExecRecord] = []
    enricher.exec_state = lambda r: states.append(r) or "running"  # type: ignore[method-assign]
    pipeline = Pipeline([], enricher, [], [], SensorStats())
    rec = ExecRecord(time.time_ns(), 50, "/bin/busybox", "fanotify", ProcSnapshot(pid=50), ino=7)
    assert pipeline._ready([rec], final=False) == [rec]
    assert states == []  # ready on the note alone
    event = enricher.event(rec)
    p = event.process
    assert p is not None
    assert (p.name, p.args, p.tty, p.loginuid, p.vpid) == ("sh", ("-c", "id"), 34816, 1000, 5)
    raced = ProcSnapshot(pid=50, ppid=49, comm="runc:[2:INIT]", tty=0, uid=0)
    rec = ExecRecord(1, 50, "/bin/busybox", "fanotify", raced, ino=7)
    assert enricher.event(rec).process.tty == 34816  # type: ignore[union-attr]  # note wins


def test_with_note_keeps_every_other_snapshot_field() -> None:
    # _with_note builds the snapshot field by field (no replace()): a field added to
    # ProcSnapshot and not passed on would silently go back to its default.
    values: dict[str, object] = {
        "pid": 7, "ppid": 1, "comm": "sh", "exe": "/bin/sh", "args": ("sh",), "cwd": "/w",
        "uid": 5, "loginuid": 6, "tty": 34816, "cgroup": "0::/x", "start_ticks": 9, "vpid": 3,
    }  # fmt: skip
    assert set(values) == {f.name for f in dataclasses.fields(ProcSnapshot)}
    snap = ProcSnapshot(**values)  # type: ignore[arg-type]
    note = RecentExec(1, 2, 0, "sh", ("sh",), tty=4, loginuid=-1, vpid=8, start_ns=10**9)
    got = _with_note(snap, note)
    # the note's ppid and terminal win; what the snapshot knows stays
    assert got == dataclasses.replace(snap, ppid=2, tty=4)
    bare = _with_note(ProcSnapshot(7), note)
    assert (bare.ppid, bare.uid, bare.loginuid, bare.tty, bare.vpid) == (2, 0, -1, 4, 8)
    assert bare.start_ticks == note.start_ticks
