"""MAM-K8S-007: pod HostPath volume mounts restricted to a known list."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from mamori.posture.checks.base import Check, Outcome, Params, Subject, Violation, params
from mamori.posture.model import Level
from mamori.posture.workload import as_list, as_map


@params
class HostPath(Params):
    path_prefix: str
    read_only: bool = False


@params
class HostPathParams(Params):
    allowed_host_paths: list[HostPath] = []


def normalise(path: str) -> str:
    """Resolve ``..``, ``//`` and a trailing ``/`` so that ``/var/log/../../etc`` is ``/etc``."""
    clean = posixpath.normpath("/" + path.strip())
    return "/" + clean.lstrip("/")


def _within(path: str, prefix: str) -> bool:
    base = normalise(prefix)
    return base == "/" or path == base or path.startswith(base + "/")


def host_paths(s: Subject, p: HostPathParams) -> Iterator[Outcome]:
    pod = s.pod
    for i, volume in enumerate(as_list(pod.spec.get("volumes"))):
        source = as_map(volume).get("hostPath")
        if source is None:
            continue
        raw = str(as_map(source).get("path", ""))
        where = (*pod.spec_path, "volumes", i, "hostPath")
        path = normalise(raw)
        entry = next((e for e in p.allowed_host_paths if _within(path, e.path_prefix)), None)
        if entry is None:
            yield Violation(where, f"hostPath {raw} is not allowed", None, raw)
        elif entry.read_only:
            yield from _writable_mounts(s, str(as_map(volume).get("name")), raw)


def _writable_mounts(s: Subject, volume: str, raw: str) -> Iterator[Outcome]:
    for ref, body in s.pod.containers():
        for j, mount in enumerate(as_list(body.get("volumeMounts"))):
            mount = as_map(mount)
            if mount.get("name") == volume and mount.get("readOnly") is not True:
                path = (*ref.path, "volumeMounts", j)
                yield Violation(path, f"hostPath {raw} must be mounted read-only", ref, raw)


HOST_PATHS: Check[HostPathParams] = Check(
    id="MAM-K8S-007",
    title="Usage of pod HostPath volume mounts should be restricted to a known list",
    severity=Level.MEDIUM,
    family="defender",
    run=host_paths,
    params=HostPathParams,
    fields=("spec.volumes[].hostPath.path", "<c>.volumeMounts[].readOnly"),
    pss=("B hostPathVolumes", "R restrictedVolumes"),
    azure_policy_id="098fc59e-46c7-4d99-9b16-64990e543d75",
    image_exclusions=False,
    remediation="Use emptyDir, a PVC or CSI instead of host paths, or allow the path read-only.",
    fix="volumes: [{name: data, emptyDir: {}}]",
)
