"""Live drift fixtures: the sensor's Docker engine and busybox image, a drift sensor factory.

Containers are ``--network none`` and labelled with this run's id; the sensor is stopped before
the containers are removed, so nothing is left waiting on a permission event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mamori.core.findings import Alert
from mamori.core.plugins import Detector
from mamori.sensor.runtime import Sensor, SensorOptions
from tests.conftest import unavailable
from tests.sensor.conftest import RUN_ID, docker
from tests.sensor.conftest import dockerd as dockerd
from tests.sensor.conftest import root as root
from tests.sensor.conftest import test_image as test_image


@pytest.fixture(autouse=True)
def _no_layer_walker_left() -> Iterator[None]:
    """A drift engine walks image layers in a thread that ends when idle (0.25 s); a test
    waits for it, so the next tests (posture forks workers only in a process without other
    threads) start with none."""
    yield
    deadline = time.monotonic() + 10
    while any(t.name == "mamori-drift-inodes" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the layer walker thread did not end"
        time.sleep(0.02)


class Collect:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def emit(self, alerts: Iterable[Alert]) -> None:
        self.alerts.extend(alerts)


class Events:
    """Every enriched event the sensor produced (a detector that never alerts)."""

    fields = None

    def __init__(self) -> None:
        self.events: list[Any] = []

    def detect(self, event: Any) -> Iterable[Alert]:
        self.events.append(event)
        return ()

    def drift(self, path: str) -> list[dict[str, Any]]:
        return [
            dict(e.extra)
            for e in self.events
            if e.extra.get("mamori.drift.path") == path and e.container and e.container.id in OURS
        ]


@dataclass
class Box:
    image: str
    ids: list[str] = field(default_factory=list)

    def start(
        self,
        *docker_args: str,
        labels: dict[str, str] | None = None,
        cmd: tuple[str, ...] = ("sleep", "3600"),
    ) -> str:
        args = ["run", "-d", "--network", "none", "--label", f"mamori.test.run={RUN_ID}"]
        for k, v in (labels or {}).items():
            args += ["--label", f"{k}={v}"]
        cid = docker(*args, *docker_args, self.image, *cmd)
        self.ids.append(cid)
        OURS.add(cid)
        return cid

    def sh(self, cid: str, script: str, timeout: float = 30) -> tuple[int, str]:
        import subprocess

        proc = subprocess.run(
            ["docker", "exec", cid, "sh", "-c", script],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return proc.returncode, proc.stdout + proc.stderr

    def adopt(self, cid: str) -> str:
        """A container this test made another way: ours (its alerts count), removed after."""
        self.ids.append(cid)
        OURS.add(cid)
        return cid

    def cleanup(self) -> None:
        if self.ids:
            docker("rm", "-f", *self.ids, check=False)


PROGS = Path(__file__).parent / "progs"


@pytest.fixture(scope="session")
def drifttool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The static test launcher (gcc -static; CI installs gcc libc6-dev)."""
    import shutil
    import subprocess

    if shutil.which("gcc") is None:
        unavailable("gcc not installed (apt-get install -y gcc libc6-dev)")
    out = tmp_path_factory.mktemp("progs") / "drifttool"
    proc = subprocess.run(
        ["gcc", "-static", "-O2", "-o", str(out), str(PROGS / "drifttool.c")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        unavailable(f"cannot build drifttool: {proc.stderr[-400:]}")
    return out


LAYERED = """\
FROM {base}
RUN mkdir -p /opt/t && cp /bin/busybox /opt/t/true
RUN rm /bin/true && rm -rf /opt/t && mkdir /opt/t
"""


@pytest.fixture(scope="session")
def layered_image(test_image: str) -> Iterator[str]:
    """The test image plus a layer with a whiteout (/bin/true) and an opaque dir (/opt/t)."""
    import hashlib
    import os
    import subprocess

    text = LAYERED.format(base=test_image)
    name = f"local/mamori-test-layered:{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    made = False
    if not docker("images", "-q", name):
        proc = subprocess.run(
            ["docker", "build", "--network", "none", "-t", name, "-"],
            input=text, capture_output=True, text=True, timeout=300, check=False,
            env=dict(os.environ, DOCKER_BUILDKIT="0"),
        )  # fmt: skip
        if proc.returncode != 0:
            unavailable(f"docker build (legacy builder) failed: {proc.stderr[-400:]}")
        made = True
    yield name
    if made:
        docker("rmi", "-f", name, check=False)


@pytest.fixture
def box(test_image: str) -> Iterator[Box]:
    b = Box(test_image)
    try:
        yield b
    finally:
        b.cleanup()


# Containers this test session started: alerts from anything else on the host are not ours.
OURS: set[str] = set()


@dataclass
class Running:
    sensor: Sensor
    alerts: Collect
    events: Events

    def settle(self, until: Callable[[], bool] = lambda: False, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        self.sensor.wait_idle()

    def drift_alerts(self, path: str | None = None) -> list[Alert]:
        """Drift alerts of this session's containers (the sensor sees the whole host)."""
        return [
            a
            for a in self.alerts.alerts
            if a.source == "drift"
            and a.fields.get("container.full_id") in OURS
            and (path is None or a.fields.get("proc.exepath") == path)
        ]


@pytest.fixture
def drift_sensor(dockerd: None) -> Iterator[Callable[..., Any]]:
    started: list[Sensor] = []

    @contextmanager
    def make(
        policy: Path | None = None, detectors: tuple[Detector, ...] = (), **options: Any
    ) -> Iterator[Running]:
        alerts, events = Collect(), Events()
        detectors = (events, *detectors)
        options.setdefault("sources", ("fanotify",))
        opts = SensorOptions(
            cluster="test-cluster",
            connect=False,
            drift=True,
            drift_policy=policy,
            **options,
        )
        sensor = Sensor(opts, list(detectors), [alerts])
        sensor.start()
        started.append(sensor)
        try:
            yield Running(sensor, alerts, events)
        finally:
            sensor.stop()
            started.remove(sensor)

    yield make
    for s in started:
        s.stop()
