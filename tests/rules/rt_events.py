"""Builders of the sensor's event kinds for the MAM-RT rule and detector tests.

The shapes are what the sensor emits: exec events (``execve``, result ``SUCCESS``, process with
argv and ancestor names), open events (``openat`` with ``FileInfo(path, flags)``) and connect
events (``connect``, result ``SUCCESS`` or the errno name of a failed attempt).
"""

from __future__ import annotations

import shlex

from mamori.core.events import (
    ContainerInfo,
    Event,
    EventKind,
    FileInfo,
    K8sInfo,
    NetworkInfo,
    ProcessInfo,
)

T0 = 1_800_000_000_000_000_000
CONTAINER = ContainerInfo(
    id="c0ffee" * 10 + "abcd", name="victim", image="mamori-sim/victim:1",
    image_repository="mamori-sim/victim", image_tag="1", runtime="docker", privileged=False,
)  # fmt: skip
K8S = K8sInfo(pod_name="mamori-sim-victim", namespace="mamori-sim", container_name="victim")


def container(cid: str = "c0ffee", privileged: bool = False) -> ContainerInfo:
    return ContainerInfo(id=(cid * 64)[:64], name=f"c-{cid}", image="app:1",
                         image_repository="app", image_tag="1", privileged=privileged)  # fmt: skip


def proc(
    cmd: str | list[str],
    anames: tuple[str, ...] = ("bash", "containerd-shim"),
    *,
    parent: ProcessInfo | None = None,
    pid: int = 4242,
) -> ProcessInfo:
    argv = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
    exe = argv[0]
    name = exe.rsplit("/", 1)[-1][:15]  # comm is cut to 15 characters
    exepath = exe if exe.startswith("/") else f"/usr/bin/{exe}"
    return ProcessInfo(
        pid=pid, name=name, exepath=exepath, args=tuple(argv[1:]), exe=exe, ppid=pid - 1,
        pname=anames[0] if anames else None, anames=anames, uid=33, user="www-data",
        parent=parent,
    )  # fmt: skip


def exec_(
    cmd: str | list[str],
    anames: tuple[str, ...] = ("bash", "containerd-shim"),
    *,
    at_s: float = 0.0,
    where: ContainerInfo | None = CONTAINER,
    parent: ProcessInfo | None = None,
    extra: dict[str, str] | None = None,
) -> Event:
    return Event(
        kind=EventKind.PROCESS_EXEC, time_ns=T0 + int(at_s * 1e9), syscall="execve",
        result="SUCCESS", node="node-a", process=proc(cmd, anames, parent=parent),
        container=where, k8s=K8S if where is CONTAINER else None, extra=extra or {},
    )  # fmt: skip


def open_(
    path: str,
    flags: tuple[str, ...] = ("O_RDONLY",),
    by: str = "cat",
    *,
    at_s: float = 0.0,
    where: ContainerInfo | None = CONTAINER,
) -> Event:
    return Event(
        kind=EventKind.FILE_OPEN, time_ns=T0 + int(at_s * 1e9), syscall="openat",
        result="SUCCESS", node="node-a", process=proc(f"{by} {shlex.quote(path)}"),
        container=where, k8s=K8S if where is CONTAINER else None,
        file=FileInfo(path=path, flags=flags, fd=3),
    )  # fmt: skip


def connect(
    ip: str,
    port: int,
    by: str = "curl http://x/",
    result: str = "ENETUNREACH",
    *,
    at_s: float = 0.0,
    where: ContainerInfo | None = CONTAINER,
) -> Event:
    return Event(
        kind=EventKind.NETWORK_CONNECT, time_ns=T0 + int(at_s * 1e9), syscall="connect",
        result=result, node="node-a", process=proc(by), container=where,
        k8s=K8S if where is CONTAINER else None,
        network=NetworkInfo("tcp", dst_ip=ip, dst_port=port, src_ip="172.17.0.2",
                            src_port=40000),
    )  # fmt: skip
