"""Is the exec'd file image content at that path? (design §1.2)

Input is the fanotify event fd, open on the exact inode being exec'd: content is read with
``pread`` on that fd only, never by path (no TOCTOU). The image side (lower layers) is immutable,
so it is looked up by path and cached per layer chain.

Order of the checks keeps hashing off the answer path for most drift: a missing image file
(``drift-new``) or a size change (``drift-modified``) is decided from ``stat`` alone; only an
equal-size upper file is hashed against the image file (``image-copyup`` vs ``drift-modified``).
"""

from __future__ import annotations

import enum
import hashlib
import os
import stat
import threading
from collections import OrderedDict
from dataclasses import dataclass

from mamori.core.fastinit import fast_init
from mamori.drift.inodes import ImageInodes, LayerIndex

CHUNK = 1 << 20  # pread size; hashlib releases the GIL for large updates
DELETED = " (deleted)"
OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
CACHE_MAX = 65536
# Where an image's own executables usually live: ``relocated_from`` first tries a same-named,
# same-size, same-hash file there, then the image's executables of the same size.
BIN_DIRS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")
INDEX_MAX_FILES = 400_000  # an image with more entries is indexed only this far
INDEX_MAX_CHAINS = 64  # per-image indexes kept (one per distinct layer chain)
INDEX_MAX_HASHES = 32  # same-size candidates hashed per lookup at most


class Verdict(enum.StrEnum):
    IMAGE = "image"
    IMAGE_COPYUP = "image-copyup"
    DRIFT_NEW = "drift-new"
    DRIFT_MODIFIED = "drift-modified"
    DRIFT_DELETED = "drift-deleted"
    DRIFT_MEMFD = "drift-memfd"
    DRIFT_VOLUME = "drift-volume"
    DRIFT_LOADER = "drift-loader"
    UNKNOWN = "unknown"

    @property
    def is_drift(self) -> bool:
        return self in _DRIFT  # asked several times per exec: no str work


_DRIFT = frozenset(v for v in Verdict if v.value.startswith("drift-"))

EXPLAIN: dict[Verdict, str] = {
    Verdict.IMAGE: "The executable is an unmodified file of the container image.",
    Verdict.IMAGE_COPYUP: (
        "The executable was copied to the container's writable layer (chmod, touch or similar) "
        "but its content is identical to the image file at that path."
    ),
    Verdict.DRIFT_NEW: (
        "The executable was written after the container started: the image has no file at "
        "that path."
    ),
    Verdict.DRIFT_MODIFIED: (
        "The executable exists in the image at that path, but its content was changed inside "
        "the container."
    ),
    Verdict.DRIFT_DELETED: (
        "The executable was deleted right before or while running and did not come from the "
        "image (a common way to hide a dropped binary)."
    ),
    Verdict.DRIFT_MEMFD: (
        "The executable lives only in memory (memfd_create): fileless execution, never part "
        "of the image."
    ),
    Verdict.DRIFT_VOLUME: (
        "The executable is on a volume (bind mount, emptyDir, tmpfs): nothing on a volume "
        "comes from the image."
    ),
    Verdict.DRIFT_LOADER: (
        "The dynamic loader (ld.so) was executed directly with a program to run: the program is "
        "mapped, not executed, so no exec check sees it (a way around exec controls)."
    ),
    Verdict.UNKNOWN: "mamori could not decide where the executable came from (it failed open).",
}


@dataclass(frozen=True, slots=True)
class Layers:
    """A container rootfs overlay: its device and host-side layer directories (top first)."""

    dev: int
    upperdir: str | None
    lowerdirs: tuple[str, ...]

    @property
    def chain(self) -> tuple[str, ...]:
        return self.lowerdirs


@fast_init
@dataclass(frozen=True, slots=True)
class VerdictResult:
    verdict: Verdict
    path: str  # the exec'd file in the container (`` (deleted)`` stripped)
    reason: str = ""
    sha256: str | None = None
    relocated_from: str | None = None
    upper: bool = False  # an overlay file with an upper copy (Falco's is_exe_upper_layer)
    lower: bool = False  # an overlay file without one (Falco's is_exe_lower_layer)
    memfd: bool = False
    image_path: str | None = None  # host path of the image file at that path, if any


def resolve_layer_dirs(option: str | None, mountpoint: str) -> tuple[str, ...]:
    """``lowerdir=`` (colon-separated, top first) to real host paths.

    Docker passes relative ``l/<id>`` links when the list is long (it mounts from the overlay2
    directory); data-only layers (``::``) are still lower layers for lookups.
    """
    if not option:
        return ()
    base = os.path.dirname(os.path.dirname(mountpoint))  # <root>/overlay2 for Docker
    out: list[str] = []
    for part in option.replace("::", ":").split(":"):
        if not part:
            continue
        part = part.replace("\\:", ":")
        full = part if os.path.isabs(part) else os.path.join(base, part)
        out.append(os.path.realpath(full))
    return tuple(out)


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    for name in OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


# A layer entry as the walk needs it: its lstat; None: the layer has no such entry.
LayerEntry = os.stat_result | None


def _layer_entry(host_path: str) -> LayerEntry:
    """The layer's entry at ``host_path``; None when it has none (or it cannot be read)."""
    try:
        return os.lstat(host_path)
    except OSError:
        return None


def lower_lookup(
    lowerdirs: tuple[str, ...],
    path: str,
    seen: dict[str, LayerEntry] | None = None,
    opaque: dict[str, bool] | None = None,
) -> str | None:
    """The host path of the image file at container ``path``, or None when the image has none.

    Layers are walked top to bottom; a whiteout of the path or an ancestor, a non-directory
    ancestor, or an opaque ancestor directory (after its own layer) ends the walk as absent.
    ``seen`` remembers each layer entry probed and ``opaque`` each directory's opaque mark
    (lower layers never change): a first-seen file in a directory walked before costs one
    lstat per layer. The opaque mark (an xattr read, two for the two namespaces) is read only
    where it matters, when a layer has the directories but not the file, so the usual walk,
    which finds the file in the first layer that has its directory, reads none.
    """
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None
    last, bottom = len(parts) - 1, len(lowerdirs) - 1
    for depth, layer in enumerate(lowerdirs):
        cur = layer
        walked: list[str] = []  # this layer's directories on the path
        for i, name in enumerate(parts):
            cur = f"{cur}/{name}"
            if seen is None:
                st = _layer_entry(cur)
            elif cur in seen:
                st = seen[cur]
            else:
                st = seen[cur] = _layer_entry(cur)
            if st is None:
                break  # this layer lacks it; a lower one may have it
            if _is_whiteout(st):
                return None
            if i == last:
                return cur
            if not stat.S_ISDIR(st.st_mode):
                return None  # a file hides a directory below it
            walked.append(cur)
        if walked and depth < bottom and any(_opaque_dir(d, opaque) for d in walked):
            return None  # an opaque directory hides what lower layers have below it
    return None


def _opaque_dir(host_path: str, known: dict[str, bool] | None) -> bool:
    if known is None:
        return _is_opaque(host_path)
    found = known.get(host_path)
    if found is None:
        found = known[host_path] = _is_opaque(host_path)
    return found


def sha256_fd(fd: int, size: int | None = None) -> str:
    h = hashlib.sha256()
    offset = 0
    while True:
        chunk = os.pread(fd, CHUNK, offset)
        if not chunk:
            break
        h.update(chunk)
        offset += len(chunk)
    return h.hexdigest()


def sha256_path(path: str) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        return sha256_fd(fd)
    finally:
        os.close(fd)


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int, int]:
    # ctime is in the key: same-size content with a restored mtime (touch -r) must not hit the
    # old hash, and user space cannot set ctime (design §1.4).
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class _Lru(OrderedDict[object, object]):
    def __init__(self, limit: int = CACHE_MAX) -> None:
        super().__init__()
        self.limit = limit
        self.lock = threading.Lock()

    def get_(self, key: object) -> object | None:
        with self.lock:
            value = self.get(key)
            if value is not None:
                self.move_to_end(key)
            return value

    def put(self, key: object, value: object) -> None:
        with self.lock:
            self[key] = value
            if len(self) > self.limit:
                self.popitem(last=False)


_MISSING = ""  # cached "absent from the image" (None means "not cached")


def _exec_bits(mode: int) -> bool:
    return stat.S_ISREG(mode) and bool(mode & 0o111)


def image_executables(
    lowerdirs: tuple[str, ...], limit: int = INDEX_MAX_FILES
) -> dict[int, list[str]]:
    """size -> container paths of the image's executable regular files, as the merged view
    shows them: upper layers win, whiteouts and opaque directories hide what lies below."""
    by_size: dict[int, list[str]] = {}
    hidden: set[str] = set()  # non-directories of higher layers (files, whiteouts) hide below
    dirs: set[str] = set()  # directories of higher layers: merged, but hide lower non-dirs
    opaque: list[str] = []  # container dirs whose lower content is hidden
    seen = 0
    for layer in lowerdirs:
        layer_files: set[str] = set()
        layer_dirs: set[str] = set()
        new_opaque: list[str] = []
        stack = [("", layer)]
        while stack and seen < limit:
            rel, host = stack.pop()
            try:
                entries = list(os.scandir(host))
            except OSError:
                continue
            for entry in entries:
                seen += 1
                cpath = f"{rel}/{entry.name}"
                if cpath in hidden or any(cpath.startswith(o + "/") for o in opaque):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    layer_dirs.add(cpath)
                    if _is_opaque(entry.path):
                        new_opaque.append(cpath)
                    stack.append((cpath, entry.path))
                    continue
                layer_files.add(cpath)
                if cpath not in dirs and _exec_bits(st.st_mode):
                    by_size.setdefault(st.st_size, []).append(cpath)
        # Directories merge across layers; files and whiteouts hide lower ones.
        hidden.update(layer_files)
        dirs.update(layer_dirs)
        opaque.extend(new_opaque)
    return by_size


def inode_proof(fd_path: str) -> VerdictResult:
    """The verdict of an exec ``indexed_image`` proved from its fstat: an image file."""
    path = fd_path[: -len(DELETED)] if fd_path.endswith(DELETED) else fd_path
    return VerdictResult(Verdict.IMAGE, path, "stat proof (inode)", lower=True)


class VerdictEngine:
    """Decides verdicts; caches image lookups per layer chain and hashes by full stat key."""

    def __init__(self) -> None:
        self._lookups = _Lru()  # (chain, path) -> host path or _MISSING
        self._hashes = _Lru()  # stat key -> sha256 (image and exec'd files)
        self._indexes = _Lru(INDEX_MAX_CHAINS)  # chain -> image_executables()
        # lower_lookup's probes, host path -> lstat (and directory -> opaque mark): lower
        # layers never change, so the stat proof reads the image file's stat from here too
        self._entries: dict[str, LayerEntry] = {}
        self._opaque: dict[str, bool] = {}
        # (stat key, path, layer chain) -> an image verdict (see decide())
        self._proven: dict[tuple[object, ...], VerdictResult] = {}
        self._index_lock = threading.Lock()
        self.hashed_bytes = 0
        self.inodes = ImageInodes()  # lower layers' executables by inode (see indexed_image)
        self.inode_proofs = 0

    def lookup(self, layers: Layers, path: str) -> str | None:
        key = (layers.chain, path)
        cached = self._lookups.get_(key)
        if isinstance(cached, str):
            return cached or None
        if len(self._entries) >= CACHE_MAX:
            self._entries.clear()
            self._opaque.clear()
        found = lower_lookup(layers.lowerdirs, path, self._entries, self._opaque)
        self._lookups.put(key, found or _MISSING)
        return found

    def hash_fd(self, fd: int, st: os.stat_result) -> str:
        key = _stat_key(st)
        cached = self._hashes.get_(key)
        if isinstance(cached, str):
            return cached
        digest = sha256_fd(fd)
        self.hashed_bytes += st.st_size
        self._hashes.put(key, digest)
        return digest

    def hash_image(self, path: str, st: os.stat_result) -> str:
        key = _stat_key(st)
        cached = self._hashes.get_(key)
        if isinstance(cached, str):
            return cached
        digest = sha256_path(path)
        self._hashes.put(key, digest)
        return digest

    def indexed_image(self, st: os.stat_result, layers: Layers | None) -> bool:
        """The exec'd file is an unmodified image executable, from its fstat alone
        (``inodes.py``); False when the index cannot tell (not walked yet, a volume, layers on
        several filesystems, or not an unmodified image file). No path read, no layer walk."""
        if layers is None or st.st_dev != layers.dev or not _same_fs(layers):
            return False
        return self.inodes.find(layers.lowerdirs, st)

    def image_chain(self, layers: Layers | None) -> tuple[LayerIndex, ...] | None:
        """The layers' indexes when ``indexed_image`` can use them all (see ``inodes.chain``)."""
        if layers is None or not _same_fs(layers):
            return None
        return self.inodes.chain(layers.lowerdirs)

    def decide(
        self,
        fd: int,
        st: os.stat_result,
        fd_path: str,
        layers: Layers | None,
        image: bool = False,
    ) -> VerdictResult:
        """The verdict for the file behind ``fd`` (``st`` is its fstat, ``fd_path`` its link;
        ``image``: ``indexed_image`` found it).

        An image verdict is remembered by the file's full stat key and path: it holds while
        both hold (a write changes ctime, which user space cannot set back; a rename or a
        delete changes the path) and lower layers never change. With rules on, every exec of
        an image binary comes here, and most are the same few files."""
        if image:  # indexed_image() found it: the stat proof, by inode number
            self.inode_proofs += 1
            return inode_proof(fd_path)
        key = (*_stat_key(st), fd_path, layers.chain if layers is not None else None)
        proven = self._proven.get(key)
        if proven is not None:
            return proven
        v = self._decide(fd, st, fd_path, layers)
        if v.verdict in (Verdict.IMAGE, Verdict.IMAGE_COPYUP):
            if len(self._proven) >= CACHE_MAX:
                self._proven.clear()
            self._proven[key] = v
        return v

    def _decide(
        self, fd: int, st: os.stat_result, fd_path: str, layers: Layers | None
    ) -> VerdictResult:
        deleted = fd_path.endswith(DELETED)
        path = fd_path[: -len(DELETED)] if deleted else fd_path
        if path.startswith("/memfd:"):
            return VerdictResult(Verdict.DRIFT_MEMFD, path, "memfd", memfd=True)
        if layers is None:
            return VerdictResult(Verdict.UNKNOWN, path, "overlay not known")
        if st.st_dev != layers.dev:
            return VerdictResult(Verdict.DRIFT_VOLUME, path, "not on the rootfs overlay")
        image = self.lookup(layers, path)
        if image is None and deleted:
            # A file may really be named "x (deleted)": try the link as it reads, too.
            image = self.lookup(layers, fd_path)
        if image is None:
            verdict = Verdict.DRIFT_DELETED if deleted else Verdict.DRIFT_NEW
            return VerdictResult(verdict, path, "absent from the image", upper=True)
        try:
            ist = self._image_stat(image)
        except OSError as exc:
            return VerdictResult(Verdict.UNKNOWN, path, f"image file unreadable: {exc}")
        if self._same_file(st, ist, layers):
            return VerdictResult(Verdict.IMAGE, path, "stat proof", lower=True, image_path=image)
        if not stat.S_ISREG(ist.st_mode) or ist.st_size != st.st_size:
            verdict = Verdict.DRIFT_DELETED if deleted else Verdict.DRIFT_MODIFIED
            return VerdictResult(verdict, path, "size differs", upper=True, image_path=image)
        mine = self.hash_fd(fd, st)
        if mine == self.hash_image(image, ist):
            return VerdictResult(
                Verdict.IMAGE_COPYUP, path, "same sha256", mine, upper=True, image_path=image
            )
        verdict = Verdict.DRIFT_DELETED if deleted else Verdict.DRIFT_MODIFIED
        return VerdictResult(verdict, path, "content differs", mine, upper=True, image_path=image)

    def _image_stat(self, image: str) -> os.stat_result:
        """The lower file's lstat, as the layer walk saw it (or now, after a cache clear);
        a failure raises and is not remembered."""
        st = self._entries.get(image)
        if st is None:
            st = self._entries[image] = os.lstat(image)
        return st

    @staticmethod
    def _same_file(st: os.stat_result, ist: os.stat_result, layers: Layers) -> bool:
        """Overlay shows a lower-only file with the lower file's attributes; a copy-up keeps
        size, mtime and even the inode number, but gets a new ctime (design §1.4)."""
        if (st.st_size, st.st_mtime_ns, st.st_ctime_ns) != (
            ist.st_size,
            ist.st_mtime_ns,
            ist.st_ctime_ns,
        ):
            return False
        # Inode numbers are comparable only when the layers share one filesystem (no xino).
        return st.st_ino == ist.st_ino or not _same_fs(layers)

    def relocated_from(self, layers: Layers, path: str, sha256: str, size: int) -> str | None:
        """An image executable with the same content: the same name in the usual bin
        directories first (cheap), then the per-image index of executables by size."""
        name = os.path.basename(path)
        tried = {path}
        for candidate in (f"{d}/{name}" for d in BIN_DIRS):
            tried.add(candidate)
            if candidate != path and self._same_content(layers, candidate, sha256, size):
                return candidate
        others = [p for p in self.executables(layers).get(size, ()) if p not in tried]
        for candidate in sorted(others)[:INDEX_MAX_HASHES]:
            if self._same_content(layers, candidate, sha256, size):
                return candidate
        return None

    def executables(self, layers: Layers) -> dict[int, list[str]]:
        """The image's executables by size, built once per layer chain (lower layers never
        change) and on the slow path only: drift verdicts never wait for it."""
        cached = self._indexes.get_(layers.chain)
        if isinstance(cached, dict):
            return cached
        with self._index_lock:  # one walk per chain even when several drift execs race
            cached = self._indexes.get_(layers.chain)
            if not isinstance(cached, dict):
                cached = image_executables(layers.lowerdirs)
                self._indexes.put(layers.chain, cached)
        return cached

    def _same_content(self, layers: Layers, candidate: str, sha256: str, size: int) -> bool:
        found = self.lookup(layers, candidate)
        if found is None:
            return False
        try:
            st = os.stat(found)  # Docker images link applets: follow within the layer
            return st.st_size == size and self.hash_image(found, st) == sha256
        except OSError:
            return False


_fs_cache: dict[tuple[str, ...], bool] = {}


def _same_fs(layers: Layers) -> bool:
    found = _fs_cache.get(layers.lowerdirs)
    if found is None:
        devs = set()
        for d in (*layers.lowerdirs, *([layers.upperdir] if layers.upperdir else [])):
            try:
                devs.add(os.stat(d).st_dev)
            except OSError:
                continue
        found = _fs_cache[layers.lowerdirs] = len(devs) <= 1
    return found
