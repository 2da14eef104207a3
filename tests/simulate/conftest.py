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


# -- a fake kubectl: records every call, emulates the verbs the Kubernetes target uses ---------

FAKE_KUBECTL = r"""
import json, os, signal, sys

args = sys.argv[1:]
stdin = sys.stdin.read() if "-f" in args and "-" in args else None
with open(os.environ["FAKE_KUBECTL_LOG"], "a") as log:
    log.write(json.dumps({"argv": args, "stdin": stdin}) + "\n")
fail = os.environ.get("FAKE_KUBECTL_FAIL", "")
while args and args[0] in ("--kubeconfig", "--context"):
    args = args[2:]
verb = args[0]
if verb == "get" and args[1] == "namespace":
    if fail == "cluster":
        sys.stderr.write("The connection to the server 127.0.0.1:6443 was refused - "
                         "did you specify the right host or port?\n")
        sys.exit(1)
    for ns in os.environ.get("FAKE_KUBECTL_EXISTING", "").split():
        if ns in args:
            print(f"namespace/{ns}")
elif verb == "apply":
    print("applied")
elif verb == "wait":
    marker = os.environ["FAKE_KUBECTL_LOG"] + ".waited"
    if fail == "wait" or (fail == "slow" and not os.path.exists(marker)):
        open(marker, "w").close()
        sys.stderr.write(f"error: timed out waiting for the condition on {args[-2]}\n")
        sys.exit(1)
    print(f"{args[-2]} condition met")
elif verb == "get" and args[1] == "pod":
    if "containerID" in args[-1]:
        print(f"containerd://{abs(hash(args[2])):064x}", end="")
    elif fail == "wait":
        print("Completed  ErrImageNeverPull ", end="")  # init done, the victim cannot start
    elif fail == "slow":
        print(" ContainerCreating ", end="")
elif verb == "describe":
    print(f"Name: {args[2]}\nEvents:\n  Warning  ErrImageNeverPull  kubelet  "
          "Container image is not present with pull policy of Never")
elif verb == "exec":
    if fail == "exec":
        sys.stderr.write('Error from server (NotFound): pods "x" not found\n')
        sys.exit(1)
    if fail == "sigint":
        os.kill(os.getppid(), signal.SIGINT)
    if fail == "remote":
        sys.stderr.write("command terminated with exit code 3\n")
        sys.exit(3)
elif verb == "delete":
    print(f'{args[1]} "{args[2]}" deleted')
else:
    sys.stderr.write(f"fake kubectl: unknown call {args}\n")
    sys.exit(2)
"""


@dataclass
class FakeKubectl:
    path: Path
    log: Path

    def calls(self) -> list[dict[str, object]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def argvs(self) -> list[list[str]]:
        return [list(c["argv"]) for c in self.calls()]  # type: ignore[call-overload]


@pytest.fixture
def fake_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKubectl:
    """``kubectl`` on PATH (first), a Python script recording its argv (and stdin for ``apply -f
    -``) as JSON lines; ``FAKE_KUBECTL_FAIL`` = cluster | wait | slow (the first wait times out,
    the pod still being created) | exec | remote | sigint makes one verb fail;
    ``FAKE_KUBECTL_EXISTING`` names namespaces that exist already."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    path = bindir / "kubectl"
    path.write_text(f"#!{sys.executable}\n{FAKE_KUBECTL}")
    path.chmod(0o755)
    log = tmp_path / "kubectl.log"
    monkeypatch.setenv("FAKE_KUBECTL_LOG", str(log))
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ.get('PATH', '')}")
    monkeypatch.delenv("FAKE_KUBECTL_FAIL", raising=False)
    monkeypatch.delenv("FAKE_KUBECTL_EXISTING", raising=False)
    return FakeKubectl(path, log)
