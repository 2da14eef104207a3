"""A running workload: a container (and its pod, under Kubernetes) and the image it runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Workload:
    container_id: str
    container: str  # the container's name (Kubernetes: the pod spec's container name)
    image: str  # the reference the container was started from
    image_id: str  # the engine's image id (config digest)
    image_digest: str | None = None  # RepoDigests[0] when pulled from a registry
    namespace: str | None = None
    pod: str | None = None
    node: str = ""

    @property
    def label(self) -> str:
        """``namespace/pod/container`` under Kubernetes, else the container's name."""
        if self.pod:
            return f"{self.namespace or 'default'}/{self.pod}/{self.container}"
        return self.container

    def as_dict(self) -> dict[str, Any]:
        return {
            "container_id": self.container_id,
            "container": self.container,
            "pod": self.pod,
            "namespace": self.namespace,
            "node": self.node,
            "image": self.image,
            "image_id": self.image_id,
            "image_digest": self.image_digest,
        }
