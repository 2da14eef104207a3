"""``/proc/<pid>/cgroup`` -> container id, for the path forms runtimes use (v1, v2, hybrid).

/docker/<id>                                   Docker, cgroupfs driver
/system.slice/docker-<id>.scope                Docker, systemd driver
/kubepods/besteffort/pod<uid>/<id>             kubelet cgroupfs (any CRI runtime)
/kubepods.slice/.../cri-containerd-<id>.scope  containerd, systemd driver
/kubepods-...-pod<uid>.slice:cri-containerd:<id>   containerd, systemd driver on v1
.../crio-<id>.scope, .../libpod-<id>.scope     CRI-O, podman
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ID = r"([0-9a-f]{64})"
# Most specific first: the prefix names the runtime.
_FORMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"cri-containerd[-:]" + _ID), "containerd"),
    (re.compile(r"crio[-:]" + _ID), "cri-o"),
    (re.compile(r"libpod[-:]" + _ID), "podman"),
    (re.compile(r"docker[-/]" + _ID), "docker"),
    (re.compile(r"/kubepods[^\n]*/" + _ID + r"(?:\.scope)?$"), "cri"),
)


@dataclass(frozen=True, slots=True)
class CgroupIdentity:
    container_id: str
    runtime: str  # docker, containerd, cri-o, podman; "cri" when only kubelet's path names it


def container_from_path(path: str) -> CgroupIdentity | None:
    """Container id in one cgroup path, or None (a host process)."""
    for pattern, runtime in _FORMS:
        found = pattern.search(path)
        if found:
            return CgroupIdentity(found.group(1), runtime)
    return None


def container_from_cgroup(text: str) -> CgroupIdentity | None:
    """Container id from the whole ``/proc/<pid>/cgroup`` file (``hier:controllers:path``)."""
    for line in text.splitlines():
        _, _, path = line.partition(":")
        _, _, path = path.partition(":")
        if path and path != "/":
            found = container_from_path(path)
            if found:
                return found
    return None
