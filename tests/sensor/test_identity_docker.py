"""The Docker resolver and cgroup identity against the real engine."""

from __future__ import annotations

import pytest

from mamori.sensor.identity.cgroup import container_from_cgroup
from mamori.sensor.identity.docker import DockerClient, DockerResolver, split_reference
from mamori.sensor.sources.procfs import read_snapshot
from tests.sensor.conftest import K8S_LABELS, Containers

pytestmark = [pytest.mark.docker, pytest.mark.root]


@pytest.mark.parametrize(
    ("ref", "repo", "tag"),
    [
        ("nginx", "nginx", None),
        ("nginx:1.25", "nginx", "1.25"),
        ("registry:5000/a/b:tag", "registry:5000/a/b", "tag"),
        ("registry:5000/a/b", "registry:5000/a/b", None),
        ("a/b@sha256:abc", "a/b", None),
    ],
)
def test_split_reference(ref: str, repo: str, tag: str | None) -> None:
    assert split_reference(ref) == (repo, tag)


def test_resolver_reads_container_image_and_pod(containers: Containers) -> None:
    cid = containers.run("sleep", "60", labels=K8S_LABELS, detach=True)
    resolver = DockerResolver(DockerClient())
    meta = resolver.resolve(cid)
    assert meta is not None
    assert meta.container.id == cid
    assert meta.container.image == containers.image
    assert meta.container.image_repository, meta.container.image_tag == tuple(
        containers.image.rsplit(":", 1)
    )
    assert meta.container.image_digest is not None
    assert meta.container.image_digest.startswith("sha256:")
    assert meta.k8s is not None
    assert (meta.k8s.pod_name, meta.k8s.namespace, meta.k8s.container_name) == (
        "web-0",
        "shop",
        "app",
    )
    assert meta.pid
    assert resolver.resolve(cid) is meta  # cached
    resolver.forget(cid)
    assert resolver.resolve(cid) is not meta
    # The container's process names it through its cgroup.
    snap = read_snapshot(meta.pid)
    assert snap.cgroup is not None
    found = container_from_cgroup(snap.cgroup)
    assert found is not None
    assert found.container_id == cid
    assert resolver.resolve("0" * 64) is None  # 404: negative-cached
    resolver.client.close()


def test_pod_labels_come_from_the_sandbox(containers: Containers) -> None:
    sandbox = containers.run(
        "sleep",
        "60",
        labels={"io.kubernetes.docker.type": "podsandbox", "app": "payments", **K8S_LABELS},
        detach=True,
    )
    cid = containers.run(
        "sleep", "60", labels={"io.kubernetes.sandbox.id": sandbox, **K8S_LABELS}, detach=True
    )
    client = DockerClient()
    meta = DockerResolver(client).resolve(cid)
    client.close()
    assert meta is not None
    assert meta.k8s is not None
    assert meta.k8s.pod_labels["app"] == "payments"
    assert not [k for k in meta.k8s.pod_labels if k.startswith("io.kubernetes.")]
