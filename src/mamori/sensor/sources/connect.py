"""Outbound TCP connects from tracefs ``sock:inet_sock_set_state`` (CLOSE -> SYN_SENT).

fanotify sees no connects, and this kernel class has neither kprobe events nor working event
probes (writes to ``dynamic_events`` with ``e:`` are refused), so a ``connect()``'s user-space
sockaddr cannot be read from ``syscalls:sys_enter_connect``. The TCP state tracepoint is stable
(>= 4.16) and fires in the connecting task's context from ``tcp_v4_connect`` /
``tcp_v6_connect``, with family, ports and addresses from the kernel socket: no user memory.
The kernel filters ``newstate == TCP_SYN_SENT``, so only active opens reach Python.

Limits (see the decision note): TCP only (UDP ``connect`` has no such tracepoint); the
syscall's result is not known at SYN_SENT (``evt.res`` stays unset); the source port is 0
when the kernel has not picked it yet (reported as unset).
"""

from __future__ import annotations

import re
import time
from dataclasses import replace

from mamori.core.events import NetworkInfo
from mamori.sensor.records import ExecRecord
from mamori.sensor.sources.procfs import read_snapshot
from mamori.sensor.sources.tracefs import TracePipeSource, parse_lost

EVENT = "sock/inet_sock_set_state"
TCP_SYN_SENT = 2
MARKER = b": inet_sock_set_state: "
# "<comm>-<tid> (<tgid>) [cpu]": the comm may hold anything, so take the last such group.
_TASK = re.compile(rb"-(\d+)\s+\(\s*(\d+|-+)\)\s+\[\d+\]")


def parse_connect(line: bytes) -> tuple[int, NetworkInfo] | None:
    """A trace line -> (tgid, connection); ``None`` for other lines."""
    at = line.find(MARKER)
    if at < 0:
        return None
    tasks = list(_TASK.finditer(line, 0, at))
    if not tasks:
        return None
    tid, tgid = tasks[-1].group(1), tasks[-1].group(2)
    pid = int(tgid) if tgid.isdigit() else int(tid)
    kv: dict[bytes, bytes] = {}
    for item in line[at + len(MARKER) :].split():
        key, sep, value = item.partition(b"=")
        if sep:
            kv[key] = value
    if kv.get(b"newstate") != b"TCP_SYN_SENT" or kv.get(b"protocol") != b"IPPROTO_TCP":
        return None
    v6 = kv.get(b"family") == b"AF_INET6"
    src = kv.get(b"saddrv6" if v6 else b"saddr")
    dst = kv.get(b"daddrv6" if v6 else b"daddr")
    try:
        sport, dport = int(kv[b"sport"]), int(kv[b"dport"])
    except (KeyError, ValueError):
        return None
    return pid, NetworkInfo(
        protocol="tcp",
        dst_ip=dst.decode() if dst else None,
        dst_port=dport,
        src_ip=src.decode() if src else None,
        src_port=sport or None,
    )


def task_comm(line: bytes) -> str | None:
    """The task's comm at the head of a trace line (``<comm>-<tid> (<tgid>) [cpu]``): what
    ``proc.name`` falls back to when the process is gone before /proc could be read."""
    at = line.find(MARKER)
    tasks = list(_TASK.finditer(line, 0, at if at >= 0 else len(line)))
    if not tasks:
        return None
    comm = line[: tasks[-1].start()].strip()
    return comm.decode(errors="replace") or None


class ConnectSource(TracePipeSource):
    name = "connect"
    events = ((EVENT, f"newstate == {TCP_SYN_SENT}"),)
    options = ("record-tgid",)  # proc.pid is the process (tgid), not the connecting thread

    def _record(self, line: bytes) -> ExecRecord | None:
        parsed = parse_connect(line)
        if parsed is None:
            self.lost += parse_lost(line)
            return None
        pid, network = parsed
        snap = read_snapshot(pid, self.proc, parts=self.parts)  # the cgroup names the container
        if snap.comm is None:  # gone already (a refused client exits at once)
            snap = replace(snap, comm=task_comm(line))
        return ExecRecord(time.time_ns(), pid, "", self.name, snap, network=network)
