"""``container.*`` and ``k8s.*``: where the process runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mamori.core.events import ContainerInfo, Event, K8sInfo
from mamori.rules.fields.base import ArgMode, Extractor, FieldSpec, FieldType, field, int_arg

S = FieldType.STRING
IDENTITY = "exec, open, connect"


def _c(get: Callable[[ContainerInfo], Any]) -> Extractor:
    def extract(e: Event) -> Any:
        c = e.container
        return get(c) if c is not None else None

    return extract


def _k(get: Callable[[K8sInfo], Any]) -> Extractor:
    def extract(e: Event) -> Any:
        k = e.k8s
        return get(k) if k is not None else None

    return extract


def _id(e: Event) -> str:
    # Falco: "host" for host processes; 12 characters for containers.
    c = e.container
    return c.short_id if c is not None else "host"


def _mounts(c: ContainerInfo) -> str:
    return ",".join(
        f"{m.source}:{m.dest}:{m.mode}:{'true' if m.rw else 'false'}:{m.propagation}"
        for m in c.mounts
    )


def _mount_lookup(arg: str, want: str, key: str) -> Extractor:
    """A mount's ``want`` attribute by index ([N]) or by its ``key`` attribute ([/path])."""
    index = int_arg(arg)

    def extract(e: Event) -> str | None:
        c = e.container
        if c is None:
            return None
        if index is not None:
            return getattr(c.mounts[index], want) if 0 <= index < len(c.mounts) else None
        for m in c.mounts:
            if getattr(m, key) == arg:
                return str(getattr(m, want))
        return None

    return extract


def _mount_dest(arg: str) -> Extractor:
    """container.mount.dest[N] (index) or container.mount.dest[/source] (by source path)."""
    return _mount_lookup(arg, "dest", "source")


def _mount_source(arg: str) -> Extractor:
    """container.mount.source[N] (index) or container.mount.source[/dest] (by dest path)."""
    return _mount_lookup(arg, "source", "dest")


def _label(arg: str) -> Extractor:
    return _k(lambda k: k.pod_labels.get(arg))


def _labels(k: K8sInfo) -> str | None:
    if not k.pod_labels:
        return None
    return ", ".join(f"{key}:{v}" for key, v in k.pod_labels.items())


FIELDS: tuple[FieldSpec, ...] = (
    field(
        "container.id",
        S,
        "Container id, 12 characters; 'host' outside containers.",
        _id,
        sensor=IDENTITY,
    ),
    field("container.full_id", S, "Full container id.", _c(lambda c: c.id), sensor=IDENTITY),
    field("container.name", S, "Container name.", _c(lambda c: c.name), sensor=IDENTITY),
    field("container.image", S, "Image reference.", _c(lambda c: c.image), sensor=IDENTITY),
    field(
        "container.image.repository",
        S,
        "Image repository.",
        _c(lambda c: c.image_repository),
        sensor=IDENTITY,
    ),
    field("container.image.tag", S, "Image tag.", _c(lambda c: c.image_tag), sensor=IDENTITY),
    field(
        "container.image.digest", S, "Image digest.", _c(lambda c: c.image_digest), sensor=IDENTITY
    ),
    field(
        "container.type",
        S,
        "Container runtime (docker, containerd ...).",
        _c(lambda c: c.runtime),
        sensor=IDENTITY,
    ),
    field(
        "container.privileged",
        FieldType.BOOL,
        "The container runs privileged (runtime metadata).",
        _c(lambda c: c.privileged),
        sensor=IDENTITY,
    ),
    field(
        "container.start_ts",
        FieldType.ABSTIME,
        "Container start time (ns).",
        _c(lambda c: c.start_ns),
        sensor=IDENTITY,
    ),
    field(
        "container.mounts",
        S,
        "Mounts as source:dest:mode:rw:propagation, comma separated.",
        _c(_mounts),
    ),
    field(
        "container.mount.dest",
        S,
        "Mount destination by index or by source path.",
        with_arg=_mount_dest,
    ),
    field(
        "container.mount.source",
        S,
        "Mount source by index or by destination path.",
        with_arg=_mount_source,
    ),
    field("k8s.ns.name", S, "Kubernetes namespace.", _k(lambda k: k.namespace), sensor=IDENTITY),
    field("k8s.pod.name", S, "Pod name.", _k(lambda k: k.pod_name), sensor=IDENTITY),
    field("k8s.pod.uid", S, "Pod uid.", _k(lambda k: k.pod_uid), sensor=IDENTITY),
    field("k8s.pod.labels", S, "Pod labels as 'key:value, ...'.", _k(_labels), sensor=IDENTITY),
    field(
        "k8s.pod.label",
        S,
        "One pod label: k8s.pod.label[app].",
        with_arg=_label,
        arg=ArgMode.REQUIRED,
        dotted_arg=True,
        sensor=IDENTITY,
    ),
    field(
        "k8s.container.name",
        S,
        "Container name in the pod spec.",
        _k(lambda k: k.container_name),
        sensor=IDENTITY,
    ),
)
