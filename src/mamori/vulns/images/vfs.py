"""Read-only views of an image's merged filesystem, never extracted to disk.

``FileSystem`` is what catalogers see. ``LayeredFS`` merges per-layer tar indexes (whiteouts
and opaque directories applied) and reads file data straight out of the layer tar files by
offset. ``DirFS`` is a directory on disk (a rootfs, or ``/`` for a node scan). Both resolve
symlinks inside the image root, like a chroot: a link to ``/etc/passwd`` or ``../../..`` never
leaves the root.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from mamori.vulns.errors import ImageError
from mamori.vulns.images.limits import Limits, size_text

MAX_SYMLINK_HOPS = 40


@dataclass(frozen=True, slots=True)
class Entry:
    """One path in a layer: kind ``f`` file, ``d`` dir, ``l`` symlink, ``h`` hardlink."""

    path: str  # normalized, relative, no leading "/"
    kind: str
    size: int = 0
    mode: int = 0
    link: str = ""
    offset: int = 0  # of the data in the (uncompressed) layer tar
    sparse: bool = False
    layer: int = 0  # index in the image's layer list (0 = base)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [{self.code}]"


class FileSystem(Protocol):
    """What catalogers read."""

    def walk(self) -> Iterator[Entry]:
        """Every path (files, dirs, links) in the merged view."""
        ...

    def lookup(self, path: str) -> Entry | None:
        """The entry at ``path`` after following symlinks (None if missing)."""
        ...

    def read(self, path: str, limit: int | None = None) -> bytes: ...

    def open(self, path: str) -> IO[bytes]: ...

    @property
    def diagnostics(self) -> list[Diagnostic]: ...


def normalize(name: str) -> str | None:
    """A member name as a relative path; None if it tries to climb out with ``..``."""
    parts: list[str] = []
    for part in name.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            return None
        parts.append(part)
    return "/".join(parts)


def _join_link(base_dir: str, target: str) -> tuple[str, bool]:
    """Resolve ``target`` (relative to ``base_dir``) inside the root; True if it tried to escape."""
    raw = target if target.startswith("/") else posixpath.join("/", base_dir, target)
    parts: list[str] = []
    escaped = False
    for part in raw.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            else:
                escaped = True
            continue
        parts.append(part)
    return "/".join(parts), escaped


class _Resolver:
    """Symlink resolution within a root, shared by both file systems."""

    diagnostics: list[Diagnostic]

    def _lstat(self, path: str) -> Entry | None:
        raise NotImplementedError

    def lookup(self, path: str) -> Entry | None:
        norm = normalize(path)
        if norm is None:
            return None
        resolved = self._resolve(norm, follow_last=True)
        return None if resolved is None else self._lstat(resolved)

    def _resolve(self, path: str, *, follow_last: bool) -> str | None:
        hops = 0
        todo = [p for p in path.split("/") if p]
        done: list[str] = []
        while todo:
            part = todo.pop(0)
            candidate = "/".join([*done, part])
            entry = self._lstat(candidate)
            if entry is None:
                if todo:  # a directory implied by deeper members (tars need not list it)
                    done.append(part)
                    continue
                return None
            if entry.kind == "l" and (todo or follow_last):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    return None
                target, escaped = _join_link("/".join(done), entry.link)
                if escaped:
                    self.diagnostics.append(
                        Diagnostic(
                            "symlink-escape",
                            "/" + candidate,
                            f"symlink to {entry.link!r} points above the image root; "
                            "resolved inside the root",
                        )
                    )
                todo = [p for p in target.split("/") if p] + todo
                done = []
                continue
            done.append(part)
        return "/".join(done)


class LayeredFS(_Resolver):
    """The merged view of an image's layers, each an uncompressed tar file plus its index."""

    def __init__(
        self,
        entries: dict[str, Entry],
        layer_files: list[Path],
        limits: Limits,
        diagnostics: list[Diagnostic],
    ) -> None:
        self._entries = entries
        self._files = layer_files
        self._limits = limits
        self.diagnostics = diagnostics

    def _lstat(self, path: str) -> Entry | None:
        return self._entries.get(path)

    def walk(self) -> Iterator[Entry]:
        yield from self._entries.values()

    def _data_entry(self, path: str) -> Entry:
        entry = self.lookup(path)
        if entry is None:
            raise ImageError("no such file in the image", "/" + path)
        if entry.kind == "h":
            target = self._entries.get(entry.link)
            if target is None or target.kind != "f":
                raise ImageError(f"hard link to missing {entry.link!r}", "/" + path)
            entry = target
        if entry.kind != "f":
            raise ImageError("not a regular file", "/" + path)
        if entry.sparse:
            raise ImageError("sparse files are not read", "/" + path)
        return entry

    def read(self, path: str, limit: int | None = None) -> bytes:
        entry = self._data_entry(path)
        cap = self._limits.max_read_bytes if limit is None else limit
        if entry.size > cap:
            raise ImageError(f"file of {size_text(entry.size)} is over the read limit", path)
        with self._files[entry.layer].open("rb") as f:
            f.seek(entry.offset)
            return f.read(entry.size)

    def open(self, path: str) -> IO[bytes]:
        entry = self._data_entry(path)
        raw = _Window(self._files[entry.layer], entry.offset, entry.size)
        return io.BufferedReader(raw, buffer_size=1 << 16)


class _Window(io.RawIOBase):
    """A read-only, seekable window [offset, offset+size) of a file."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        super().__init__()
        self._f = path.open("rb")
        self._start = offset
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        self._f.seek(self._start + self._pos)
        data = self._f.read(n)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._f.close()
        super().close()


SKIP_NODE_DIRS = ("proc", "sys", "dev", "run", "tmp", "var/lib/docker", "var/lib/containerd")


class DirFS(_Resolver):
    """A directory on disk seen as an image root (rootfs trees, node scans)."""

    def __init__(self, root: Path, *, skip: tuple[str, ...] = (), limits: Limits | None = None):
        self.root = root.resolve()
        if not self.root.is_dir():
            raise ImageError("not a directory", str(root))
        self._skip = {s.strip("/") for s in skip}
        self._limits = limits or Limits()
        self.diagnostics: list[Diagnostic] = []
        self._root_dev = self.root.stat().st_dev

    def _lstat(self, path: str) -> Entry | None:
        full = os.path.join(self.root, path)
        try:
            st = os.lstat(full)
        except OSError:
            return None
        return self._entry(path, st, full)

    def _entry(self, rel: str, st: os.stat_result, full: str) -> Entry | None:
        if stat.S_ISREG(st.st_mode):
            return Entry(rel, "f", st.st_size, stat.S_IMODE(st.st_mode))
        if stat.S_ISDIR(st.st_mode):
            return Entry(rel, "d", 0, stat.S_IMODE(st.st_mode))
        if stat.S_ISLNK(st.st_mode):
            try:
                link = os.readlink(full)
            except OSError:
                return None
            return Entry(rel, "l", 0, 0o777, link)
        return None  # devices, fifos, sockets: never read

    def walk(self) -> Iterator[Entry]:
        stack = [""]
        while stack:
            rel_dir = stack.pop()
            full_dir = os.path.join(self.root, rel_dir) if rel_dir else str(self.root)
            try:
                it = os.scandir(full_dir)
            except OSError as exc:
                self.diagnostics.append(Diagnostic("unreadable", "/" + rel_dir, exc.strerror or ""))
                continue
            with it:
                for d in it:
                    rel = f"{rel_dir}/{d.name}" if rel_dir else d.name
                    if rel in self._skip:
                        continue
                    try:
                        st = d.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    entry = self._entry(rel, st, d.path)
                    if entry is None:
                        continue
                    if entry.kind == "d":
                        if st.st_dev != self._root_dev and self._skip:
                            continue  # node scans stay on the root's file system
                        stack.append(rel)
                    yield entry

    def _real(self, path: str) -> str:
        norm = normalize(path)
        resolved = None if norm is None else self._resolve(norm, follow_last=True)
        if resolved is None:
            raise ImageError("no such file", "/" + path.lstrip("/"))
        return os.path.join(self.root, resolved)

    def read(self, path: str, limit: int | None = None) -> bytes:
        with self.open(path) as f:
            cap = self._limits.max_read_bytes if limit is None else limit
            data = f.read(cap + 1)
        if len(data) > cap:
            raise ImageError("file is over the read limit", path)
        return data

    def open(self, path: str) -> IO[bytes]:
        real = self._real(path)
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            raise ImageError(f"cannot open: {exc.strerror}", path) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ImageError("not a regular file", path)
        return os.fdopen(fd, "rb")
