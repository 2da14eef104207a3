"""``mamori scan running``: the Docker engine's running containers, each distinct image scanned
once, findings recorded against every container that runs it.

The engine is asked over its unix socket through an ``EngineApi`` the caller passes (the CLI
gives the sensor's ``DockerClient``: no docker-py, no CLI for the listing); images are read from
``docker save`` by image id, so a tag moved since the container started does not change what is
scanned.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from mamori.core.findings import Finding, FindingStatus
from mamori.vulns.db.store import VulnDB
from mamori.vulns.scan import Progress, ScanReport, _noop, findings, scan
from mamori.vulns.vex import Vex
from mamori.vulns.workload import Workload

K8S = "io.kubernetes."  # kubelet's label prefix on the containers it runs


class EngineApi(Protocol):
    """What is needed of a Docker engine client: GET a path, parsed JSON back (None on 404)."""

    def get(self, url: str) -> Any: ...


@dataclass(slots=True)
class ImageScan:
    """One image's scan and the running containers of it."""

    report: ScanReport
    workloads: list[Workload] = field(default_factory=list)

    def findings(self, cluster: str | None = None) -> list[Finding]:
        return [
            f for w in self.workloads for f in findings(self.report, cluster=cluster, workload=w)
        ]


def _workload(
    data: dict[str, Any], digests: dict[str, str | None], client: EngineApi, node: str
) -> Workload:
    labels: dict[str, str] = dict(data.get("Labels") or {})
    image_id = str(data.get("ImageID") or "")
    if image_id not in digests:
        info = client.get(f"/images/{quote(image_id)}/json")
        repo_digests = (info.get("RepoDigests") or []) if isinstance(info, dict) else []
        digests[image_id] = str(repo_digests[0]) if repo_digests else None
    names = [str(n).lstrip("/") for n in data.get("Names") or []]
    cid = str(data["Id"])
    return Workload(
        container_id=cid,
        container=labels.get(K8S + "container.name") or (names[0] if names else cid[:12]),
        image=str(data.get("Image") or image_id),
        image_id=image_id,
        image_digest=digests[image_id],
        namespace=labels.get(K8S + "pod.namespace"),
        pod=labels.get(K8S + "pod.name"),
        node=node,
    )


def running_workloads(
    client: EngineApi, node: str | None = None, labels: Sequence[str] = ()
) -> list[Workload]:
    """Running containers (Kubernetes pause/sandbox containers left out), oldest first;
    ``labels`` (``KEY`` or ``KEY=VALUE``) keeps only the containers that have them all."""
    node = node or socket.gethostname()
    url = "/containers/json"
    if labels:
        url += "?filters=" + quote(json.dumps({"label": list(labels)}))
    listed = client.get(url) or []
    digests: dict[str, str | None] = {}
    out = []
    for data in sorted(listed, key=lambda d: (d.get("Created", 0), d["Id"])):
        if (data.get("Labels") or {}).get(K8S + "docker.type") == "podsandbox":
            continue
        out.append(_workload(data, digests, client, node))
    return out


def scan_running(
    workloads: Iterable[Workload],
    cache_dir: Path,
    *,
    db: VulnDB | None,
    vex: Vex | None = None,
    progress: Progress = _noop,
) -> list[ImageScan]:
    """Scan each distinct image of ``workloads`` once (by image id)."""
    by_image: dict[str, list[Workload]] = {}
    for w in workloads:
        by_image.setdefault(w.image_id, []).append(w)
    out = []
    for image_id, group in by_image.items():
        progress(f"{group[0].image} ({len(group)} containers)")
        report = scan(
            f"docker:{image_id}", cache_dir, db=db, vex=vex, progress=progress, name=group[0].image
        )
        out.append(ImageScan(report, group))
    return out


def running_ids(client: EngineApi) -> set[str]:
    return {str(d["Id"]) for d in client.get("/containers/json") or []}


def stale(
    open_findings: Iterable[Finding],
    current: set[str],
    node: str,
    *,
    scanned: set[str],
    running: set[str],
) -> list[str]:
    """Open workload findings of ``node`` to resolve: their container is no longer running, or
    it was scanned now and the match is gone (a DB update withdrew it, VEX suppressed it).
    Containers left out by a label filter (running, not scanned) keep theirs."""
    out = []
    for f in open_findings:
        if f.resource.kind != "container" or f.status is not FindingStatus.OPEN:
            continue
        if (f.details.get("workload") or {}).get("node") != node or f.id in current:
            continue
        uid = f.resource.uid or ""
        if uid not in running or uid in scanned:
            out.append(f.id)
    return out
