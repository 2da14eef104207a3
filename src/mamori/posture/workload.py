"""Where a kind keeps its pod spec, and the containers of a pod spec with their paths."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mamori.posture.model import ContainerRef, FieldPath, Manifest

_TEMPLATE = ("spec", "template")
POD_TEMPLATE_PATHS: dict[str, FieldPath] = {
    "Pod": (),
    "Deployment": _TEMPLATE,
    "StatefulSet": _TEMPLATE,
    "DaemonSet": _TEMPLATE,
    "ReplicaSet": _TEMPLATE,
    "ReplicationController": _TEMPLATE,
    "Job": _TEMPLATE,
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "PodTemplate": ("template",),
    "Rollout": _TEMPLATE,
    "DeploymentConfig": _TEMPLATE,
}
OTHER_KINDS = frozenset({"Service", "Ingress", "ServiceAccount", "ConfigMap", "Secret"})
CONTAINER_LISTS = (
    ("containers", "container"),
    ("initContainers", "initContainer"),
    ("ephemeralContainers", "ephemeralContainer"),
)


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def get(data: Any, *path: str | int) -> Any:
    """``data[path...]`` or None when any step is missing or of the wrong type."""
    for part in path:
        if isinstance(part, int):
            if not isinstance(data, list) or part >= len(data):
                return None
            data = data[part]
        elif data.__class__ is dict or isinstance(data, Mapping):
            data = data.get(part)
        else:
            return None
    return data


def as_map(value: Any) -> Mapping[str, Any]:
    # ``dict`` first: the ABC check behind isinstance(.., Mapping) is several times slower,
    # and checks call this ~70 times per workload.
    if value.__class__ is dict:
        return value
    if value is None:
        return _EMPTY
    return value if isinstance(value, Mapping) else _EMPTY


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True, slots=True)
class Workload:
    """The pod spec (and pod metadata) of a pod-bearing object."""

    manifest: Manifest
    spec: Mapping[str, Any]
    spec_path: FieldPath
    meta: Mapping[str, Any]
    meta_path: FieldPath
    _every: tuple[tuple[ContainerRef, Mapping[str, Any]], ...] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def windows(self) -> bool:
        return bool(get(self.spec, "os", "name") == "windows")

    @property
    def pod_security_context(self) -> Mapping[str, Any]:
        return as_map(self.spec.get("securityContext"))

    @property
    def annotations(self) -> Mapping[str, Any]:
        """Pod template annotations (what the pods will carry)."""
        return as_map(self.meta.get("annotations"))

    @property
    def labels(self) -> Mapping[str, Any]:
        return as_map(self.meta.get("labels"))

    def containers(
        self, *, init: bool = True, ephemeral: bool = True
    ) -> Iterator[tuple[ContainerRef, Mapping[str, Any]]]:
        """Containers in list order: each check asks, so they are collected once per pod."""
        every = self._every
        if every is None:
            every = tuple(self._collect())
            object.__setattr__(self, "_every", every)
        if init and ephemeral:
            return iter(every)
        return (
            (ref, body)
            for ref, body in every
            if (init or ref.type != "initContainer")
            and (ephemeral or ref.type != "ephemeralContainer")
        )

    def _collect(self) -> Iterator[tuple[ContainerRef, Mapping[str, Any]]]:
        for key, ctype in CONTAINER_LISTS:
            for i, body in enumerate(as_list(self.spec.get(key))):
                if not isinstance(body, Mapping):
                    continue
                ref = ContainerRef(
                    name=str(body.get("name", f"#{i}")),
                    type=ctype,
                    image=str(body.get("image", "")),
                    path=(*self.spec_path, key, i),
                )
                yield ref, body


def workload_of(manifest: Manifest) -> Workload | None:
    """The pod template of ``manifest``, or None for kinds without one (or a broken one)."""
    base = POD_TEMPLATE_PATHS.get(manifest.kind)
    if base is None:
        return None
    spec = get(manifest.obj, *base, "spec")
    if not isinstance(spec, Mapping):
        return None
    meta = as_map(get(manifest.obj, *base, "metadata"))
    return Workload(manifest, spec, (*base, "spec"), meta, (*base, "metadata"))


def is_pod_bearing(kind: str) -> bool:
    return kind in POD_TEMPLATE_PATHS
