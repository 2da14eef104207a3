"""Events: what sources observe, enriched with container and Kubernetes context.

Events are frozen, slotted dataclasses: they sit on the hot path between sources, detectors and
sinks. Sub-records are optional because not every source can fill every part (a Kubernetes audit
event has no process; an exec outside a container has no container).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mamori.core.fastinit import fast_init


class EventKind(enum.StrEnum):
    PROCESS_EXEC = "process_exec"
    FILE_OPEN = "file_open"
    FILE_WRITE = "file_write"
    NETWORK_CONNECT = "network_connect"
    K8S_AUDIT = "k8s_audit"


# A member read through its enum class costs ~0.2 us (the enum metaclass's lookup); the hot
# paths compare against this module constant instead.
_K8S_AUDIT = EventKind.K8S_AUDIT


# The default of every empty mapping field: one read-only view of a dict nobody else holds, so
# sharing it is safe, and an event no longer builds two or three of them.
EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return EMPTY


@fast_init
@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """A process as Falco's ``proc.*`` and ``user.*`` fields see it."""

    pid: int
    name: str
    exepath: str = ""
    args: tuple[str, ...] = ()
    ppid: int | None = None
    pname: str | None = None
    # Names of ancestors, parent first (proc.aname[1] is the parent).
    anames: tuple[str, ...] = ()
    cwd: str | None = None
    tty: int | None = None
    uid: int | None = None
    user: str | None = None
    loginuid: int | None = None
    sid: int | None = None
    sname: str | None = None
    vpgid: int | None = None
    exe_flags: Mapping[str, bool] = field(default_factory=_empty)
    # Added for Falco's proc.*, user.*, group.* and thread.* fields; all optional.
    exe: str | None = None  # argv[0] (proc.exe); defaults to ``name`` when unknown
    vpid: int | None = None
    gid: int | None = None
    group: str | None = None
    loginname: str | None = None
    env: tuple[str, ...] = ()  # "NAME=value" entries
    start_ns: int | None = None  # process start (clone) time, ns since the epoch
    exe_ino: int | None = None
    exe_ino_ctime_ns: int | None = None
    exe_ino_mtime_ns: int | None = None
    cap_effective: tuple[str, ...] | None = None  # capability names, e.g. "CAP_SYS_ADMIN"
    cap_permitted: tuple[str, ...] | None = None
    parent: ProcessInfo | None = None  # the parent with its own ancestry, when known

    @property
    def cmdline(self) -> str:
        """Falco's ``proc.cmdline``: name followed by the arguments."""
        return " ".join((self.name, *self.args)) if self.args else self.name


@dataclass(frozen=True, slots=True)
class MountInfo:
    """A container mount as Falco's ``container.mount*`` fields see it."""

    source: str
    dest: str
    mode: str = ""
    rw: bool = True
    propagation: str = ""


@fast_init
@dataclass(frozen=True, slots=True)
class ContainerInfo:
    id: str
    name: str | None = None
    image: str | None = None
    image_repository: str | None = None
    image_tag: str | None = None
    image_digest: str | None = None
    runtime: str | None = None
    privileged: bool | None = None
    labels: Mapping[str, str] = field(default_factory=_empty)
    start_ns: int | None = None  # container start time, ns since the epoch
    mounts: tuple[MountInfo, ...] = ()

    @property
    def short_id(self) -> str:
        return self.id[:12]


@dataclass(frozen=True, slots=True)
class K8sInfo:
    pod_name: str | None = None
    pod_uid: str | None = None
    namespace: str | None = None
    pod_labels: Mapping[str, str] = field(default_factory=_empty)
    container_name: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    flags: tuple[str, ...] = ()  # Falco open flag names: "O_RDONLY", "O_WRONLY", "O_CREAT" ...
    directory: bool = False
    fd: int | None = None
    mode: int | None = None  # permission bits of a created file


@fast_init
@dataclass(frozen=True, slots=True)
class NetworkInfo:
    protocol: str  # "tcp", "udp", "unix"
    dst_ip: str | None = None
    dst_port: int | None = None
    src_ip: str | None = None
    src_port: int | None = None
    # src is the client and dst the server (connect: local is src; accept: local is dst).
    dst_name: str | None = None  # resolved name of dst_ip, when known
    src_name: str | None = None
    fd: int | None = None


@dataclass(frozen=True, slots=True)
class K8sAuditInfo:
    """A Kubernetes audit event (audit.k8s.io/v1 ``Event``) kept as its JSON object."""

    raw: Mapping[str, Any]

    @property
    def verb(self) -> str | None:
        verb = self.raw.get("verb")
        return verb if isinstance(verb, str) else None


@fast_init
@dataclass(frozen=True, slots=True)
class Event:
    """One observation with its context.

    ``time_ns`` is nanoseconds since the epoch; ``syscall`` is Falco's ``evt.type``
    (``execve``, ``openat``, ``connect`` ...); ``args`` are Falco's ``evt.arg.*`` values as text;
    ``extra`` carries extension fields (``mamori.drift.verdict`` ...).
    """

    kind: EventKind
    time_ns: int
    syscall: str | None = None
    result: str | None = None
    node: str | None = None
    cluster: str | None = None
    process: ProcessInfo | None = None
    container: ContainerInfo | None = None
    k8s: K8sInfo | None = None
    file: FileInfo | None = None
    network: NetworkInfo | None = None
    audit: K8sAuditInfo | None = None
    args: Mapping[str, str] = field(default_factory=_empty)
    extra: Mapping[str, Any] = field(default_factory=_empty)
    num: int | None = None  # event sequence number (evt.num)

    @property
    def source(self) -> str:
        """Falco's event source name: ``k8s_audit`` or ``syscall``."""
        return "k8s_audit" if self.kind is _K8S_AUDIT else "syscall"
