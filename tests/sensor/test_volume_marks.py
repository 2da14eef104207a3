"""Volume marks: a container's exec-capable directory mounts are marked at its first rootfs
exec, read from that process's mountinfo; a process gone before the read is asked again with
the container's next exec (a detect-mode reader that gathers events reads late)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from mamori.sensor.drift import volume_dirs
from mamori.sensor.sources.fanotify import FanotifySource

MOUNTINFO = (
    "600 500 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n"
    "601 600 8:1 /srv/data /data rw,relatime - ext4 /dev/sda1 rw\n"
    "602 600 8:1 /srv/cfg /cfg ro,noexec - ext4 /dev/sda1 rw\n"
    "603 600 0:5 / /proc rw,nosuid - proc proc rw\n"
)


def _process(proc: Path, pid: int) -> None:
    (proc / str(pid) / "root" / "data").mkdir(parents=True)
    (proc / str(pid) / "mountinfo").write_text(MOUNTINFO)


def test_volume_dirs_of_a_live_and_a_gone_process(tmp_path: Path) -> None:
    _process(tmp_path, 7)
    assert volume_dirs(7, str(tmp_path)) == [f"{tmp_path}/7/root/data"]
    assert volume_dirs(8, str(tmp_path)) is None  # gone: not "no volumes"


class _Group:
    def __init__(self) -> None:
        self.marked: list[str] = []

    def mark_mount(self, dirfd: int) -> None:
        self.marked.append(os.readlink(f"/proc/self/fd/{dirfd}"))


def test_a_gone_first_exec_leaves_the_volumes_to_the_next_exec(tmp_path: Path) -> None:
    drift: Any = SimpleNamespace(volumes_marked=set(), volume_marks=0)
    source = FanotifySource(proc=str(tmp_path), drift=drift)
    group = _Group()
    source.group = group  # type: ignore[assignment]
    source._mark_volumes(99, 7)  # pid 7 already exited
    assert drift.volumes_marked == set()
    assert group.marked == []
    _process(tmp_path, 8)
    source._mark_volumes(99, 8)  # the container's next exec
    assert drift.volumes_marked == {99}
    assert group.marked == [f"{tmp_path}/8/root/data"]
    assert drift.volume_marks == 1


CID = "ab" * 32


def test_a_volume_exec_read_late_is_named_by_the_kernels_note() -> None:
    """A volume exec (not on a marked rootfs) is named by its cgroup; when the process was
    gone before /proc/<pid>/cgroup was read, by the cgroup id in the kernel's note of the exec
    (the same inode only: a later exec of the pid is not this one)."""
    from mamori.sensor.bpf.records import RecentExec
    from mamori.sensor.records import ProcSnapshot
    from mamori.sensor.sources.ebpf import EbpfSource

    ebpf: Any = EbpfSource()
    ebpf.recent_exec = lambda pid: RecentExec(7, 1, 0, "x", (), cgroup_id=55) if pid == 9 else None
    ebpf.cgroup_v2 = True
    ebpf.cgroups = SimpleNamespace(lookup=lambda cg: (True, CID) if cg == 55 else (False, None))
    assert ebpf.note_container(9, 7) == CID
    assert ebpf.note_container(9, 8) is None  # another inode: not this exec
    assert ebpf.note_container(10, 7) is None  # no note

    source = FanotifySource()
    cgroup = f"0::/system.slice/docker-{'cd' * 32}.scope\n"
    assert source._volume_container(ProcSnapshot(9, cgroup=cgroup), 9, 7) == "cd" * 32
    assert source._volume_container(ProcSnapshot(9), 9, 7) is None  # gone, no observer
    source.note_container = ebpf.note_container
    assert source._volume_container(ProcSnapshot(9), 9, 7) == CID
