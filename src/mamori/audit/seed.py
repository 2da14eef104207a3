"""Seed the audit inventory from a live cluster (read-only lists through the posture module's
kubeconfig client), so that the exposure detections know objects created before mamori began
reading the audit stream.

Exposures that already hold for the seeded Services are recorded as known, not raised: they
predate the stream, no request triggered them and no user can be named (``mamori scan
cluster`` reports them as posture findings). A later change that adds a reason raises it.
"""

from __future__ import annotations

from mamori.audit.pipeline import StatefulDetectors
from mamori.posture.sources.cluster import KubeApi

# (API path prefix, resource): Namespaces first, then what the exposure joins read.
SEED = (
    ("/api/v1", "namespaces"),
    ("/api/v1", "services"),
    ("/api/v1", "pods"),
    ("/api/v1", "configmaps"),
    ("/api/v1", "replicationcontrollers"),
    ("/apis/apps/v1", "deployments"),
    ("/apis/apps/v1", "statefulsets"),
    ("/apis/apps/v1", "daemonsets"),
    ("/apis/apps/v1", "replicasets"),
    ("/apis/batch/v1", "jobs"),
    ("/apis/batch/v1", "cronjobs"),
)


def seed_from_cluster(
    detectors: StatefulDetectors, api: KubeApi, cluster: str | None
) -> dict[str, int]:
    """List the cluster into the inventory of ``cluster``; the number of objects per resource.

    Raise ``ClusterError`` when the API server cannot be read.
    """
    counts: dict[str, int] = {}
    for prefix, resource in SEED:
        n = 0
        for page in api.list(prefix, resource, None):
            for obj in page:
                n += detectors.inventory.put_object(resource, obj, cluster)
        counts[resource] = n
    detectors.exposure.mark_known(cluster)
    return counts
