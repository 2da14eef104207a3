"""Response actions: kill a process, stop or pause its container (Docker API).

Rules ask for them with ``mamori.response.<action>`` tags; ``Responder`` runs them in the
sensor's pipeline and records the outcome on the alert.

Each action returns a ``ResponseResult`` (never raises for an expected failure: the process is
gone, the container exited), so an alerting path can record what was done.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, replace
from types import MappingProxyType
from urllib.parse import quote

from mamori.core.findings import Alert
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


# -- rule-driven responses -------------------------------------------------------------------

TAG_PREFIX = "mamori.response."
ACTIONS = ("kill_process", "stop_container", "pause_container")
CONTAINER_REPEAT_S = 60.0  # one stop/pause per container per minute, however many alerts


class Responder:
    """Carries out the responses a rule asks for with tags (``mamori.response.kill_process``,
    ``mamori.response.stop_container``, ``mamori.response.pause_container``) and records each
    outcome on the alert (``response`` field, and the output line), so what was done is never
    a guess. Only processes in containers are acted on: a rule can never kill a host process.
    """

    def __init__(
        self, client: DockerClient | None, proc: str = "/proc", dry_run: bool = False
    ) -> None:
        self.client = client
        self.proc = proc
        self.dry_run = dry_run  # record what a rule asked for, do nothing
        self._recent: dict[tuple[str, str], float] = {}
        self.done = 0
        self.failed = 0

    def apply(
        self, alert: Alert, pid: int | None, start_ticks: int | None, cid: str | None
    ) -> Alert:
        """``cid``: the full id of the event's container (None: a host process)."""
        wanted = [t[len(TAG_PREFIX) :] for t in alert.tags if t.startswith(TAG_PREFIX)]
        if not wanted:
            return alert
        # Results are named by the action the rule asked for (kill_process, not kill).
        results = [replace(self._one(a, cid, pid, start_ticks), action=a) for a in wanted]
        self.done += sum(r.ok for r in results)
        self.failed += sum(not r.ok for r in results)
        record = [
            {"action": r.action, "target": r.target, "ok": r.ok, "detail": r.detail}
            for r in results
        ]
        said = ", ".join(f"{r.action}={'ok' if r.ok else 'failed'}" for r in results)
        return replace(
            alert,
            fields=MappingProxyType({**alert.fields, "response": record}),
            output=f"{alert.output} (response: {said})",
        )

    def _one(
        self, action: str, cid: str | None, pid: int | None, start_ticks: int | None
    ) -> ResponseResult:
        target = cid or (str(pid) if pid else "?")
        if action not in ACTIONS:
            return ResponseResult(action, target, False, "unknown response action")
        if not cid or cid == "host":
            return ResponseResult(action, target, False, "not in a container: not acted on")
        if self.dry_run:
            return ResponseResult(action, target, False, "dry run: responses are off")
        if action == "kill_process":
            if pid is None:
                return ResponseResult(action, target, False, "no process id")
            return kill_process(pid, start_ticks, self.proc)
        if self.client is None:
            return ResponseResult(action, cid, False, "no container runtime API")
        now = time.monotonic()
        last = self._recent.get((action, cid))
        if last is not None and now - last < CONTAINER_REPEAT_S:
            return ResponseResult(action, cid, True, "already done")
        self._recent = {k: t for k, t in self._recent.items() if now - t < CONTAINER_REPEAT_S}
        self._recent[(action, cid)] = now
        if action == "stop_container":
            return stop_container(self.client, cid)
        return pause_container(self.client, cid)
