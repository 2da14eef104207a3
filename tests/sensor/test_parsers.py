"""Pure parsers: /proc stat and status, mountinfo, tracefs lines."""

from __future__ import annotations

import os
from pathlib import Path

from mamori.sensor.mounts import (
    ATTACH_TRIES,
    AttachLater,
    DockerLayers,
    MountWatcher,
    RootfsMount,
    classify,
    overlay_option,
    parse_mountinfo,
)
from mamori.sensor.sources.procfs import parse_stat, parse_uid, split_cmdline
from mamori.sensor.sources.tracefs import parse_line, parse_lost

ID = "2430829ec64980d74f241e8838294b24c38e50748f8f0f42b4c2894ddcb56545"
LAYER = "895ec3dfa7736f21f4b7da88dc72f18d85a8e72f736c08e79c1892bbc08013bd"


def test_stat_with_odd_comm() -> None:
    line = b"42 (a b) c)) S 7 42 42 34816 42 4194560 1 2 3 4 5 6 7 8 20 0 1 0 123456 0 0"
    assert parse_stat(line) == ("a b) c)", 7, 34816, 123456)
    assert parse_stat(b"garbage") is None


def test_status_uid_and_cmdline() -> None:
    assert parse_uid(b"Name:\tsh\nUid:\t1000\t0\t0\t0\nGid:\t0\n") == 1000
    assert parse_uid(b"Name:\tsh\n") is None
    assert split_cmdline(b"sh\0-c\0echo hi\0") == ("sh", "-c", "echo hi")
    assert split_cmdline(b"") == ()


def _mountinfo(point: str, fstype: str = "overlay", options: str = "rw") -> str:
    return f"1234 27 0:57 / {point} rw,relatime shared:1 - {fstype} overlay {options}\n"


def test_mountinfo_escapes_and_options() -> None:
    text = _mountinfo(
        "/var/lib/my\\040docker/overlay2/x/merged",
        options="rw,lowerdir=/l/A:/l/B,upperdir=/u\\054x/diff,workdir=/w",
    )
    (entry,) = parse_mountinfo(text)
    assert entry.mountpoint == "/var/lib/my docker/overlay2/x/merged"
    assert entry.dev == os.makedev(0, 57)
    assert overlay_option(entry.super_options, "lowerdir") == "/l/A:/l/B"
    assert overlay_option(entry.super_options, "upperdir") == "/u,x/diff"


def test_classify_docker_containerd_and_skips(tmp_path: Path) -> None:
    root = tmp_path
    mount_id = root / "image" / "overlay2" / "layerdb" / "mounts" / ID / "mount-id"
    mount_id.parent.mkdir(parents=True)
    mount_id.write_text(LAYER)
    layers = DockerLayers()
    text = (
        _mountinfo(f"{root}/overlay2/{LAYER}/merged")
        + _mountinfo(f"{root}/overlay2/{LAYER}-init/merged")
        + _mountinfo(f"/run/containerd/io.containerd.runtime.v2.task/k8s.io/{ID}/rootfs")
        + _mountinfo("/", fstype="ext4")
    )
    found = [classify(e, layers) for e in parse_mountinfo(text)]
    assert found[0] is not None
    assert (found[0].runtime, found[0].container_id) == ("docker", ID)
    assert found[1] is None  # Docker's transient -init layer
    assert found[2] is not None
    assert (found[2].runtime, found[2].container_id) == ("containerd", ID)
    assert found[3] is None


def test_tracefs_lines() -> None:
    line = (
        b"  my prog-1234  [001] d..3.  1234.567890: sched_process_exec: "
        b"filename=/tmp/a b pid=99 old_pid=99"
    )
    assert parse_line(line) == ("/tmp/a b", 99)
    assert parse_line(b"  sh-1 [000] ..... 1.0: sched_switch: prev=x") is None
    assert parse_lost(b"CPU:1 [LOST 123 EVENTS]") == 123
    assert parse_lost(b"nothing") == 0


def test_a_failed_attach_is_tried_again_while_the_mount_is_listed(tmp_path: Path) -> None:
    """A consumer that could not use a mount yet (``AttachLater``) is called again at the next
    rescans, at most ``ATTACH_TRIES`` times, and not once the mount is gone; the others once."""
    info = tmp_path / "mountinfo"
    point = f"/run/containerd/io.containerd.runtime.v2.task/k8s.io/{ID}/rootfs"
    info.write_text(_mountinfo(point))
    calls: list[str] = []
    refusals = [2]

    def flaky(m: RootfsMount) -> None:
        calls.append("flaky")
        if refusals[0]:
            refusals[0] -= 1
            raise AttachLater

    def steady(m: RootfsMount) -> None:
        calls.append("steady")

    watcher = MountWatcher([flaky, steady], [], mountinfo=str(info))
    for _ in range(5):
        watcher.rescan()
    assert calls == ["flaky", "steady", "flaky", "flaky"]  # accepted at the third try
    assert watcher.retry == {}

    def never(m: RootfsMount) -> None:
        calls.append("never")
        raise AttachLater

    calls.clear()
    info.write_text("")
    watcher = MountWatcher([never], [], mountinfo=str(info))
    watcher.rescan()
    info.write_text(_mountinfo(point))
    for _ in range(ATTACH_TRIES + 3):
        watcher.rescan()
    assert calls == ["never"] * ATTACH_TRIES  # then given up
    info.write_text(_mountinfo(point).replace("1234 ", "1235 "))  # remounted: a new mount id
    watcher.rescan()
    watcher.rescan()
    assert len(calls) == ATTACH_TRIES + 2
    info.write_text("")  # gone: no more tries
    watcher.rescan()
    watcher.rescan()
    assert len(calls) == ATTACH_TRIES + 2
