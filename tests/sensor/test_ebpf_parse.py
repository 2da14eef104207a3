"""The eBPF observer's record layouts and userspace logic, without root or a kernel program."""

from __future__ import annotations

import os
import re
import socket
import struct
from pathlib import Path

import pytest

from mamori.sensor.bpf import build as bpf_build
from mamori.sensor.bpf import records as ebpf
from mamori.sensor.bpf.records import (
    CONNECT_FMT,
    EXEC_FMT,
    OPEN_FMT,
    ConnectEvent,
    ExecEvent,
    OpenEvent,
    open_flag_names,
    parse_event,
)
from mamori.sensor.identity import cgroup2
from mamori.sensor.identity.cgroup2 import CgroupIds
from mamori.sensor.sources.ebpf import WATCHED_NAMES, WATCHED_PATHS

SOURCE = Path(bpf_build.__file__).with_name("observer.bpf.c").read_text()
CID = "ab" * 32


def _hdr(kind: int, tgid: int = 42, uid: int = 1000, cg: int = 77, comm: bytes = b"sh") -> tuple:
    return (kind, tgid, uid, 0, cg, comm)


def test_sizes_match_the_c_layouts() -> None:
    """The C source states each struct's size in a comment; the formats must agree."""
    stated = dict(re.findall(r"struct (\w+) \{[^}]*\}; /\* (\d+) bytes \*/", SOURCE))
    assert int(stated["exec_ev"]) == struct.calcsize(EXEC_FMT) == 888
    assert int(stated["connect_ev"]) == struct.calcsize(CONNECT_FMT) == 72
    assert int(stated["open_ev"]) == struct.calcsize(OPEN_FMT) == 312
    assert int(stated["hdr"]) == struct.calcsize(ebpf.HDR) == 40
    assert int(stated["recent_exec"]) == ebpf.RECENT_SIZE == 576


def test_parse_exec() -> None:
    args = b"ld-linux-x86-64.so.2\0./payload\0x\0"
    raw = struct.pack(
        EXEC_FMT,
        *_hdr(1, comm=b"ld-linux-x86-64"),
        7,
        1001,
        1234,
        (8 << 20) | 3,
        ebpf.FLAG_LOGINUID | ebpf.FLAG_DELETED,
        len(b"/lib64/ld-linux-x86-64.so.2"),
        len(args),
        0,
        (136 << 8) | 3,  # /dev/pts/3, as stat's tty_nr
        12,
        5_000_000_000 + 12_345,
        b"ld-linux-x86-64.so.2",
        b"/lib64/ld-linux-x86-64.so.2\0garbage",
        args + b"ENV=leak",
    )
    e = parse_event(raw)
    assert isinstance(e, ExecEvent)
    assert (e.hdr.tgid, e.hdr.uid, e.hdr.cgroup_id, e.hdr.comm) == (42, 1000, 77, "ld-linux-x86-64")
    assert (e.ppid, e.loginuid, e.ino, e.dev) == (7, 1001, 1234, os.makedev(8, 3))
    assert e.filename == "/lib64/ld-linux-x86-64.so.2"
    assert e.args == ("ld-linux-x86-64.so.2", "./payload", "x")  # argv only, no environment
    assert e.deleted
    assert not e.memfd
    assert e.loader_target() == "./payload"
    assert (e.tty, e.vpid) == ((136 << 8) | 3, 12)
    assert e.start_ticks == 5 * os.sysconf("SC_CLK_TCK")  # whole ticks, as /proc rounds


def test_unset_loginuid_and_memfd_flags() -> None:
    raw = struct.pack(
        EXEC_FMT,
        *_hdr(1),
        1,
        0xFFFFFFFF,
        5,
        0,
        ebpf.FLAG_LOGINUID | ebpf.FLAG_MEMFD,
        5,
        5,
        1,
        0,
        0,
        0,
        b"memfd:runc_cloned:/proc/self/exe",
        b"/x/y",
        b"runc\0",
    )
    e = parse_event(raw)
    assert isinstance(e, ExecEvent)
    assert e.loginuid == -1  # unset: -1, as Falco shows it and /proc's reader gives it
    assert e.memfd
    assert e.runc_clone  # runc's own clone: exempt (not drift)


@pytest.mark.parametrize(
    ("filename", "args", "target"),
    [
        ("/lib64/ld-linux-x86-64.so.2", ("ld.so", "/tmp/x"), "/tmp/x"),
        ("/lib/ld-musl-x86_64.so.1", ("ld", "bin"), "bin"),
        ("/lib64/ld-linux-x86-64.so.2", ("ld.so", "--verify", "/bin/ls"), None),  # ldd
        ("/lib64/ld-linux-x86-64.so.2", ("ld.so",), None),
        ("/bin/sh", ("sh", "/tmp/x"), None),
    ],
)
def test_loader_target(filename: str, args: tuple[str, ...], target: str | None) -> None:
    hdr = ebpf.Header(1, 1, 0, 0, "x")
    e = ExecEvent(hdr, 0, None, 0, 0, 0, 1, "", filename, args)
    assert e.loader_target() == target


@pytest.mark.parametrize(
    "argv",
    [b"sh\0-c\0true", b"\xff\0ok", b"cut\xe2\x82\0next", b"\xe2\x82", b"a\0\0b", b"x\0"],
)
def test_argv_decoded_as_each_argument_alone(argv: bytes) -> None:
    # The parser decodes argv whole and then splits; invalid UTF-8 next to a NUL must come
    # out as it would argument by argument.
    assert ebpf._split_args(argv) == tuple(a.decode(errors="replace") for a in argv.split(b"\0"))


def test_parse_connect_v4_v6_and_results() -> None:
    v4 = struct.pack(
        CONNECT_FMT,
        *_hdr(2),
        -101,
        socket.AF_INET,
        80,
        1,
        0,
        3,
        bytes([169, 254, 169, 254]) + bytes(12),
    )
    e = parse_event(v4)
    assert isinstance(e, ConnectEvent)
    assert (e.address, e.port, e.protocol, e.result, e.fd) == (
        "169.254.169.254",
        80,
        "tcp",
        "ENETUNREACH",
        3,
    )
    v6 = struct.pack(
        CONNECT_FMT,
        *_hdr(2),
        0,
        socket.AF_INET6,
        53,
        2,
        0,
        4,
        socket.inet_pton(socket.AF_INET6, "::1"),
    )
    e6 = parse_event(v6)
    assert isinstance(e6, ConnectEvent)
    assert (e6.address, e6.protocol, e6.result) == ("::1", "udp", "SUCCESS")
    unknown = parse_event(struct.pack(CONNECT_FMT, *_hdr(2), -111, 2, 1, 0, 0, 5, bytes(16)))
    assert isinstance(unknown, ConnectEvent)
    assert (unknown.protocol, unknown.result) == ("inet", "ECONNREFUSED")


def test_parse_open_and_flags() -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    raw = struct.pack(OPEN_FMT, *_hdr(3), -100, flags, 0o644, 18, 1, b"/etc/ld.so.preload")
    e = parse_event(raw)
    assert isinstance(e, OpenEvent)
    assert (e.path, e.dfd, e.match, e.mode) == ("/etc/ld.so.preload", -100, 1, 0o644)
    assert e.flag_names == ("O_WRONLY", "O_CREAT", "O_TRUNC", "O_CLOEXEC")
    assert open_flag_names(os.O_RDONLY) == ("O_RDONLY",)
    assert open_flag_names(os.O_RDWR | os.O_APPEND) == ("O_RDWR", "O_APPEND")


def test_short_or_unknown_records_are_ignored() -> None:
    assert parse_event(b"") is None
    assert parse_event(struct.pack("<I", 9) + bytes(100)) is None
    assert parse_event(struct.pack("<I", 1) + bytes(10)) is None


def test_watched_lists_fit_the_kernel_keys() -> None:
    assert all(len(p.encode()) < ebpf.PATH_LEN and p.startswith("/") for p in WATCHED_PATHS)
    assert all(len(n.encode()) < ebpf.BASE_LEN and "/" not in n for n in WATCHED_NAMES)


def test_cgroup_ids_map_directory_inodes(tmp_path: Path) -> None:
    root = tmp_path / "unified"
    container = root / "docker" / CID
    container.mkdir(parents=True)
    (root / "system.slice").mkdir()
    ids = CgroupIds([str(root)], rescan_s=0.0)
    ids.scan()
    assert ids.has_containers
    assert ids.lookup(container.stat().st_ino) == (True, CID)
    assert ids.lookup((root / "system.slice").stat().st_ino) == (True, None)
    later = root / "docker" / ("cd" * 32)
    later.mkdir()
    assert ids.lookup(later.stat().st_ino) == (True, "cd" * 32)  # a miss rescans
    assert ids.lookup(1) == (False, None)
    assert ids.host_ids() == {
        root.stat().st_ino,
        (root / "docker").stat().st_ino,
        (root / "system.slice").stat().st_ino,
    }


def test_cgroup_ids_rescan_once_per_unknown_id(tmp_path: Path) -> None:
    root = tmp_path / "unified"
    root.mkdir()
    ids = CgroupIds([str(root)], rescan_s=3600)
    ids.scan()
    scans = ids.scans
    assert ids.lookup(999_999_999) == (False, None)
    assert ids.lookup(999_999_999) == (False, None)  # missed before: no second scan
    assert ids.scans == scans + 1
    new = root / "docker" / CID
    new.mkdir(parents=True)
    assert ids.lookup(new.stat().st_ino) == (True, CID)  # never seen: scanned at once


def test_cgroup2_roots_from_mountinfo(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(
        "30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
        "31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n"
        "32 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
    )
    assert cgroup2.cgroup2_roots(str(info)) == ["/sys/fs/cgroup/unified"]


def test_build_names_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(bpf_build.BpfBuildError, match="no kernel BTF"):
        bpf_build.build(tmp_path, btf=tmp_path / "absent")
    btf = tmp_path / "vmlinux"
    btf.write_bytes(b"not really btf")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(bpf_build.BpfBuildError, match=r"clang not found \(apt-get install clang"):
        bpf_build.build(tmp_path, btf=btf)
    assert bpf_build.cached_object(tmp_path, btf) is None


def test_source_is_dual_licensed() -> None:
    assert 'SEC("license") = "Dual BSD/GPL"' in SOURCE


def test_parse_recent_exec_note() -> None:
    """The kernel's note carries what /proc would have said right after the exec, so a record
    read after the process exited (a gathering detect-mode reader) loses nothing."""
    argv = b"sh\0-c\0id\0"
    raw = struct.pack(
        ebpf.RECENT_FMT,
        7,
        5 * 10**9,
        77,
        49,
        1000,
        1000,
        34816,
        3,
        len(argv),
        ebpf.FLAG_LOGINUID,
        b"sh",
        argv,
    )
    note = ebpf.parse_recent(raw)
    assert note is not None
    assert (note.ino, note.ppid, note.uid, note.comm, note.args) == (
        7,
        49,
        1000,
        "sh",
        ("sh", "-c", "id"),
    )
    assert (note.tty, note.loginuid, note.vpid, note.cgroup_id) == (34816, 1000, 3, 77)
    assert note.start_ticks == 5 * os.sysconf("SC_CLK_TCK")
    unset = struct.pack(ebpf.RECENT_FMT, 7, 0, 0, 49, 0, 0xFFFFFFFF, 0, 0, 0, ebpf.FLAG_LOGINUID,
                        b"true", b"")  # fmt: skip
    note = ebpf.parse_recent(unset)
    assert note is not None
    assert (note.loginuid, note.vpid, note.tty, note.args, note.cgroup_id) == (
        -1,
        None,
        0,
        (),
        None,
    )
    no_flag = struct.pack(ebpf.RECENT_FMT, 7, 0, 0, 49, 0, 1000, 0, 0, 0, 0, b"true", b"")
    assert ebpf.parse_recent(no_flag).loginuid is None  # type: ignore[union-attr]  # no audit
    assert ebpf.parse_recent(raw[:-1]) is None  # short: not a note


def test_submitted_records_force_a_wake_up_after_silent_discards() -> None:
    """Observer-only mode discards plain exec records without a wake-up; the kernel then
    wakes the reader only for a record at its position, so later records must force one."""
    assert "bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP)" in SOURCE
    assert "bpf_ringbuf_submit(e, 0)" not in SOURCE
    assert SOURCE.count("bpf_ringbuf_submit(e, submit_flags())") == 3
