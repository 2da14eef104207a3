"""A parent caught under runc's transient init name is read again, not cached for good."""

from __future__ import annotations

from pathlib import Path

import pytest

from mamori.sensor.proctree import ProcTree


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
