"""One metadata lookup over every runtime on the node: Docker first, then OCI bundles
(containerd, CRI-O). A node may run several (Docker for builds, containerd for the kubelet)."""

from __future__ import annotations

from typing import Protocol

from mamori.sensor.identity.bundle import BundleResolver
from mamori.sensor.identity.docker import ContainerMeta, DockerError, DockerResolver


class Resolver(Protocol):
    def resolve(self, container_id: str) -> ContainerMeta | None: ...

    def forget(self, container_id: str) -> None: ...


class ChainResolver:
    """The first runtime that knows the container answers. A Docker error is raised only when
    no other runtime knows the container either (the caller counts it)."""

    def __init__(self, docker: DockerResolver | None, bundle: BundleResolver | None) -> None:
        self.docker = docker
        self.bundle = bundle

    @property
    def runtimes(self) -> list[str]:
        return [n for n, r in (("docker", self.docker), ("bundles", self.bundle)) if r]

    def resolve(self, container_id: str) -> ContainerMeta | None:
        error: DockerError | None = None
        if self.docker is not None:
            try:
                meta = self.docker.resolve(container_id)
                if meta is not None:
                    return meta
            except DockerError as exc:
                error = exc
        if self.bundle is not None:
            meta = self.bundle.resolve(container_id)
            if meta is not None:
                return meta
        if error is not None:
            raise error
        return None

    def forget(self, container_id: str) -> None:
        for r in (self.docker, self.bundle):
            if r is not None:
                r.forget(container_id)
