"""Container rootfs discovery from the mount table, so a new container is marked before it execs.

Docker (overlay2), containerd (overlayfs snapshotter), CRI-O and podman mount every container
rootfs in the host mount namespace. The watcher wakes on ``POLLPRI`` of an open mountinfo file
(proc_pid_mounts(5): mount-table changes are signalled) and rescans every second as a safety net;
each rescan diffs the rootfs mounts by mount id and reports attaches and detaches.
"""

from __future__ import annotations

import logging
import os
import re
import select
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

MOUNTINFO = "/proc/self/mountinfo"
_ESCAPE = re.compile(r"\\([0-7]{3})")
_DOCKER = re.compile(r"^(?P<root>.*)/overlay2/(?P<layer>[0-9a-f]{64})/merged$")
_CONTAINERD = re.compile(r"/io\.containerd\.runtime\.v2\.task/[^/]+/(?P<id>[0-9a-f]{64})/rootfs$")
_CRIO = re.compile(r"/overlay-containers/(?P<id>[0-9a-f]{64})/userdata/merged$")


def unescape(field: str) -> str:
    """Undo mountinfo's octal escapes (``\\040`` space, ``\\011`` tab, ``\\134`` backslash)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


@dataclass(frozen=True, slots=True)
class MountEntry:
    mount_id: int
    dev: int
    mountpoint: str
    fstype: str
    source: str
    super_options: str
    mount_options: str = ""  # per-mount options (ro, noexec, ...)


@dataclass(frozen=True, slots=True)
class RootfsMount:
    """A container's root filesystem mount, named by its runtime's path conventions."""

    mount_id: int
    dev: int
    mountpoint: str
    runtime: str
    container_id: str | None
    upperdir: str | None = None
    lowerdir: str | None = None


def parse_mountinfo(text: str) -> Iterator[MountEntry]:
    for line in text.splitlines():
        head, sep, tail = line.partition(" - ")
        if not sep:
            continue
        fields, rest = head.split(), tail.split()
        if len(fields) < 5 or len(rest) < 3:
            continue
        major, _, minor = fields[2].partition(":")
        yield MountEntry(
            mount_id=int(fields[0]),
            dev=os.makedev(int(major), int(minor)),
            mountpoint=unescape(fields[4]),
            fstype=rest[0],
            source=unescape(rest[1]),
            super_options=rest[2],
            mount_options=fields[5] if len(fields) > 5 else "",
        )


def overlay_option(options: str, key: str) -> str | None:
    """``upperdir=``/``lowerdir=`` from overlay super options (commas in paths are escaped)."""
    for opt in re.split(r"(?<!\\),", options):
        name, sep, value = opt.partition("=")
        if sep and name == key:
            return unescape(value)
    return None


class DockerLayers:
    """Docker's rw layer id -> container id, from ``image/overlay2/layerdb/mounts/<id>/mount-id``.

    Docker writes that file at ``create``, before the rootfs is mounted, so reading it costs no
    API round trip on the path to marking.
    """

    def __init__(self) -> None:
        self._by_layer: dict[str, str] = {}
        self._seen: set[str] = set()

    def container_for(self, docker_root: str, layer: str) -> str | None:
        if layer not in self._by_layer:
            self._refresh(os.path.join(docker_root, "image", "overlay2", "layerdb", "mounts"))
        return self._by_layer.get(layer)

    def _refresh(self, mounts_dir: str) -> None:
        try:
            names = os.listdir(mounts_dir)
        except OSError:
            return
        for cid in names:
            if cid in self._seen:
                continue
            try:
                with open(os.path.join(mounts_dir, cid, "mount-id")) as f:
                    self._by_layer[f.read().strip()] = cid
                self._seen.add(cid)
            except OSError:
                continue


def classify(entry: MountEntry, layers: DockerLayers) -> RootfsMount | None:
    """A container rootfs mount, or None (host mounts, Docker's transient ``-init`` layers)."""
    runtime: str
    cid: str | None
    if (m := _DOCKER.match(entry.mountpoint)) and entry.fstype == "overlay":
        runtime, cid = "docker", layers.container_for(m.group("root"), m.group("layer"))
    elif m := _CONTAINERD.search(entry.mountpoint):
        runtime, cid = "containerd", m.group("id")
    elif m := _CRIO.search(entry.mountpoint):
        runtime, cid = "cri-o", m.group("id")
    else:
        return None
    return RootfsMount(
        mount_id=entry.mount_id,
        dev=entry.dev,
        mountpoint=entry.mountpoint,
        runtime=runtime,
        container_id=cid,
        upperdir=overlay_option(entry.super_options, "upperdir"),
        lowerdir=overlay_option(entry.super_options, "lowerdir"),
    )


Callback = Callable[[RootfsMount], None]
ATTACH_TRIES = 5  # rescans (one a second at least) a failed attach is tried again for


class AttachLater(Exception):
    """Raised by an attach callback that could not use the mount yet (a transient error): the
    watcher calls it again at its next rescans while the mount is there."""


class MountWatcher:
    """Reports rootfs mounts appearing and disappearing; callbacks run on the watcher thread."""

    def __init__(
        self,
        on_attach: Iterable[Callback],
        on_detach: Iterable[Callback],
        mountinfo: str = MOUNTINFO,
        rescan_s: float = 1.0,
    ) -> None:
        self.on_attach = list(on_attach)
        self.on_detach = list(on_detach)
        self.mountinfo = mountinfo
        self.rescan_s = rescan_s
        self.mounts: dict[int, RootfsMount] = {}
        # mount id -> (callbacks that asked to be called again, tries left)
        self.retry: dict[int, tuple[list[Callback], int]] = {}
        self.rescans = 0
        self._layers = DockerLayers()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._thread: threading.Thread | None = None

    def rescan(self) -> None:
        with open(self.mountinfo) as f:
            text = f.read()
        self.rescans += 1
        current: dict[int, RootfsMount] = {}
        for entry in parse_mountinfo(text):
            known = self.mounts.get(entry.mount_id)
            found = known if known and known.dev == entry.dev else classify(entry, self._layers)
            if found is not None:
                current[entry.mount_id] = found
        gone = [m for mid, m in self.mounts.items() if mid not in current]
        new = {mid: m for mid, m in current.items() if mid not in self.mounts}
        self.mounts = current
        for m in gone:
            self._call(self.on_detach, m)
        waiting, self.retry = self.retry, {}
        for mid, (callbacks, tries) in waiting.items():
            if mid in current and mid not in new:
                self._attach(mid, current[mid], callbacks, tries)
        for mid, m in new.items():
            self._attach(mid, m, self.on_attach, ATTACH_TRIES)

    def _attach(self, mid: int, mount: RootfsMount, callbacks: list[Callback], tries: int) -> None:
        again = [cb for cb in callbacks if self._call_one(cb, mount, retry=True)]
        if again and tries > 1:
            self.retry[mid] = (again, tries - 1)
        elif again:
            log.warning("gave up attaching %s after %d tries", mount.mountpoint, ATTACH_TRIES)

    def _call(self, callbacks: list[Callback], mount: RootfsMount) -> None:
        for cb in callbacks:
            self._call_one(cb, mount, retry=False)

    def _call_one(self, cb: Callback, mount: RootfsMount, *, retry: bool) -> bool:
        """Call one consumer; True when it asked to be called again (``AttachLater``)."""
        try:
            cb(mount)
        except AttachLater:
            return retry
        except Exception:  # one failing consumer must not stop discovery
            log.exception("mount callback failed for %s", mount.mountpoint)
        return False

    def start(self) -> None:
        self.rescan()
        self._thread = threading.Thread(target=self._run, name="mamori-mounts", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        fd = os.open(self.mountinfo, os.O_RDONLY | os.O_CLOEXEC)
        try:
            poller = select.poll()
            poller.register(fd, select.POLLPRI | select.POLLERR)
            poller.register(self._wake_r, select.POLLIN)
            while not self._stop.is_set():
                poller.poll(self.rescan_s * 1000)
                if self._stop.is_set():
                    break
                try:
                    self.rescan()
                except Exception:
                    log.exception("mountinfo rescan failed")
        finally:
            os.close(fd)

    def close(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        os.close(self._wake_r)
        os.close(self._wake_w)
