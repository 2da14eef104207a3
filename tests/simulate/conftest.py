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


# -- kubectl over Docker: a one-node "cluster" whose pods are Docker containers ----------------

DOCKER_KUBECTL = r"""
import json, os, subprocess, sys
import yaml

state = os.environ["DOCKER_KUBECTL_STATE"]
args = sys.argv[1:]
while args and args[0] in ("--kubeconfig", "--context"):
    args = args[2:]
verb = args[0]


def docker(*a):
    return subprocess.run(["docker", *a], capture_output=True, text=True, check=True).stdout.strip()


def cid_of(ns, pod):
    return open(os.path.join(state, f"{ns}_{pod}.cid")).read().strip()


def run_pod(doc):
    # kubelet's part: volumes as host directories, init containers to completion, then the
    # container with the kubelet-style labels the sensor reads, and no network.
    meta, spec = doc["metadata"], doc["spec"]
    ns, pod = meta["namespace"], meta["name"]
    volumes = {}
    for v in spec.get("volumes", []):
        path = os.path.join(state, f"{ns}_{pod}_{v['name']}")
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o777)
        volumes[v["name"]] = path
    def mounts(c):
        out = []
        for m in c.get("volumeMounts", []):
            ro = ":ro" if m.get("readOnly") else ""
            out += ["-v", f"{volumes[m['name']]}:{m['mountPath']}{ro}"]
        return out
    for c in spec.get("initContainers", []):
        docker("run", "--rm", "--network", "none", *mounts(c), c["image"], *c["command"])
    (c,) = spec["containers"]
    labels = {"io.kubernetes.pod.name": pod, "io.kubernetes.pod.namespace": ns,
              "io.kubernetes.container.name": c["name"], **meta.get("labels", {})}
    flags = ["--network", "none", "--env", "KUBERNETES_SERVICE_HOST=10.96.0.1"]
    for k, v in labels.items():
        flags += ["--label", f"{k}={v}"]
    if c.get("securityContext", {}).get("privileged"):
        flags.append("--privileged")
    cid = docker("run", "-d", *flags, *mounts(c), c["image"], *c["command"])
    with open(os.path.join(state, f"{ns}_{pod}.cid"), "w") as f:
        f.write(cid)


if verb == "get" and args[1] == "namespace":
    pass  # none left
elif verb == "apply":
    for doc in yaml.safe_load_all(sys.stdin.read()):
        if doc["kind"] == "Pod" and not doc["spec"].get("nodeSelector"):
            run_pod(doc)
elif verb == "wait":
    ns, pod = args[args.index("-n") + 1], args[-2].split("/", 1)[1]
    if docker("inspect", "-f", "{{.State.Running}}", cid_of(ns, pod)) != "true":
        sys.exit(1)
elif verb == "get" and args[1] == "pod":
    print("docker://" + cid_of(args[args.index("-n") + 1], args[2]), end="")
elif verb == "exec":
    tty = "-t" in args[: args.index("--")]
    ns = args[args.index("-n") + 1]
    pod = [a for a in args[: args.index("--")] if not a.startswith("-")][-2]
    argv = args[args.index("--") + 1 :]
    if tty:
        os.execvp("docker", ["docker", "exec", "-it", cid_of(ns, pod), *argv])
    rc = subprocess.run(["docker", "exec", cid_of(ns, pod), *argv]).returncode
    if rc:
        sys.stderr.write(f"command terminated with exit code {rc}\n")
    sys.exit(rc)
elif verb == "delete" and args[1] == "namespace":
    ids = docker("ps", "-aq", "--filter", f"label=io.kubernetes.pod.namespace={args[2]}",
                 "--filter", "label=mamori.simulation").split()
    if ids:
        docker("rm", "-f", *ids)
"""


@pytest.fixture
def docker_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``kubectl`` whose cluster is the local Docker engine: pods become ``--network none``
    containers with kubelet-style labels (init containers run first, ``emptyDir`` volumes are
    host directories), ``exec`` is ``docker exec``, ``delete namespace`` removes its containers.
    The local sensor then sees the Kubernetes target's pods as it would a node's."""
    state = tmp_path / "docker-kubectl"
    state.mkdir()
    path = tmp_path / "kubectl-over-docker"
    path.write_text(f"#!{sys.executable}\n{DOCKER_KUBECTL}")
    path.chmod(0o755)
    monkeypatch.setenv("DOCKER_KUBECTL_STATE", str(state))
    return path
