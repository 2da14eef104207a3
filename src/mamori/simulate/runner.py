"""Play scenarios against a mamori server and the Docker engine next to its sensor.

Every container gets ``--network none``, kubelet-style labels naming a per-run pod and a
``mamori.simulation=<run id>`` label; the runner removes them (by id, and by that label) at the end.
"""

from __future__ import annotations

import hashlib
import io
import os
import select
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from mamori.core.errors import MamoriError
from mamori.simulate.scenarios import ANY, Audit, Exec, Scenario, fresh_events

SIM_LABEL = "mamori.simulation"
BUSYBOX = Path("/bin/busybox")
POLL_S = 0.5


class SimulationError(MamoriError):
    """The simulation could not run (no Docker, server unreachable, bad token)."""


@dataclass
class Result:
    scenario: str
    expected: tuple[str, ...]
    raised: list[str] = field(default_factory=list)  # distinct rules, first-seen order
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    time_to_alert_s: float | None = None  # steps done -> last expected alert seen
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and not self.missing and not self.unexpected


def _docker_bin() -> str:
    path = shutil.which("docker")
    if path is None:
        raise SimulationError("docker is not installed")
    return path


def docker(*args: str, timeout: float = 60, check: bool = True) -> str:
    try:
        proc = subprocess.run(  # noqa: S603 - argv, no shell
            [_docker_bin(), *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SimulationError(f"docker {args[0]}: {exc}") from exc
    if check and proc.returncode != 0:
        raise SimulationError(f"docker {' '.join(args[:2])}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def victim_image() -> str:
    """A busybox image built locally with ``docker import`` (no registry); reused when present."""
    if not BUSYBOX.exists():
        raise SimulationError(f"{BUSYBOX} not found (apt-get install busybox-static)")
    digest = hashlib.sha256(BUSYBOX.read_bytes() + b"sim-v1").hexdigest()[:12]
    name = f"local/mamori-sim-victim:{digest}"
    if docker("images", "-q", name):
        return name
    with tempfile.TemporaryDirectory() as tmp:
        tar = Path(tmp) / "rootfs.tar"
        _rootfs_tar(tar)
        docker("import", "--change", 'CMD ["/bin/sh"]', str(tar), name, timeout=120)
    return name


def _rootfs_tar(tar: Path) -> None:
    applets = subprocess.run(  # noqa: S603 - fixed argv
        [str(BUSYBOX), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    with tarfile.open(tar, "w") as t:
        for d in ("bin", "tmp", "proc", "sys", "dev", "etc"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            t.addfile(info)
        t.add(BUSYBOX, "bin/busybox")
        t.add(BUSYBOX, "bin/true")  # a regular file: exec events name /bin/true
        for name in applets:
            if name in ("busybox", "true"):
                continue
            info = tarfile.TarInfo(f"bin/{name}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            t.addfile(info)
        passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        t.addfile(info, io.BytesIO(passwd))


def exec_with_tty(
    cid: str, argv: Iterable[str], user: str | None = None, typed: bytes = b""
) -> int:
    """``docker exec -it`` on a pty we hold: the process gets a controlling terminal.
    ``typed`` is written to the terminal after a second (the process must still be there when
    the sensor reads its terminal)."""
    master, slave = os.openpty()
    user_args = ["-u", user] if user else []
    try:
        proc = subprocess.Popen(  # noqa: S603 - argv, no shell
            [_docker_bin(), "exec", "-it", *user_args, cid, *argv],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        slave = -1
        start = time.monotonic()
        deadline = start + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if typed and time.monotonic() - start > 1.0:
                os.write(master, typed)
                typed = b""
            readable, _, _ = select.select([master], [], [], 0.05)
            if readable:
                try:
                    os.read(master, 4096)  # keep the pty drained
                except OSError:
                    time.sleep(0.01)
        if proc.poll() is None:
            proc.kill()
        return proc.wait(5)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


class Client:
    """The two server calls the runner needs."""

    def __init__(self, server: str, read_token: str, ingest_token: str) -> None:
        self.http = httpx.Client(base_url=server.rstrip("/"), timeout=15)
        self.read = {"Authorization": f"Bearer {read_token}"}
        self.ingest = {"Authorization": f"Bearer {ingest_token}"}

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise SimulationError(f"server {self.http.base_url}: {exc}") from exc
        if r.status_code >= 400:
            raise SimulationError(f"{method} {path}: HTTP {r.status_code} {r.text[:200]}")
        return r

    def post_audit(self, events: list[dict[str, Any]]) -> None:
        body = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": events}
        self._call("POST", "/api/v1/audit/webhook", json=body, headers=self.ingest)

    def alerts_since(self, since: datetime) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"since": since.isoformat(), "limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = self._call("GET", "/api/v1/alerts", params=params, headers=self.read).json()
            out.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return out


@dataclass
class _Run:
    scenario: Scenario
    pod: str
    audit_ids: set[str] = field(default_factory=set)

    def mine(self, alert: dict[str, Any]) -> bool:
        f = alert.get("fields") or {}
        if f.get("ka.auditid") in self.audit_ids:
            return True
        return bool(
            f.get("k8s.pod.name") == self.pod and f.get("k8s.ns.name") == self.scenario.namespace
        )


class Runner:
    def __init__(
        self,
        client: Client,
        image: str | None = None,
        log: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self.client = client
        self.image = image
        self.log = log
        self.run_id = uuid.uuid4().hex[:10]
        self.started: list[str] = []  # container ids, for cleanup and for the caller to inspect

    def run(self, scenarios: Iterable[Scenario]) -> list[Result]:
        try:
            return [self._one(s) for s in scenarios]
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        left = docker("ps", "-aq", "--filter", f"label={SIM_LABEL}={self.run_id}", check=False)
        ids = set(self.started) | set(left.split())
        if ids:
            docker("rm", "-f", *sorted(ids), check=False)

    def _start(self, sc: Scenario, pod: str) -> str:
        if self.image is None:
            self.image = victim_image()
        labels = {
            "io.kubernetes.pod.name": pod,
            "io.kubernetes.pod.namespace": sc.namespace,
            "io.kubernetes.container.name": sc.container,
            SIM_LABEL: self.run_id,
            **sc.labels,
        }
        args = ["run", "-d", "--network", "none"]
        for k, v in labels.items():
            args += ["--label", f"{k}={v}"]
        cid = docker(*args, self.image, "sleep", "600")
        self.started.append(cid)
        return cid

    def _one(self, sc: Scenario) -> Result:
        result = Result(sc.name, sc.expected)
        pod = f"mamori-sim-{sc.name}-{self.run_id}"
        run = _Run(sc, pod)
        since = datetime.now(UTC) - timedelta(seconds=2)
        try:
            cid = self._start(sc, pod) if sc.needs_container else None
            if cid is not None:
                time.sleep(1.0)  # the sensor marks new containers from the runtime's events
            for step in sc.steps:
                self._step(step, cid, run)
        except SimulationError as exc:
            result.error = str(exc)
            return result
        done = time.monotonic()
        seen: dict[str, float] = {}
        deadline = done + (sc.time_limit_s if sc.expected else sc.settle_s)
        while True:
            for alert in self.client.alerts_since(since):
                if run.mine(alert) and alert["rule"] not in seen:
                    seen[alert["rule"]] = time.monotonic() - done
                    self.log(f"{sc.name}: {alert['rule']} after {seen[alert['rule']]:.1f}s")
            if sc.expected and all(r in seen for r in sc.expected):
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
        result.raised = list(seen)
        result.missing = [r for r in sc.expected if r not in seen]
        result.unexpected = [
            r for r in seen if r not in sc.expected and (ANY in sc.must_not or r in sc.must_not)
        ]
        hits = [seen[r] for r in sc.expected if r in seen]
        result.time_to_alert_s = max(hits) if hits else None
        return result

    def _step(self, step: Exec | Audit, cid: str | None, run: _Run) -> None:
        if isinstance(step, Audit):
            events = fresh_events(step, datetime.now(UTC))
            run.audit_ids.update(e["auditID"] for e in events)
            self.client.post_audit(events)
            return
        assert cid is not None
        if step.tty:
            exec_with_tty(cid, step.argv, step.user, step.typed)
        else:
            user = ["-u", step.user] if step.user else []
            docker("exec", *user, cid, *step.argv, check=False)
