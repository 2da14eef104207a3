"""Reading /proc/<pid> on the exec path: the light read beside the kernel's note, and the
values every source must agree on."""

from __future__ import annotations

from pathlib import Path


def test_a_gathering_reader_reads_only_what_the_note_lacks(tmp_path: Path) -> None:
    from mamori.sensor.sources.procfs import note_snapshot

    (tmp_path / "5").mkdir()
    (tmp_path / "5" / "cwd").symlink_to("/srv/app")
    (tmp_path / "5" / "cgroup").write_text("0::/x\n")
    (tmp_path / "5" / "stat").write_text("5 (sh) S 1 5 5 0 -1\n")
    snap = note_snapshot(5, str(tmp_path), cgroup=False, parts=frozenset({"cwd"}))
    assert (snap.cwd, snap.cgroup, snap.comm, snap.ppid) == ("/srv/app", None, None, None)
    snap = note_snapshot(5, str(tmp_path), cgroup=True, parts=frozenset())
    assert (snap.cwd, snap.cgroup) == (None, "0::/x\n")
    assert note_snapshot(6, str(tmp_path)).cwd is None  # gone


def test_an_unset_loginuid_is_minus_one_from_proc_as_from_the_kernel(tmp_path: Path) -> None:
    """Falco shows an unset audit login uid as -1; /proc shows 4294967295 and the eBPF records
    (u32)-1. Every source gives -1 now (it was 4294967295 from /proc, none from eBPF)."""
    from mamori.sensor.sources.procfs import read_snapshot

    for pid, text in ((5, "4294967295"), (6, "1000")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (sh) S 1 5 5 0 -1 " + "0 " * 40)
        (tmp_path / str(pid) / "loginuid").write_text(text)
    assert read_snapshot(5, str(tmp_path)).loginuid == -1
    assert read_snapshot(6, str(tmp_path)).loginuid == 1000
