"""Response actions: kill a process, stop or pause its container (Docker API).

Each action returns a ``ResponseResult`` (never raises for an expected failure: the process is
gone, the container exited), so an alerting path can record what was done.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from urllib.parse import quote

from mamori.sensor.identity.docker import DockerClient, DockerError
from mamori.sensor.sources.procfs import parse_stat, read_file


@dataclass(frozen=True, slots=True)
class ResponseResult:
    action: str
    target: str
    ok: bool
    detail: str = ""


def kill_process(pid: int, start_ticks: int | None = None, proc: str = "/proc") -> ResponseResult:
    """SIGKILL ``pid``; with ``start_ticks`` only if it is still the same process (pid reuse)."""
    target = str(pid)
    if start_ticks is not None:
        data = read_file(f"{proc}/{pid}/stat", 4096)
        parsed = parse_stat(data) if data else None
        if parsed is None or parsed[3] != start_ticks:
            return ResponseResult("kill", target, False, "process gone or pid reused")
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return ResponseResult("kill", target, False, "no such process")
    except PermissionError as exc:
        return ResponseResult("kill", target, False, str(exc))
    return ResponseResult("kill", target, True)


def _container_action(client: DockerClient, action: str, cid: str, query: str) -> ResponseResult:
    try:
        status = client.post(f"/containers/{quote(cid)}/{action}{query}")
    except DockerError as exc:
        return ResponseResult(action, cid, False, str(exc))
    return ResponseResult(action, cid, True, "already done" if status == 304 else "")


def stop_container(client: DockerClient, cid: str, timeout_s: int = 0) -> ResponseResult:
    """Stop (SIGTERM, then SIGKILL after ``timeout_s``; 0 = at once)."""
    return _container_action(client, "stop", cid, f"?t={int(timeout_s)}")


def pause_container(client: DockerClient, cid: str) -> ResponseResult:
    """Freeze every process of the container (cgroup freezer); ``unpause`` resumes."""
    return _container_action(client, "pause", cid, "")


def unpause_container(client: DockerClient, cid: str) -> ResponseResult:
    return _container_action(client, "unpause", cid, "")
