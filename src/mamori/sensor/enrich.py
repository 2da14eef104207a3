"""Exec record -> core ``Event``: container and pod identity, process tree, user name."""

from __future__ import annotations

import logging
import os
import pwd
from types import MappingProxyType

from mamori.core.events import ContainerInfo, Event, EventKind, K8sInfo, ProcessInfo
from mamori.sensor.identity.cgroup import container_from_cgroup
from mamori.sensor.identity.docker import ContainerMeta, DockerError, DockerResolver
from mamori.sensor.proctree import ProcTree
from mamori.sensor.records import ExecRecord

log = logging.getLogger(__name__)
COMM_LEN = 15  # the kernel's TASK_COMM_LEN - 1: what proc.name holds


class UserNames:
    """uid -> name: the container's /etc/passwd (through its host-side rootfs), else the host's."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str | None, int], str | None] = {}

    def name(self, uid: int, container: str | None, rootfs: str | None) -> str | None:
        key = (container, uid)
        if key not in self._cache:
            self._cache[key] = self._lookup(uid, rootfs) if container else self._host(uid)
        return self._cache[key]

    @staticmethod
    def _host(uid: int) -> str | None:
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            return None

    @staticmethod
    def _lookup(uid: int, rootfs: str | None) -> str | None:
        if rootfs is None:
            return "root" if uid == 0 else None
        try:
            with open(os.path.join(rootfs, "etc", "passwd"), errors="replace") as f:
                for line in f:
                    parts = line.split(":")
                    if len(parts) > 2 and parts[2] == str(uid):
                        return parts[0]
        except OSError:
            pass
        return "root" if uid == 0 else None

    def forget(self, container: str) -> None:
        for key in [k for k in self._cache if k[0] == container]:
            del self._cache[key]


class Enricher:
    """Builds events; identity failures degrade to the container id alone, never raise."""

    def __init__(
        self,
        tree: ProcTree,
        resolver: DockerResolver | None,
        node: str | None,
        cluster: str | None,
    ) -> None:
        self.tree = tree
        self.resolver = resolver
        self.node = node
        self.cluster = cluster
        self.users = UserNames()
        self.resolve_errors = 0

    def container_id(self, rec: ExecRecord) -> tuple[str | None, str | None]:
        """(container id, runtime hint): the source's, the cgroup's, else the parent's."""
        if rec.container_id:
            return rec.container_id, None
        if rec.proc.cgroup:
            found = container_from_cgroup(rec.proc.cgroup)
            if found:
                return found.container_id, found.runtime
            return None, None  # a readable cgroup without a container id: the host
        return self.tree.container_of(rec.proc.ppid), None

    def meta(self, cid: str) -> ContainerMeta | None:
        if self.resolver is None:
            return None
        try:
            return self.resolver.resolve(cid)
        except DockerError:
            self.resolve_errors += 1
            return None

    def event(self, rec: ExecRecord) -> Event:
        cid, runtime = self.container_id(rec)
        meta = self.meta(cid) if cid else None
        process = self.process(rec, cid, meta)
        container: ContainerInfo | None = None
        k8s: K8sInfo | None = None
        if cid:
            container = meta.container if meta else ContainerInfo(id=cid, runtime=runtime)
            k8s = meta.k8s if meta else None
        return Event(
            kind=EventKind.PROCESS_EXEC,
            time_ns=rec.time_ns,
            syscall="execve",
            result="SUCCESS",
            node=self.node,
            cluster=self.cluster,
            process=process,
            container=container,
            k8s=k8s,
            extra=MappingProxyType({"mamori.sensor.source": rec.source}),
        )

    def process(self, rec: ExecRecord, cid: str | None, meta: ContainerMeta | None) -> ProcessInfo:
        snap = rec.proc
        # A snapshot whose exe is already the exec'd file was read after the exec completed:
        # its comm and argv are the new program's. Otherwise it is the caller's (detect mode
        # races the exec), and only pid-level facts (ppid, cwd, uid, tty) are kept.
        base = os.path.basename(rec.path)[:COMM_LEN]
        after = snap.exe == rec.path or snap.comm == base
        name = snap.comm if after and snap.comm else base
        args = snap.args[1:] if after else ()
        self.tree.on_exec(rec.pid, name, snap.ppid, cid, confirmed=after)
        parent = self.tree.get(snap.ppid) if snap.ppid else None
        uid = snap.uid
        rootfs = meta.merged_dir if meta else None
        return ProcessInfo(
            pid=rec.pid,
            name=name,
            exepath=rec.path,
            args=args,
            ppid=snap.ppid,
            pname=parent.name if parent else None,
            anames=self.tree.ancestors(snap.ppid),
            cwd=snap.cwd,
            tty=snap.tty,
            uid=uid,
            user=self.users.name(uid, cid, rootfs) if uid is not None else None,
            loginuid=snap.loginuid,
        )
