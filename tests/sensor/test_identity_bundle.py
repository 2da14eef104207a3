"""containerd / CRI-O identity from OCI bundles: annotation parsing, and a real containerd
container (dockerd's own containerd, a separate namespace) seen by the sensor with its pod."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.core.events import Event
from mamori.sensor.identity.bundle import TASK_DIR, BundleResolver, bundle_meta
from mamori.sensor.runtime import Sensor, SensorOptions
from tests.conftest import unavailable

DOCKER_CONTAINERD = "/var/run/docker/containerd/containerd.sock"
DOCKER_TASKS = f"/var/run/docker/containerd/daemon/{TASK_DIR}"
NS = "mamori-test"


def _containerd_config(kind: str = "container") -> dict[str, object]:
    return {
        "root": {"path": "/run/containerd/x/rootfs"},
        "annotations": {
            "io.kubernetes.cri.container-type": kind,
            "io.kubernetes.cri.sandbox-name": "web-7d9f",
            "io.kubernetes.cri.sandbox-namespace": "shop",
            "io.kubernetes.cri.sandbox-uid": "u-1",
            "io.kubernetes.cri.container-name": "app",
            "io.kubernetes.cri.image-name": "registry.local:5000/shop/web:1.4",
        },
    }


def test_containerd_annotations() -> None:
    meta = bundle_meta("a" * 64, _containerd_config(), "containerd", 42, "k8s.io")
    assert meta is not None
    c, k = meta.container, meta.k8s
    assert (c.name, c.image_repository, c.image_tag, c.runtime) == (
        "app",
        "registry.local:5000/shop/web",
        "1.4",
        "containerd",
    )
    assert k is not None
    assert (k.pod_name, k.namespace, k.pod_uid, k.container_name) == (
        "web-7d9f",
        "shop",
        "u-1",
        "app",
    )
    assert (meta.pid, meta.merged_dir) == (42, "/run/containerd/x/rootfs")
    assert bundle_meta("b" * 64, _containerd_config("sandbox"), "containerd", 1) is None


def test_crio_annotations_carry_pod_labels() -> None:
    config = {
        "annotations": {
            "io.kubernetes.pod.name": "db-0",
            "io.kubernetes.pod.namespace": "data",
            "io.kubernetes.container.name": "postgres",
            "io.kubernetes.cri-o.ImageName": "docker.io/library/postgres:16",
            "io.kubernetes.cri-o.Labels": json.dumps(
                {"app": "db", "io.kubernetes.pod.name": "db-0"}
            ),
        }
    }
    meta = bundle_meta("c" * 64, config, "cri-o", None)
    assert meta is not None
    assert meta.k8s is not None
    assert dict(meta.k8s.pod_labels) == {"app": "db"}
    assert meta.container.image == "docker.io/library/postgres:16"


def test_ids_never_walk_the_tree(tmp_path: Path) -> None:
    bundle = tmp_path / "ns" / "x"
    bundle.mkdir(parents=True)
    (bundle / "config.json").write_text(json.dumps(_containerd_config()))
    resolver = BundleResolver([str(tmp_path)], None)
    assert resolver.resolve("x") is not None
    assert resolver.resolve("../ns/x") is None
    assert resolver.resolve("") is None


def _ctr(*args: str, timeout: float = 120) -> str:
    proc = subprocess.run(
        ["ctr", "-a", DOCKER_CONTAINERD, "-n", NS, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(f"ctr {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


@pytest.fixture
def containerd_container(test_image: str, tmp_path: Path) -> Iterator[str]:
    if not Path(DOCKER_CONTAINERD).exists():
        unavailable(f"dockerd's containerd socket missing: {DOCKER_CONTAINERD}")
    archive = tmp_path / "image.tar"
    subprocess.run(["docker", "save", "-o", str(archive), test_image], check=True, timeout=120)
    _ctr("images", "import", str(archive))
    ref = test_image if "/" in test_image.split(":")[0] else f"docker.io/library/{test_image}"
    ref = f"docker.io/{test_image}" if not ref.startswith("docker.io/") else ref
    cid = secrets.token_hex(32)
    annotations = {
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.sandbox-name": "web-1",
        "io.kubernetes.cri.sandbox-namespace": "shop",
        "io.kubernetes.cri.container-name": "app",
        "io.kubernetes.cri.image-name": "docker.io/shop/app:1",
    }
    args = ["run", "-d"]
    for k, v in annotations.items():
        args += ["--annotation", f"{k}={v}"]
    _ctr(*args, ref, cid, "sleep", "600")
    try:
        yield cid
    finally:
        for cleanup in (
            ("task", "delete", "-f", cid),
            ("containers", "delete", cid),
            ("images", "delete", ref),
        ):
            subprocess.run(
                ["ctr", "-a", DOCKER_CONTAINERD, "-n", NS, *cleanup],
                capture_output=True,
                timeout=60,
            )


class _Events:
    fields = None

    def __init__(self) -> None:
        self.events: list[Event] = []

    def detect(self, event: Event) -> tuple[()]:
        self.events.append(event)
        return ()


@pytest.mark.docker
@pytest.mark.root
def test_real_containerd_container_is_resolved_with_its_pod(containerd_container: str) -> None:
    cid = containerd_container
    meta = BundleResolver([DOCKER_TASKS], None).resolve(cid)
    assert meta is not None
    assert meta.k8s is not None
    assert (meta.k8s.pod_name, meta.k8s.namespace, meta.container.name) == ("web-1", "shop", "app")
    assert meta.pid is not None
    assert Path(f"/proc/{meta.pid}/cgroup").read_text()  # the container's init, alive
    # The sensor: an exec in that container carries the pod from the bundle (Docker says 404).
    seen = _Events()
    sensor = Sensor(SensorOptions(sources=("fanotify",), cluster="c"), [seen], [])
    sensor.start()
    try:
        time.sleep(0.5)  # the mount watcher marked the rootfs at start
        _ctr("task", "exec", "--exec-id", "probe", cid, "/bin/true")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            sensor.wait_idle()
            mine = [e for e in seen.events if e.container and e.container.id == cid]
            if mine:
                break
            time.sleep(0.1)
        # A marked container can still be removed while the sensor runs: containerd unmounts
        # without MNT_DETACH, so an fd the sensor kept on the rootfs would make it EBUSY.
        removed = subprocess.run(
            ["ctr", "-a", DOCKER_CONTAINERD, "-n", NS, "task", "delete", "-f", cid],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        sensor.stop()
    assert removed.returncode == 0, removed.stderr
    assert mine, "no exec event from the containerd container"
    event = mine[0]
    assert event.k8s is not None
    assert (event.k8s.pod_name, event.k8s.namespace) == ("web-1", "shop")
    assert event.container is not None
    assert (event.container.runtime, event.container.image) == (
        "containerd",
        "docker.io/shop/app:1",
    )
