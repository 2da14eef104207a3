"""Fixtures for the vulns tests: a layer cache in a scratch dir, the shared conformance data,
and real components (Docker engine, docker-registry, skopeo) when this machine has them."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.store.pgtemp import free_port
from mamori.vulns.images import LayerCache
from tests.conftest import SHARED, unavailable
from tests.vulns.tokenserver import TokenServer

VULN = SHARED / "conformance" / "vuln"


@pytest.fixture
def cache(tmp_path: Path) -> LayerCache:
    return LayerCache(tmp_path / "cache")


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A Docker engine: the running one, else one started here (and stopped only then)."""
    if shutil.which("docker") is None or shutil.which("dockerd") is None:
        unavailable("docker / dockerd are not installed")
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0:
        yield
        return
    if os.geteuid() != 0:
        unavailable("no Docker engine running and not root to start one")
    log = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "info"], capture_output=True, check=False).returncode:
            if time.monotonic() > deadline or proc.poll() is not None:
                unavailable(f"dockerd did not start; see {log}")
            time.sleep(0.5)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _htpasswd_line(user: str, password: str) -> str:
    script = "import crypt,sys;print(crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH)))"
    out = subprocess.run(
        ["/usr/bin/python3", "-W", "ignore", "-c", script, user, password],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return f"{user}:{out}"


class Registry:
    def __init__(self, host: str, user: str, password: str) -> None:
        self.host = host
        self.user = user
        self.password = password

    def push(self, source: str, name: str) -> str:
        """skopeo copy SOURCE (e.g. ``oci:DIR:1``) to this registry; returns host/name."""
        dest = f"{self.host}/{name}"
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--all",
                "--dest-tls-verify=false",
                "--dest-creds",
                f"{self.user}:{self.password}",
                source,
                f"docker://{dest}",
            ],
            check=True,
            capture_output=True,
        )
        return dest


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Debian's docker-registry on 127.0.0.1 with htpasswd (basic) auth."""
    root = tmp_path_factory.mktemp("registry")
    (root / "htpasswd").write_text(_htpasswd_line("mamori", "s3cret-pw") + "\n")
    auth = f"htpasswd: {{realm: mamori-test, path: {root / 'htpasswd'}}}"
    yield from _serve_registry(root, auth, "mamori", "s3cret-pw")


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenRegistry]:
    """Debian's docker-registry with ``auth: token:``, trusting a token server run here."""
    root = tmp_path_factory.mktemp("token-registry")
    server = TokenServer(root, "mamori", "t0ken-pw", "mamori-registry", "mamori-test-issuer")
    auth = (
        f'token: {{realm: "{server.realm}", service: {server.service}, '
        f'issuer: {server.issuer}, rootcertbundle: "{server.bundle}"}}'
    )
    try:
        for reg in _serve_registry(root, auth, server.user, server.password):
            yield TokenRegistry(reg.host, reg.user, reg.password, server)
    finally:
        server.close()


class TokenRegistry(Registry):
    def __init__(self, host: str, user: str, password: str, server: TokenServer) -> None:
        super().__init__(host, user, password)
        self.server = server


def _serve_registry(root: Path, auth: str, user: str, password: str) -> Iterator[Registry]:
    exe = shutil.which("docker-registry")
    if exe is None or shutil.which("skopeo") is None:
        unavailable("docker-registry and skopeo are not installed (apt-get install both)")
    assert exe is not None
    port = free_port()
    (root / "config.yml").write_text(
        f"""version: 0.1
log: {{level: error}}
storage:
  filesystem: {{rootdirectory: {root / "data"}}}
http:
  addr: 127.0.0.1:{port}
auth:
  {auth}
"""
    )
    log = (root / "registry.log").open("wb")
    proc = subprocess.Popen([exe, "serve", str(root / "config.yml")], stdout=log, stderr=log)
    try:
        import httpx

        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/").status_code in (200, 401):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                unavailable(f"docker-registry did not start; see {root / 'registry.log'}")
            time.sleep(0.1)
        yield Registry(f"127.0.0.1:{port}", user, password)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
