from __future__ import annotations

import pytest

from mamori.sensor.identity.cgroup import container_from_cgroup, container_from_path

ID = "2430829ec64980d74f241e8838294b24c38e50748f8f0f42b4c2894ddcb56545"


@pytest.mark.parametrize(
    ("path", "runtime"),
    [
        (f"/docker/{ID}", "docker"),
        (f"/system.slice/docker-{ID}.scope", "docker"),
        (f"/kubepods/besteffort/pod1234-abcd/{ID}", "cri"),
        (
            f"/kubepods.slice/kubepods-burstable.slice/kubepods-pod1.slice/cri-containerd-{ID}.scope",
            "containerd",
        ),
        (
            f"/system.slice/containerd.service/kubepods-besteffort-pod1.slice:cri-containerd:{ID}",
            "containerd",
        ),
        (f"/kubepods.slice/kubepods-pod1.slice/crio-{ID}.scope", "cri-o"),
        (f"/machine.slice/libpod-{ID}.scope/container", "podman"),
    ],
)
def test_container_paths(path: str, runtime: str) -> None:
    found = container_from_path(path)
    assert found is not None
    assert (found.container_id, found.runtime) == (ID, runtime)


@pytest.mark.parametrize("path", ["/", "/user.slice/user-0.slice/session-1.scope", "/init.scope"])
def test_host_paths(path: str) -> None:
    assert container_from_path(path) is None


def test_v1_hybrid_file() -> None:
    text = "".join(f"{n}:{c}:/docker/{ID}\n" for n, c in ((9, "name=systemd"), (4, "memory")))
    text += f"0::/docker/{ID}\n"
    found = container_from_cgroup(text)
    assert found is not None
    assert found.container_id == ID


def test_v2_file_and_host() -> None:
    found = container_from_cgroup(f"0::/system.slice/docker-{ID}.scope\n")
    assert found is not None
    assert found.runtime == "docker"
    assert container_from_cgroup("0::/\n") is None
    assert container_from_cgroup("4:memory:/process_api/a743\n0::/\n") is None
