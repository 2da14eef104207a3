"""containerd and CRI-O metadata from the runtime's OCI bundle on disk (design 3.6): no gRPC.

    <containerd state>/io.containerd.runtime.v2.task/<namespace>/<id>/config.json (+ init.pid)
    /run/containers/storage/overlay-containers/<id>/userdata/config.json           (CRI-O)

The kubelet's CRI calls put the pod's identity in the bundle's OCI annotations:
containerd writes ``io.kubernetes.cri.*`` (sandbox-name = pod, sandbox-namespace, sandbox-uid,
container-name, image-name, container-type), CRI-O ``io.kubernetes.pod.*``,
``io.kubernetes.container.name`` and ``io.kubernetes.cri-o.*`` (ImageName, Labels as JSON).
Pod labels are only in CRI-O's annotations; for containerd they need the Kubernetes API.
Sandbox (pause) containers resolve to None: they never run workload code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from mamori.core.events import ContainerInfo, K8sInfo
from mamori.sensor.identity.docker import ContainerMeta, MetaCache, split_reference

TASK_DIR = "io.containerd.runtime.v2.task"
# containerd's own state dir, and the one dockerd's embedded containerd uses.
CONTAINERD_ROOTS = (
    f"/run/containerd/{TASK_DIR}",
    f"/var/run/docker/containerd/daemon/{TASK_DIR}",
)
CRIO_ROOT = "/run/containers/storage/overlay-containers"
# Docker's containerd namespace: the Docker resolver knows those containers better.
SKIP_NAMESPACES = frozenset({"moby"})
CRI = "io.kubernetes.cri."
K8S = "io.kubernetes."
CRIO = "io.kubernetes.cri-o."


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_pid(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class BundleResolver:
    """Container id -> ``ContainerMeta`` from containerd / CRI-O bundles; cached until
    ``forget()``, misses remembered for a few seconds (host processes ask often)."""

    def __init__(
        self,
        containerd_roots: Sequence[str] = CONTAINERD_ROOTS,
        crio_root: str | None = CRIO_ROOT,
        skip_namespaces: frozenset[str] = SKIP_NAMESPACES,
    ) -> None:
        self.containerd_roots = tuple(containerd_roots)
        self.crio_root = crio_root
        self.skip_namespaces = skip_namespaces
        self._cache = MetaCache()

    def available(self) -> bool:
        roots = [*self.containerd_roots, *([self.crio_root] if self.crio_root else [])]
        return any(os.path.isdir(r) for r in roots)

    def resolve(self, container_id: str) -> ContainerMeta | None:
        return self._cache.get(container_id, self._find)

    def forget(self, container_id: str) -> None:
        self._cache.forget(container_id)

    def _find(self, cid: str) -> ContainerMeta | None:
        if not cid or "/" in cid or cid.startswith("."):
            return None  # ids are path components here: never let one walk the tree
        for root in self.containerd_roots:
            try:
                namespaces = os.listdir(root)
            except OSError:
                continue
            for ns in namespaces:
                if ns in self.skip_namespaces:
                    continue
                bundle = os.path.join(root, ns, cid)
                config = _read_json(os.path.join(bundle, "config.json"))
                if config is not None:
                    pid = _read_pid(os.path.join(bundle, "init.pid"))
                    return bundle_meta(cid, config, "containerd", pid, ns)
        if self.crio_root:
            userdata = os.path.join(self.crio_root, cid, "userdata")
            config = _read_json(os.path.join(userdata, "config.json"))
            if config is not None:
                pid = _read_pid(os.path.join(userdata, "pidfile"))
                return bundle_meta(cid, config, "cri-o", pid)
        return None


def bundle_meta(
    cid: str, config: Mapping[str, Any], runtime: str, pid: int | None, namespace: str = ""
) -> ContainerMeta | None:
    """An OCI bundle's ``config.json`` -> metadata; None for a pod sandbox (pause)."""
    ann: Mapping[str, str] = config.get("annotations") or {}
    kind = ann.get(CRI + "container-type") or ann.get(CRIO + "ContainerType")
    if kind == "sandbox":
        return None
    pod = ann.get(CRI + "sandbox-name") or ann.get(K8S + "pod.name")
    pod_ns = ann.get(CRI + "sandbox-namespace") or ann.get(K8S + "pod.namespace")
    pod_uid = ann.get(CRI + "sandbox-uid") or ann.get(K8S + "pod.uid")
    name = ann.get(CRI + "container-name") or ann.get(K8S + "container.name")
    ref = ann.get(CRI + "image-name") or ann.get(CRIO + "ImageName") or None
    repo, tag = split_reference(ref) if ref else (None, None)
    pod_labels = _crio_labels(ann.get(CRIO + "Labels"))
    container_labels = {k: v for k, v in ann.items() if not k.startswith(K8S)}
    root = (config.get("root") or {}).get("path")
    info = ContainerInfo(
        id=cid,
        name=name or (f"{namespace}/{cid[:12]}" if namespace else None),
        image=ref,
        image_repository=repo,
        image_tag=tag,
        image_digest=ann.get(CRIO + "ImageRef") or None,
        runtime=runtime,
        privileged=_privileged(config),
        labels=MappingProxyType(container_labels),
    )
    k8s = None
    if pod or pod_ns:
        k8s = K8sInfo(
            pod_name=pod,
            pod_uid=pod_uid,
            namespace=pod_ns,
            pod_labels=MappingProxyType(pod_labels),
            container_name=name,
        )
    return ContainerMeta(
        container=info,
        k8s=k8s,
        pid=pid,
        merged_dir=root if isinstance(root, str) and os.path.isabs(root) else None,
        pod_labels=MappingProxyType(pod_labels),
    )


def _crio_labels(raw: str | None) -> dict[str, str]:
    """CRI-O's pod labels annotation (JSON), minus kubelet's own."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if not str(k).startswith(K8S)}


def _privileged(config: Mapping[str, Any]) -> bool:
    """No flag in the OCI spec: a privileged container gets CAP_SYS_ADMIN and no seccomp and
    sees every device (what runtimes do for ``privileged: true``)."""
    process = config.get("process") or {}
    caps = (process.get("capabilities") or {}).get("bounding") or []
    linux = config.get("linux") or {}
    return "CAP_SYS_ADMIN" in caps and not linux.get("seccomp") and not linux.get("maskedPaths")
