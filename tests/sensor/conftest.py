"""Sensor fixtures: a Docker engine (started here when none runs), a busybox test image, cleanup.

Images are built locally with ``docker import`` (no registry). ``/bin/true`` is a real copy of
busybox (not a symlink), so exec events name it. Containers get ``--network none`` and a
``mamori.test.run`` label; only containers with this run's label are removed.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mamori.simulate import runner as simulate_runner
from tests.conftest import unavailable

RUN_ID = uuid.uuid4().hex[:12]
BUSYBOX = Path("/bin/busybox")
K8S_LABELS = {
    "io.kubernetes.pod.name": "web-0",
    "io.kubernetes.pod.namespace": "shop",
    "io.kubernetes.container.name": "app",
}


def docker(*args: str, timeout: float = 60, check: bool = True) -> str:
    proc = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def _docker_ok() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def root() -> None:
    if os.geteuid() != 0:
        unavailable("needs root")


@pytest.fixture(scope="session")
def dockerd(root: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A running engine; started (and later stopped, by pid) only when none answers."""
    if shutil.which("docker") is None or shutil.which("dockerd") is None:
        unavailable("docker not installed (apt-get install -y docker.io busybox-static)")
    if _docker_ok():
        yield
        return
    log = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not _docker_ok():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            unavailable(f"dockerd did not start; see {log}")
        time.sleep(0.5)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _rootfs_tar(dest: Path) -> Path:
    """busybox + applet links; /bin/true a regular copy so its exec events say /bin/true."""
    tar = dest / "rootfs.tar"
    applets = subprocess.run(
        [str(BUSYBOX), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    with tarfile.open(tar, "w") as t:
        for d in ("bin", "tmp", "proc", "sys", "dev", "etc"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            t.addfile(info)
        t.add(BUSYBOX, "bin/busybox")
        t.add(BUSYBOX, "bin/true")
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
    return tar


@pytest.fixture(scope="session")
def test_image(dockerd: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not BUSYBOX.exists():
        unavailable("busybox-static not installed")
    digest = hashlib.sha256(BUSYBOX.read_bytes() + b"v1").hexdigest()[:12]
    name = f"local/mamori-test-sensor:{digest}"
    made = False
    if not docker("images", "-q", name):
        tar = _rootfs_tar(tmp_path_factory.mktemp("rootfs"))
        subprocess.run(
            ["docker", "import", "--change", 'CMD ["/bin/sh"]', str(tar), name],
            check=True,
            capture_output=True,
            timeout=120,
        )
        made = True
    yield name
    if made:
        docker("rmi", "-f", name, check=False)


@dataclass
class Containers:
    image: str
    ids: list[str] = field(default_factory=list)

    def run(
        self,
        *cmd: str,
        labels: dict[str, str] | None = None,
        detach: bool = False,
        rm: bool = False,
        timeout: float = 120,
    ) -> str:
        args = ["run", "--network", "none", "--label", f"mamori.test.run={RUN_ID}"]
        for k, v in (labels or {}).items():
            args += ["--label", f"{k}={v}"]
        if detach:
            args.append("-d")
        if rm:
            args.append("--rm")
        out = docker(*args, self.image, *cmd, timeout=timeout)
        if detach:
            self.ids.append(out)
        return out

    def cleanup(self) -> None:
        if self.ids:
            docker("rm", "-f", *self.ids, check=False)
        left = docker("ps", "-aq", "--filter", f"label=mamori.test.run={RUN_ID}", check=False)
        if left:
            docker("rm", "-f", *left.split(), check=False)


@pytest.fixture
def containers(test_image: str) -> Iterator[Containers]:
    c = Containers(test_image)
    try:
        yield c
    finally:
        c.cleanup()


def exec_with_tty(cid: str, *cmd: str, typed: bytes = b"") -> int:
    """``docker exec -it`` with a pty as its terminal (the simulation's helper, shared)."""
    return simulate_runner.exec_with_tty(cid, cmd, typed=typed)
