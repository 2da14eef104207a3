"""A real ``mamori up`` (server + local sensor) in a subprocess, and a token for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mamori.store.pgtemp import free_port
from tests.conftest import REPO, unavailable
from tests.sensor.conftest import dockerd, root  # noqa: F401 (fixtures)


@dataclass(frozen=True)
class Up:
    url: str
    token_file: Path
    log: Path


def mamori(*args: str, env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-m", "mamori", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        **kw,
    )


def _env(data: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "MAMORI_DATA_DIR": str(data),
        "MAMORI_PORT": str(port),
        "MAMORI_LOG_LEVEL": "warning",
    }


@pytest.fixture
def mamori_up(dockerd: None, tmp_path: Path) -> Iterator[Callable[..., Up]]:  # noqa: F811
    """Start ``mamori up [args]``; waits for the server and the local sensor; stops it by pid."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> Up:
        n = len(procs)
        data = tmp_path / f"data{n}"
        port = free_port()
        env = _env(data, port)
        made = mamori(
            "token", "create", "sim", "--scope", "read", "--scope", "ingest", "--json", env=env
        )
        assert made.returncode == 0, made.stderr
        token_file = tmp_path / f"token{n}"
        token_file.write_text(json.loads(made.stdout)["token"])
        log = tmp_path / f"up{n}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mamori", "up", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mamori up did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        text = log.read_text()
        if "local sensor on" not in text:
            unavailable(f"the local sensor is off: {text[-500:]}")
        return Up(url, token_file, log)

    try:
        yield start
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
