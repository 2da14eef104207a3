"""The observer object loaded with the distro's ``libbpf.so.1`` through ctypes.

Open, load (the kernel verifies), attach each tracepoint program, fill the watch maps and the
config, and poll the ring buffer: the callback only copies bytes, parsing happens after
``ring_buffer__poll`` returns (``bpf/records.py``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from mamori.sensor.bpf.records import BASE_LEN, PATH_LEN, PROGRAMS, RECENT_SIZE, RINGBUF_POLL_MS
from mamori.sensor.sources.base import SourceUnavailable
from mamori.sensor.sources.tracefs import find_tracefs

_RecentBuf = ctypes.c_char * RECENT_SIZE

# The record arrives as a char pointer: slicing it copies the bytes at half the cost of
# ctypes.string_at (a Python-level function) on a void pointer, once per record.
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t
)


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
        "ring_buffer__consume": (ci, [vp]),
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
        watched_paths: Sequence[str],
        watched_names: Sequence[str],
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
        try:  # libbpf reads each tracepoint's id there; a fresh boot may have none mounted
            find_tracefs(mount_if_absent=True)
        except OSError as exc:
            raise SourceUnavailable(f"ebpf: tracepoints need tracefs: {exc}") from exc
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
        self._recent_fd = lib.bpf_object__find_map_fd_by_name(obj, b"recent_execs")
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

    def _on_event(self, _ctx: int | None, data: ctypes._Pointer[ctypes.c_char], size: int) -> int:
        if data:
            self._pending.append(cast(bytes, data[:size]))  # c_char slices are bytes
        return 0

    def poll(self, timeout_ms: int = RINGBUF_POLL_MS) -> list[bytes]:
        """Records that arrived within ``timeout_ms`` (raw bytes)."""
        if self._rb is None:
            return []
        if self.lib.ring_buffer__poll(self._rb, timeout_ms) == 0 and timeout_ms:
            # No wake-up came: read anyway, in case a record was written without one (the
            # program's submit flags should prevent that; this bounds the delay if not).
            self.lib.ring_buffer__consume(self._rb)
        out, self._pending = self._pending, []
        return out

    def recent_exec(self, pid: int) -> bytes | None:
        """The kernel's record of ``pid``'s last exec (observer-only mode), raw; or None."""
        if self.obj is None or self._recent_fd < 0:
            return None
        # A bare char array: create_string_buffer's type checks cost more than the lookup.
        value = _RecentBuf()
        if self.lib.bpf_map_lookup_elem(self._recent_fd, ctypes.byref(ctypes.c_uint32(pid)), value):
            return None
        return bytes(value)

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
