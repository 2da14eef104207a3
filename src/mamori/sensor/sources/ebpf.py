"""The eBPF CO-RE observer (``bpf/observer.bpf.c``), loaded with the distro's libbpf via ctypes.

One ring buffer carries three event kinds: exec (``sched_process_exec``: pid, ppid, uid,
loginuid, cgroup v2 id, comm, filename, argv, exe inode/device, memfd and deleted flags),
connect (``sys_enter/exit_connect``: AF_INET/AF_INET6 address and port, socket type, the
syscall's result, failed attempts included) and open (``sys_enter_open{,at,at2}``, filtered in
the kernel to watched full paths and basenames). One reader thread polls the ring buffer; the
callback only copies bytes, parsing happens after ``ring_buffer__poll`` returns.

An exec record needs no ``/proc`` read for pid/ppid/uid/comm/argv/identity: the event has them,
read in the exec'ing task after the exec completed. cwd/tty/vpid are still read from /proc when
the loaded rules use them (best effort). Container identity comes from the cgroup v2 id (the
cgroup directory's inode) mapped to its path; on a v1-only runtime the v2 id names no container
and ``/proc/<pid>/cgroup`` is read instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import socket
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from mamori.core.events import FileInfo, NetworkInfo
from mamori.sensor.identity.cgroup import container_from_cgroup, container_from_path
from mamori.sensor.records import ExecRecord, ProcSnapshot
from mamori.sensor.sources.base import SourceUnavailable
from mamori.sensor.sources.procfs import (
    ALL_PARTS,
    parse_stat,
    parse_vpid,
    read_file,
    read_snapshot,
)

log = logging.getLogger(__name__)

# Opens worth an event, matched in the kernel (full path as passed, or its basename). The
# sensor's defaults; ``EbpfSource(watched_paths=..., watched_names=...)`` overrides them.
WATCHED_PATHS: tuple[str, ...] = (
    "/etc/ld.so.preload",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/var/run/secrets/kubernetes.io/serviceaccount/token",
    "/run/secrets/kubernetes.io/serviceaccount/token",
    "/etc/kubernetes/admin.conf",
    "/etc/kubernetes/kubelet.conf",
    "/var/lib/kubelet/kubeconfig",
    "/sys/module/msr/parameters/allow_writes",
    "/proc/sys/vm/nr_hugepages",
)
WATCHED_NAMES: tuple[str, ...] = (
    ".git-credentials",
    "credentials",
    "config.json",
    ".netrc",
    "id_rsa",
    "id_ed25519",
    "authorized_keys",
    ".bash_history",
    ".ash_history",
    ".zsh_history",
    "kubeconfig",
    "environ",
)

# Layouts of observer.bpf.c (little-endian, natural alignment; sizes checked in the tests).
HDR = "<IIIIQ16s"
EXEC_FMT = HDR + "IIQIIHHI32s256s512s"
CONNECT_FMT = HDR + "iHHHHi16s"
OPEN_FMT = HDR + "iIIHH256s"
EXEC_SIZE, CONNECT_SIZE, OPEN_SIZE = (struct.calcsize(f) for f in (EXEC_FMT, CONNECT_FMT, OPEN_FMT))
PATH_LEN, NAME_LEN, BASE_LEN = 256, 32, 64
KIND_EXEC, KIND_CONNECT, KIND_OPEN = 1, 2, 3
FLAG_MEMFD, FLAG_DELETED, FLAG_LOGINUID = 1, 2, 4
MATCH_PATH, MATCH_BASENAME, MATCH_RELATIVE = 1, 2, 3
AT_FDCWD = -100
RUNC_MEMFD = "memfd:runc_cloned:/proc/self/exe"  # runc's own clone: not drift (Falco agrees)
LOADERS = ("ld-linux", "ld-musl")
RINGBUF_POLL_MS = 200
PROGRAMS = (
    ("mamori_exec", True),
    ("mamori_connect_enter", True),
    ("mamori_connect_exit", True),
    ("mamori_openat", True),
    ("mamori_open", False),  # absent on some architectures: optional
    ("mamori_openat2", False),  # >= 5.6
)

# Falco's open flag names (access mode first), from the x86-64/generic O_* values.
_ACCESS = ("O_RDONLY", "O_WRONLY", "O_RDWR")
_OPEN_FLAGS = (
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o10000, "O_DSYNC"),
    (0o40000, "O_DIRECT"),
    (0o200000, "O_DIRECTORY"),
    (0o2000000, "O_CLOEXEC"),
)
O_TMPFILE = 0o20200000
_PROTOCOLS: dict[int, str] = {int(socket.SOCK_STREAM): "tcp", int(socket.SOCK_DGRAM): "udp"}
O_SYNC = 0o4010000


@dataclass(frozen=True, slots=True)
class Header:
    kind: int
    tgid: int
    uid: int
    cgroup_id: int
    comm: str


@dataclass(frozen=True, slots=True)
class ExecEvent:
    hdr: Header
    ppid: int
    loginuid: int | None
    ino: int
    dev: int  # as userspace's st_dev (makedev of the kernel's major/minor)
    flags: int
    nlink: int
    exe_name: str
    filename: str
    args: tuple[str, ...]

    @property
    def memfd(self) -> bool:
        return bool(self.flags & FLAG_MEMFD)

    @property
    def deleted(self) -> bool:
        return bool(self.flags & FLAG_DELETED)

    @property
    def runc_clone(self) -> bool:
        return self.exe_name.startswith("memfd:runc_cloned")

    def loader_target(self) -> str | None:
        """A direct exec of the dynamic loader with a program to run: that program's path."""
        names = (os.path.basename(self.filename), self.exe_name)
        if not any(n.startswith(LOADERS) for n in names):
            return None
        for arg in self.args[1:]:
            if arg.startswith("-"):
                return None  # ld.so --verify / --list (ldd), --help ...: no program run
            if os.path.basename(arg).startswith(LOADERS):
                continue
            return arg
        return None


@dataclass(frozen=True, slots=True)
class ConnectEvent:
    hdr: Header
    ret: int
    family: int
    port: int
    sock_type: int
    fd: int
    address: str

    @property
    def protocol(self) -> str:
        return _PROTOCOLS.get(self.sock_type, "inet")

    @property
    def result(self) -> str:
        """Falco's ``evt.res``: ``SUCCESS`` or the errno name (``ENETUNREACH``)."""
        if self.ret >= 0:
            return "SUCCESS"
        return errno.errorcode.get(-self.ret, str(self.ret))


@dataclass(frozen=True, slots=True)
class OpenEvent:
    hdr: Header
    dfd: int
    flags: int
    mode: int
    path: str
    match: int

    @property
    def flag_names(self) -> tuple[str, ...]:
        return open_flag_names(self.flags)


BpfEvent = ExecEvent | ConnectEvent | OpenEvent


def _cstr(raw: bytes, length: int | None = None) -> str:
    if length is not None:
        raw = raw[:length]
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def _dev(kdev: int) -> int:
    """The kernel's ``dev_t`` (major << 20 | minor) as ``os.stat().st_dev``."""
    return os.makedev(kdev >> 20, kdev & 0xFFFFF)


def open_flag_names(flags: int) -> tuple[str, ...]:
    names = [_ACCESS[flags & 3] if flags & 3 < 3 else "O_RDWR"]
    names += [name for bit, name in _OPEN_FLAGS if flags & bit]
    if flags & O_SYNC == O_SYNC:
        names.append("O_SYNC")
    if flags & O_TMPFILE == O_TMPFILE:
        names.append("O_TMPFILE")
    return tuple(names)


def parse_event(data: bytes) -> BpfEvent | None:
    """One ring buffer record -> event; ``None`` for an unknown kind or a short record."""
    if len(data) < 4:
        return None
    kind = struct.unpack_from("<I", data)[0]
    if kind == KIND_EXEC and len(data) >= EXEC_SIZE:
        (
            _,
            tgid,
            uid,
            _,
            cg,
            comm,
            ppid,
            login,
            ino,
            kdev,
            flags,
            flen,
            alen,
            nlink,
            name,
            fn,
            av,
        ) = struct.unpack_from(EXEC_FMT, data)
        hdr = Header(kind, tgid, uid, cg, _cstr(comm))
        argv = av[:alen].rstrip(b"\0")
        args = tuple(a.decode(errors="replace") for a in argv.split(b"\0")) if argv else ()
        return ExecEvent(
            hdr,
            ppid,
            login if flags & FLAG_LOGINUID and login != 0xFFFFFFFF else None,
            ino,
            _dev(kdev),
            flags,
            nlink,
            _cstr(name),
            _cstr(fn, flen),
            args,
        )
    if kind == KIND_CONNECT and len(data) >= CONNECT_SIZE:
        (_, tgid, uid, _, cg, comm, ret, family, port, stype, _, fd, addr) = struct.unpack_from(
            CONNECT_FMT, data
        )
        if family == socket.AF_INET:
            address = socket.inet_ntop(socket.AF_INET, addr[:4])
        else:
            address = socket.inet_ntop(socket.AF_INET6, addr)
        hdr = Header(kind, tgid, uid, cg, _cstr(comm))
        return ConnectEvent(hdr, ret, family, port, stype, fd, address)
    if kind == KIND_OPEN and len(data) >= OPEN_SIZE:
        (_, tgid, uid, _, cg, comm, dfd, flags, mode, plen, match, path) = struct.unpack_from(
            OPEN_FMT, data
        )
        hdr = Header(kind, tgid, uid, cg, _cstr(comm))
        return OpenEvent(hdr, dfd, flags, mode, _cstr(path, plen), match)
    return None


# --- cgroup v2 id -> container ---------------------------------------------------------------


def cgroup2_roots(mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    """Mount points of the cgroup v2 hierarchy (``/sys/fs/cgroup`` or, hybrid, ``.../unified``)."""
    roots: list[str] = []
    try:
        with open(mountinfo) as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split(" ", 1)[0] == "cgroup2":
                    roots.append(left.split()[4])
    except OSError:
        pass
    return roots


class CgroupIds:
    """cgroup v2 id (the directory's inode) -> container id, by scanning the hierarchy.

    Cached; a miss rescans at most once per ``rescan_s`` (a new container's directory appears
    before its first exec). Host cgroups map to ``None``.
    """

    def __init__(self, roots: Sequence[str] | None = None, rescan_s: float = 0.5) -> None:
        self.roots = list(roots) if roots is not None else cgroup2_roots()
        self.rescan_s = rescan_s
        self._ids: dict[int, str | None] = {}
        self._last = 0.0
        self._missed: set[int] = set()
        self.scans = 0
        # Some v2 cgroup names a container: the runtime uses v2 (or hybrid with unified),
        # so the event's cgroup id is authoritative. Re-evaluated on every scan.
        self.has_containers = False

    def host_ids(self) -> set[int]:
        """cgroup ids known to name no container."""
        return {ino for ino, cid in self._ids.items() if cid is None}

    def _scan(self) -> None:
        self.scans += 1
        self._last = time.monotonic()
        found: dict[int, str | None] = {}
        for root in self.roots:
            for dirpath, _dirs, _files in os.walk(root):
                try:
                    ino = os.stat(dirpath).st_ino
                except OSError:
                    continue
                ident = container_from_path(dirpath[len(root) :] or "/")
                found[ino] = ident.container_id if ident else None
        self._ids = found
        self.has_containers = any(v is not None for v in found.values())

    def lookup(self, cgroup_id: int) -> tuple[bool, str | None]:
        """(known, container id). An id never seen rescans at once (a new container's cgroup
        exists before its first exec); one a scan could not find, at most every
        ``rescan_s``."""
        if cgroup_id in self._ids:
            return True, self._ids[cgroup_id]
        fresh = cgroup_id not in self._missed
        if fresh or time.monotonic() - self._last >= self.rescan_s:
            self._scan()
            if cgroup_id in self._ids:
                return True, self._ids[cgroup_id]
            if len(self._missed) > 4096:
                self._missed.clear()
            self._missed.add(cgroup_id)
        return False, None

    def scan(self) -> None:
        self._scan()


# --- libbpf ----------------------------------------------------------------------------------

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)


def _libbpf() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    except OSError as exc:
        msg = f"ebpf: libbpf.so.1 not found (apt-get install libbpf1): {exc}"
        raise SourceUnavailable(msg) from exc
    vp, cp, ci = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    sigs: dict[str, tuple[type | None, list[type]]] = {
        "bpf_object__open_file": (vp, [cp, vp]),
        "bpf_object__load": (ci, [vp]),
        "bpf_object__close": (None, [vp]),
        "bpf_object__find_program_by_name": (vp, [vp, cp]),
        "bpf_object__find_map_fd_by_name": (ci, [vp, cp]),
        "bpf_program__attach": (vp, [vp]),
        "bpf_link__destroy": (ci, [vp]),
        "bpf_map_update_elem": (ci, [ci, vp, vp, ctypes.c_uint64]),
        "bpf_map_lookup_elem": (ci, [ci, vp, vp]),
        "bpf_map_delete_elem": (ci, [ci, vp]),
        "ring_buffer__new": (vp, [ci, _CALLBACK, vp, vp]),
        "ring_buffer__poll": (ci, [vp, ci]),
        "ring_buffer__free": (None, [vp]),
        "libbpf_num_possible_cpus": (ci, []),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


def _errstr() -> str:
    err = ctypes.get_errno()
    return f"{errno.errorcode.get(err, err)} ({os.strerror(err)})" if err else "unknown error"


class BpfObserver:
    """The loaded object: programs attached, watch maps filled, a ring buffer to poll."""

    def __init__(
        self,
        obj_path: Path,
        watched_paths: Sequence[str] = WATCHED_PATHS,
        watched_names: Sequence[str] = WATCHED_NAMES,
        exec_all: bool = True,
    ) -> None:
        self.lib = _libbpf()
        self.exec_all = exec_all
        self.obj: int | None = None
        self.links: list[int] = []
        self.attached: list[str] = []
        self.missing: list[str] = []
        self._rb: int | None = None
        self._pending: list[bytes] = []
        self._cb = _CALLBACK(self._on_event)  # kept referenced: libbpf calls it
        t0 = time.perf_counter()
        try:
            self._load(obj_path, watched_paths, watched_names)
        except SourceUnavailable:
            self.close()
            raise
        self.load_ms = (time.perf_counter() - t0) * 1000

    def _load(self, obj_path: Path, paths: Sequence[str], names: Sequence[str]) -> None:
        lib = self.lib
        ctypes.set_errno(0)
        obj = lib.bpf_object__open_file(str(obj_path).encode(), None)
        if not obj:
            raise SourceUnavailable(f"ebpf: cannot open {obj_path}: {_errstr()}")
        self.obj = obj
        if lib.bpf_object__load(obj) != 0:
            raise SourceUnavailable(
                f"ebpf: load failed: {_errstr()} (needs CAP_BPF + CAP_PERFMON and kernel BTF)"
            )
        for name, required in PROGRAMS:
            prog = lib.bpf_object__find_program_by_name(obj, name.encode())
            link = lib.bpf_program__attach(prog) if prog else None
            if not link:
                if required:
                    raise SourceUnavailable(f"ebpf: cannot attach {name}: {_errstr()}")
                self.missing.append(name)
                continue
            self.links.append(link)
            self.attached.append(name)
        self._fill(b"watched_paths", paths, PATH_LEN, 1)
        # Basenames of the full paths, for relative opens ("cd /etc; cat shadow"): value 2.
        self._fill(b"watched_names", sorted({os.path.basename(p) for p in paths}), BASE_LEN, 2)
        self._fill(b"watched_names", names, BASE_LEN, 1)
        conf = lib.bpf_object__find_map_fd_by_name(obj, b"mamori_config")
        key, value = ctypes.c_uint32(0), ctypes.c_uint32(1 if self.exec_all else 0)
        if lib.bpf_map_update_elem(conf, ctypes.byref(key), ctypes.byref(value), 0) != 0:
            raise SourceUnavailable(f"ebpf: setting config: {_errstr()}")
        fd = lib.bpf_object__find_map_fd_by_name(obj, b"events")
        self._drops_fd = lib.bpf_object__find_map_fd_by_name(obj, b"drops")
        self._skip_fd = lib.bpf_object__find_map_fd_by_name(obj, b"skip_cgroups")
        self.skipped: set[int] = set()
        rb = lib.ring_buffer__new(fd, self._cb, None, None)
        if not rb:
            raise SourceUnavailable(f"ebpf: ring_buffer__new failed: {_errstr()}")
        self._rb = rb

    def _fill(self, map_name: bytes, items: Sequence[str], size: int, value: int) -> None:
        assert self.obj is not None
        fd = self.lib.bpf_object__find_map_fd_by_name(self.obj, map_name)
        one = ctypes.c_uint8(value)
        for item in items:
            raw = item.encode()
            if len(raw) >= size:
                raise ValueError(f"watched {item!r} is longer than {size - 1} bytes")
            key = ctypes.create_string_buffer(raw, size)
            if self.lib.bpf_map_update_elem(fd, key, ctypes.byref(one), 0) != 0:
                raise SourceUnavailable(f"ebpf: filling {map_name.decode()}: {_errstr()}")

    def skip_cgroups(self, ids: set[int]) -> None:
        """Make the kernel drop execs and connects of these cgroups (the host's)."""
        one = ctypes.c_uint8(1)
        for cg in ids - self.skipped:
            key = ctypes.c_uint64(cg)
            if self.lib.bpf_map_update_elem(self._skip_fd, ctypes.byref(key), ctypes.byref(one), 0):
                return  # full: the rest is dropped in userspace
            self.skipped.add(cg)
        for cg in self.skipped - ids:
            key = ctypes.c_uint64(cg)
            self.lib.bpf_map_delete_elem(self._skip_fd, ctypes.byref(key))
            self.skipped.discard(cg)

    def _on_event(self, _ctx: int | None, data: int | None, size: int) -> int:
        if data:
            self._pending.append(ctypes.string_at(data, size))
        return 0

    def poll(self, timeout_ms: int = RINGBUF_POLL_MS) -> list[bytes]:
        """Records that arrived within ``timeout_ms`` (raw bytes)."""
        if self._rb is None:
            return []
        self.lib.ring_buffer__poll(self._rb, timeout_ms)
        out, self._pending = self._pending, []
        return out

    def drops(self) -> int:
        """Events the kernel could not reserve (ring buffer full), summed over CPUs."""
        if self.obj is None:
            return 0
        ncpu = max(1, self.lib.libbpf_num_possible_cpus())
        values = (ctypes.c_uint64 * ncpu)()
        key = ctypes.c_uint32(0)
        if self.lib.bpf_map_lookup_elem(self._drops_fd, ctypes.byref(key), values) != 0:
            return 0
        return int(sum(values))

    def close(self) -> None:
        if self._rb is not None:
            self.lib.ring_buffer__free(self._rb)
            self._rb = None
        for link in self.links:
            self.lib.bpf_link__destroy(link)
        self.links = []
        if self.obj is not None:
            self.lib.bpf_object__close(self.obj)
            self.obj = None


# --- the source ------------------------------------------------------------------------------

ObservedExec = Callable[[ExecRecord, ExecEvent], ExecRecord]


class EbpfSource:
    """Exec (optional), connect and open records from the observer.

    ``exec_events`` is off when fanotify is the exec source (each exec one event, see
    docs/decisions/0007-ebpf-exec-dedup.md): then only memfd and loader execs, which fanotify
    cannot judge, become records. ``drift`` (set by the sensor) judges memfd/loader execs.
    """

    name = "ebpf"

    def __init__(
        self,
        proc: str = "/proc",
        exec_events: bool = True,
        obj_path: Path | None = None,
        host_events: bool = False,
        watched_paths: Sequence[str] = WATCHED_PATHS,
        watched_names: Sequence[str] = WATCHED_NAMES,
    ) -> None:
        self.proc = proc
        self.exec_events = exec_events
        # Execs and connects of host processes (outside containers): off by default, as
        # fanotify (container rootfs marks) sees none either; filtered in the kernel.
        self.host_events = host_events
        self.obj_path = obj_path
        self.watched_paths = watched_paths
        self.watched_names = watched_names
        self._watched = frozenset(watched_paths)
        self.parts = ALL_PARTS
        self.observer: BpfObserver | None = None
        self.cgroups = CgroupIds()
        self.cgroup_v2 = False  # the v2 id names containers here (else /proc/<pid>/cgroup)
        self.observed: ObservedExec | None = None  # memfd / loader hook (drift)
        self.counts = {"exec": 0, "connect": 0, "open": 0, "observer_only": 0, "host": 0}
        self._scans = 0
        self._closing = threading.Event()
        # pid -> (exe path, argv) of recent execs: connect/open records name the program
        # without a /proc read when the exec was seen.
        self._recent: OrderedDict[int, tuple[str, tuple[str, ...], int]] = OrderedDict()

    def open(self) -> None:
        from mamori.sensor.bpf.build import BpfBuildError, cached_object

        path = self.obj_path
        if path is None:
            try:
                path = cached_object()
            except OSError as exc:
                raise SourceUnavailable(f"ebpf: {exc}") from exc
            except BpfBuildError as exc:
                raise SourceUnavailable(f"ebpf: {exc}") from exc
            if path is None:
                raise SourceUnavailable(
                    "ebpf: no observer object built for this kernel (mamori sensor-build-bpf)"
                )
        if os.geteuid() != 0:
            raise SourceUnavailable("ebpf: needs root (CAP_BPF + CAP_PERFMON)")
        self.observer = BpfObserver(
            path, self.watched_paths, self.watched_names, exec_all=self.exec_events
        )
        self.cgroups.scan()
        self._sync_skip()

    def _sync_skip(self) -> None:
        """After a cgroup scan: is the v2 id authoritative (some v2 cgroup names a container)?
        Then host cgroups go into the kernel's skip map."""
        self._scans = self.cgroups.scans
        self.cgroup_v2 = self.cgroups.has_containers
        if self.observer is not None and self.cgroup_v2 and not self.host_events:
            self.observer.skip_cgroups(self.cgroups.host_ids())

    def drops(self) -> int:
        return self.observer.drops() if self.observer is not None else 0

    def detail(self) -> str:
        kinds = ["exec" if self.exec_events else "exec: memfd/loader only", "connect", "open"]
        if not self.host_events:
            kinds.append("containers only (open: all)")
        ident = (
            "cgroup v2 id" if self.cgroup_v2 else "/proc/<pid>/cgroup until a v2 cgroup names one"
        )
        ms = f"{self.observer.load_ms:.0f} ms" if self.observer else "-"
        return f"ebpf ({', '.join(kinds)}; identity {ident}; load+attach {ms})"

    def records(self) -> Iterator[ExecRecord]:
        assert self.observer is not None
        observer = self.observer
        try:
            while True:
                closing = self._closing.is_set()
                for raw in observer.poll(0 if closing else RINGBUF_POLL_MS):
                    event = parse_event(raw)
                    record = self._record(event) if event is not None else None
                    if record is not None:
                        yield record
                if closing:
                    break
        finally:
            observer.close()

    def close(self) -> None:
        self._closing.set()

    # --- records ---

    def _container(self, hdr: Header) -> tuple[str | None, str | None, bool]:
        """(container id, cgroup text read from /proc when the v2 id could not tell, known to
        be a host process)."""
        if self.cgroups.roots:
            known, cid = self.cgroups.lookup(hdr.cgroup_id)  # a miss rescans
            if self.cgroups.scans != self._scans:
                self._sync_skip()
            if known and self.cgroup_v2:
                return cid, None, cid is None
        text = _read(f"{self.proc}/{hdr.tgid}/cgroup")
        found = container_from_cgroup(text) if text else None
        return (found.container_id if found else None), text, bool(text) and found is None

    def _record(self, event: BpfEvent) -> ExecRecord | None:
        if isinstance(event, ExecEvent):
            return self._exec(event)
        if isinstance(event, ConnectEvent):
            return self._connect(event)
        return self._open(event)

    def _remember(self, pid: int, exe: str, args: tuple[str, ...], ppid: int) -> None:
        self._recent[pid] = (exe, args, ppid)
        self._recent.move_to_end(pid)
        if len(self._recent) > 8192:
            self._recent.popitem(last=False)

    def _exec(self, e: ExecEvent) -> ExecRecord | None:
        self._remember(e.hdr.tgid, e.filename, e.args, e.ppid)
        special = (e.memfd and not e.runc_clone) or e.loader_target() is not None
        if not self.exec_events and not special:
            return None
        cid, cgroup, host = self._container(e.hdr)
        if self._host_dropped(host):
            return None
        self.counts["exec"] += 1
        extra = self._extra_proc(e.hdr.tgid)
        snap = ProcSnapshot(
            pid=e.hdr.tgid,
            ppid=e.ppid,
            comm=e.hdr.comm,
            exe=e.filename,  # the snapshot is post-exec: Enricher.completed() holds
            args=e.args,
            cwd=extra.cwd,
            uid=e.hdr.uid,
            loginuid=e.loginuid,
            tty=extra.tty,
            cgroup=cgroup,
            start_ticks=extra.start_ticks,
            vpid=extra.vpid,
        )
        flags = MappingProxyType({"from_memfd": e.memfd and not e.runc_clone, "deleted": e.deleted})
        record = ExecRecord(
            time.time_ns(),
            e.hdr.tgid,
            e.filename,
            self.name,
            snap,
            container_id=cid,
            dev=e.dev,
            ino=e.ino,
            exe_flags=flags,
            # Under fanotify a loader exec was an event already (ld.so itself): this record
            # only carries the drift decision. A memfd exec fanotify never sees: a full event.
            decision_only=not self.exec_events and not flags["from_memfd"],
        )
        if special and self.observed is not None:
            record = self.observed(record, e)
        if not self.exec_events:
            self.counts["observer_only"] += 1
        return record

    def _host_dropped(self, host: bool) -> bool:
        """A host process's exec/connect that reached userspace (its cgroup not yet in the skip
        map, or identity from /proc): dropped when known to be the host (by the v2 id or a
        /proc/<pid>/cgroup that was read). Unknown (the process is gone): kept, the pipeline
        then takes the parent's container."""
        if self.host_events or not host:
            return False
        self.counts["host"] += 1
        return True

    def _extra_proc(self, pid: int) -> ProcSnapshot:
        """What the event lacks, from /proc, and only what the rules use (``parts``): tty and
        start time (stat, always: proc.tty is not in ``parts``), cwd, vpid (status).
        pid/ppid/uid/comm/argv/loginuid are the event's."""
        base = f"{self.proc}/{pid}"
        stat = read_file(base + "/stat", 4096)
        parsed = parse_stat(stat) if stat else None
        status = read_file(base + "/status", 8192) if "status" in self.parts else None
        cwd = None
        if "cwd" in self.parts:
            with contextlib.suppress(OSError):
                cwd = os.readlink(base + "/cwd")
        return ProcSnapshot(
            pid,
            cwd=cwd,
            tty=parsed[2] if parsed else None,
            start_ticks=parsed[3] if parsed else None,
            vpid=parse_vpid(status) if status else None,
        )

    def _running(self, hdr: Header) -> ProcSnapshot:
        recent = self._recent.get(hdr.tgid)
        if recent is not None:
            exe, args, ppid = recent
            return ProcSnapshot(hdr.tgid, ppid, hdr.comm, exe, args, uid=hdr.uid)
        snap = read_snapshot(hdr.tgid, self.proc, cgroup=False, parts=self.parts)
        return ProcSnapshot(
            hdr.tgid,
            snap.ppid,
            hdr.comm,
            snap.exe,
            snap.args,
            snap.cwd,
            hdr.uid,
            snap.loginuid,
            snap.tty,
            None,
            snap.start_ticks,
            snap.vpid,
        )

    def _connect(self, e: ConnectEvent) -> ExecRecord | None:
        cid, cgroup, host = self._container(e.hdr)
        if self._host_dropped(host):
            return None
        self.counts["connect"] += 1
        snap = self._running(e.hdr)
        if cgroup is not None:
            snap = _with_cgroup(snap, cgroup)
        network = NetworkInfo(
            protocol=e.protocol, dst_ip=e.address, dst_port=e.port, fd=e.fd if e.fd >= 0 else None
        )
        return ExecRecord(
            time.time_ns(),
            e.hdr.tgid,
            "",
            self.name,
            snap,
            container_id=cid,
            network=network,
            result=e.result,
        )

    def _open(self, e: OpenEvent) -> ExecRecord | None:
        path = self._resolve(e)
        if e.match == MATCH_RELATIVE and path.startswith("/") and path not in self._watched:
            return None  # "shadow" relative to somewhere other than /etc (unresolved: kept)
        self.counts["open"] += 1
        cid, cgroup, _host = self._container(e.hdr)
        snap = self._running(e.hdr)
        if cgroup is not None:
            snap = _with_cgroup(snap, cgroup)
        file = FileInfo(
            path=path,
            flags=e.flag_names,
            mode=e.mode & 0o7777 if e.flags & 0o100 else None,
        )
        return ExecRecord(
            time.time_ns(),
            e.hdr.tgid,
            "",
            self.name,
            snap,
            container_id=cid,
            file=file,
            raw_path=e.path,
        )

    def _resolve(self, e: OpenEvent) -> str:
        """A relative path against the cwd (or the dirfd's directory), best effort."""
        if e.path.startswith("/"):
            return e.path
        where = "cwd" if e.dfd == AT_FDCWD else f"fd/{e.dfd}"
        try:
            base = os.readlink(f"{self.proc}/{e.hdr.tgid}/{where}")
        except OSError:
            return e.path
        return os.path.normpath(os.path.join(base, e.path))


def _read(path: str) -> str | None:
    with contextlib.suppress(OSError), open(path, errors="replace") as f:
        return f.read(8192)
    return None


def _with_cgroup(snap: ProcSnapshot, cgroup: str) -> ProcSnapshot:
    from dataclasses import replace

    return replace(snap, cgroup=cgroup)
