"""Play scenarios against a mamori server and a target next to its sensor.

The scenario and judging loop (``Runner``) is one; where the victim runs is a ``Target``: the
Docker engine here (``DockerTarget``), or a cluster through ``kubectl``
(``mamori.simulate.kubectl.KubernetesTarget``). On Docker every container gets
``--network none``, kubelet-style labels naming a per-run pod and a ``mamori.simulation=<run id>``
label; the target removes them (by id, and by that label) at the end.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx

from mamori.core.errors import MamoriError
from mamori.simulate import image
from mamori.simulate.judge import Attribution, Want, judge
from mamori.simulate.scenarios import (
    API_SERVER,
    Audit,
    ClusterActions,
    Exec,
    Scenario,
    fresh_events,
)

SIM_LABEL = "mamori.simulation"
POLL_S = 0.5
VICTIM_ENV = {"KUBERNETES_SERVICE_HOST": API_SERVER, "KUBERNETES_SERVICE_PORT": "443"}


class SimulationError(MamoriError):
    """The simulation could not run (no Docker, server unreachable, bad token)."""


class SetupError(SimulationError):
    """The target cannot run any scenario (no kubectl, cluster unreachable, images missing):
    the run stops (exit 2) instead of failing every scenario the same way."""


@dataclass
class Result:
    scenario: str
    expected: tuple[Want, ...]
    raised: list[str] = field(default_factory=list)  # alert labels, first-seen order
    missing: list[Want] = field(default_factory=list)
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
    """The locally built victim image (see ``mamori.simulate.image``); reused when present."""
    try:
        return image.victim_image(docker)
    except image.ImageError as exc:
        raise SimulationError(str(exc)) from exc


def exec_with_tty(
    cid: str, argv: Iterable[str], user: str | None = None, typed: bytes = b""
) -> int:
    """``docker exec -it`` on a pty we hold: the process gets a controlling terminal.
    ``typed`` is written to the terminal after a second (the process must still be there when
    the sensor reads its terminal)."""
    user_args = ["-u", user] if user else []
    return run_with_tty([_docker_bin(), "exec", "-it", *user_args, cid, *argv], typed)


def run_with_tty(argv: Sequence[str], typed: bytes = b"") -> int:
    """Run ``argv`` (``docker exec -it ...``, ``kubectl exec -it ...``) with a pty we hold as
    its stdin/stdout/stderr; ``typed`` goes to the terminal after a second."""
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(  # noqa: S603 - argv, no shell
            list(argv),
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


@dataclass(frozen=True)
class Started:
    """A scenario's victim as its target started it: ``ref`` names it to the target (a Docker
    container id; ``namespace/pod`` on Kubernetes); ``container_id`` is the runtime's id of the
    victim container, when known (alerts carry it)."""

    ref: str
    container_id: str | None = None


class Target(Protocol):
    """Where the victims run. ``prepare`` once per run (may raise ``SetupError``), ``start`` per
    scenario with exec steps, ``exec`` per step, ``cleanup`` always (also after an error or
    Ctrl-C; it must not raise for what is already gone)."""

    @property
    def started(self) -> list[str]: ...

    def prepare(self, run_id: str, scenarios: Sequence[Scenario]) -> None: ...

    def start(self, sc: Scenario, pod: str) -> Started: ...

    def exec(self, victim: Started, step: Exec) -> None: ...

    def cluster_actions(self, victim: Started, sc: Scenario) -> set[tuple[str, str]]:
        """Do ``ClusterActions``; the (resource, name) pairs of the API objects involved."""
        ...

    def cleanup(self) -> None: ...


class DockerTarget:
    """One ``docker run --network none`` container per scenario, steps by ``docker exec``."""

    def __init__(self, image: str | None = None) -> None:
        self.image = image
        self.run_id = ""
        self._started: list[str] = []  # container ids, for cleanup and for callers to inspect
        self._attacker: Path | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def started(self) -> list[str]:
        return self._started

    def prepare(self, run_id: str, scenarios: Sequence[Scenario]) -> None:
        self.run_id = run_id

    def cleanup(self) -> None:
        left = docker("ps", "-aq", "--filter", f"label={SIM_LABEL}={self.run_id}", check=False)
        ids = set(self._started) | set(left.split())
        if ids:
            docker("rm", "-f", *sorted(ids), check=False)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self._attacker = None

    def attacker_dir(self) -> Path:
        """The attacker's files, built once per run, mounted read-only into every victim."""
        if self._attacker is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mamori-sim-")
            os.chmod(self._tmp.name, 0o755)  # noqa: S103 - read by the container
            try:
                self._attacker = image.attacker_dir(Path(self._tmp.name) / "attacker")
            except image.ImageError as exc:
                raise SimulationError(str(exc)) from exc
        return self._attacker

    def container_args(self, sc: Scenario, pod: str) -> list[str]:
        """``docker run`` arguments: no network, kubelet-style labels, the simulation label."""
        labels: Mapping[str, str] = {
            "io.kubernetes.pod.name": pod,
            "io.kubernetes.pod.namespace": sc.namespace,
            "io.kubernetes.container.name": sc.container,
            SIM_LABEL: self.run_id,
            **sc.labels,
        }
        args = ["run", "-d", "--network", "none"]
        for k, v in labels.items():
            args += ["--label", f"{k}={v}"]
        for k, v in VICTIM_ENV.items():
            args += ["--env", f"{k}={v}"]
        args += ["--volume", f"{self.attacker_dir()}:/attacker:ro"]
        return args

    def start(self, sc: Scenario, pod: str) -> Started:
        if self.image is None:
            self.image = victim_image()
        cid = docker(*self.container_args(sc, pod), self.image, "sleep", "600")
        self._started.append(cid)
        return Started(cid, cid)

    def exec(self, victim: Started, step: Exec) -> None:
        if step.tty:
            exec_with_tty(victim.ref, step.argv, step.user, step.typed)
        else:
            user = ["-u", step.user] if step.user else []
            docker("exec", *user, victim.ref, *step.argv, check=False)

    def cluster_actions(self, victim: Started, sc: Scenario) -> set[tuple[str, str]]:
        raise SimulationError("real control-plane actions need --target kubernetes")


@dataclass
class _Run:
    scenario: Scenario
    pod: str
    container_ids: set[str] = field(default_factory=set)
    audit_ids: set[str] = field(default_factory=set)
    objects: set[tuple[str, str]] = field(default_factory=set)

    def attribution(self) -> Attribution:
        return Attribution(
            self.scenario.namespace,
            self.pod,
            frozenset(self.container_ids),
            frozenset(self.audit_ids),
            frozenset(self.objects),
        )


class Runner:
    """Plays scenarios one after the other on a target (default: Docker)."""

    def __init__(
        self,
        client: Client,
        image: str | None = None,
        log: Callable[[str], None] = lambda _m: None,
        target: Target | None = None,
    ) -> None:
        self.client = client
        self.target: Target = target if target is not None else DockerTarget(image)
        self.log = log
        self.run_id = uuid.uuid4().hex[:10]

    @property
    def started(self) -> list[str]:
        """What the target started (Docker: container ids), for the caller to inspect."""
        return self.target.started

    def run(self, scenarios: Iterable[Scenario]) -> list[Result]:
        chosen = list(scenarios)
        try:
            self.target.prepare(self.run_id, chosen)
            return [self._one(s) for s in chosen]
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        self.target.cleanup()

    def _one(self, sc: Scenario) -> Result:
        result = Result(sc.name, sc.expected)
        pod = f"mamori-sim-{sc.name}-{self.run_id}"
        run = _Run(sc, pod)
        since = datetime.now(UTC) - timedelta(seconds=2)
        try:
            victim = self.target.start(sc, pod) if sc.needs_container else None
            if victim is not None:
                if victim.container_id:
                    run.container_ids.add(victim.container_id)
                time.sleep(2.0)  # the sensor marks new containers from the runtime's events
            for step in sc.steps:
                self._step(step, victim, run)
        except SetupError:
            raise
        except SimulationError as exc:
            result.error = str(exc)
            return result
        done = time.monotonic()
        who = run.attribution()
        seen: dict[str, tuple[dict[str, Any], float]] = {}
        deadline = done + (sc.time_limit_s if sc.expected else sc.settle_s)
        settled: float | None = None
        while True:
            for alert in self.client.alerts_since(since):
                if who.mine(alert) and alert["id"] not in seen:
                    seen[alert["id"]] = (alert, time.monotonic() - done)
                    self.log(f"{sc.name}: {alert['rule']} after {seen[alert['id']][1]:.1f}s")
            verdict = judge(sc.expected, sc.may_raise, sc.must_not, list(seen.values()))
            now = time.monotonic()
            if sc.expected and not verdict.missing and settled is None:
                settled = now + sc.settle_s  # a little longer, for unexpected alerts
            if now >= deadline or (settled is not None and now >= settled):
                break
            time.sleep(POLL_S)
        result.raised = list(verdict.raised)
        result.missing = list(verdict.missing)
        result.unexpected = list(verdict.unexpected)
        result.time_to_alert_s = verdict.time_to_alert_s
        return result

    def _step(self, step: Exec | Audit | ClusterActions, victim: Started | None, run: _Run) -> None:
        if isinstance(step, Audit):
            events = fresh_events(step.events, datetime.now(UTC), self.run_id)
            run.audit_ids.update(e["auditID"] for e in events)
            self.client.post_audit(events)
            return
        assert victim is not None
        if isinstance(step, ClusterActions):
            run.objects.update(self.target.cluster_actions(victim, run.scenario))
            return
        self.target.exec(victim, step)
