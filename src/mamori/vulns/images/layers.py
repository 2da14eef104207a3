"""Layer tars: stream one in (gzip or plain) to the cache, index it, and merge the indexes.

A layer is read once, front to back: decompressed (with bomb checks), hashed (its diff id),
copied to ``<cache>/<hex>.tar`` and indexed (path, kind, size, data offset). Nothing in it is
extracted. Merging applies the OCI whiteout rules: ``.wh.NAME`` deletes NAME from the layers
below, ``.wh..wh..opq`` empties its directory of the layers below.
"""

from __future__ import annotations

import gzip
import json
import os
import tarfile
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mamori.vulns.errors import ImageError, UnsafeArchiveError
from mamori.vulns.images.limits import CountingReader, Limits, Readable, size_text
from mamori.vulns.images.vfs import Diagnostic, Entry, LayeredFS, normalize

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
INDEX_VERSION = 1


@dataclass(slots=True)
class LayerIndex:
    diff_id: str
    entries: list[Entry] = field(default_factory=list)
    whiteouts: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": INDEX_VERSION,
                "diff_id": self.diff_id,
                "entries": [
                    [e.path, e.kind, e.size, e.mode, e.link, e.offset, e.sparse]
                    for e in self.entries
                ],
                "whiteouts": self.whiteouts,
                "opaque": self.opaque,
                "diagnostics": [asdict(d) for d in self.diagnostics],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> LayerIndex | None:
        data = json.loads(text)
        if data.get("version") != INDEX_VERSION:
            return None
        return cls(
            data["diff_id"],
            [Entry(p, k, s, m, ln, o, sp) for p, k, s, m, ln, o, sp in data["entries"]],
            data["whiteouts"],
            data["opaque"],
            [Diagnostic(**d) for d in data["diagnostics"]],
        )


class _Peek:
    """Look at the first bytes of a stream without losing them."""

    def __init__(self, raw: Readable, n: int = 512) -> None:
        self.raw = raw
        self.head = raw.read(n)

    def read(self, n: int = -1, /) -> bytes:
        if self.head:
            if n < 0:
                data, self.head = self.head + self.raw.read(), b""
                return data
            data, self.head = self.head[:n], self.head[n:]
            if len(data) < n:
                data += self.raw.read(n - len(data))
            return data
        return self.raw.read(n)


class LayerCache:
    """Uncompressed layer tars and their indexes, keyed by diff id (sha256 of the tar)."""

    def __init__(self, root: Path, limits: Limits | None = None) -> None:
        self.root = root
        self.limits = limits or Limits()
        (root / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "blobs").mkdir(parents=True, exist_ok=True)

    def tar_path(self, diff_id: str) -> Path:
        return self.root / "sha256" / f"{_hex(diff_id)}.tar"

    def get(self, diff_id: str) -> LayerIndex | None:
        idx = self.root / "sha256" / f"{_hex(diff_id)}.json"
        if not (idx.exists() and self.tar_path(diff_id).exists()):
            return None
        return LayerIndex.from_json(idx.read_text())

    def diff_id_for_blob(self, digest: str) -> str | None:
        p = self.root / "blobs" / _hex(digest)
        return p.read_text().strip() if p.exists() else None

    def remember_blob(self, digest: str, diff_id: str) -> None:
        (self.root / "blobs" / _hex(digest)).write_text(diff_id)

    def ingest(self, stream: Readable, where: str) -> LayerIndex:
        """Read a layer (gzip or plain tar) to its end; return its index, cached by diff id."""
        lim = self.limits
        compressed = CountingReader(stream, where=where, what="layer")
        peek = _Peek(compressed)
        source: Readable = peek
        if peek.head.startswith(ZSTD_MAGIC):
            raise ImageError("zstd-compressed layers are not supported yet", where)
        if peek.head.startswith(GZIP_MAGIC):
            source = gzip.GzipFile(fileobj=peek, mode="rb")  # type: ignore[call-overload]
        fd, tmp_name = tempfile.mkstemp(dir=self.root, suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                plain = CountingReader(
                    source,
                    limit=lim.max_layer_bytes,
                    where=where,
                    what="layer (decompressed)",
                    hash_=True,
                    tee=out,
                    compressed=compressed if source is not peek else None,
                    limits=lim,
                )
                index = _index_tar(plain, where, lim)
                plain.drain()
            diff_id = plain.digest()
            index.diff_id = diff_id
            tmp.replace(self.tar_path(diff_id))
            (self.root / "sha256" / f"{_hex(diff_id)}.json").write_text(index.to_json())
            return index
        except (OSError, EOFError, tarfile.TarError, gzip.BadGzipFile) as exc:
            raise ImageError(f"unreadable layer: {exc}", where) from None
        finally:
            tmp.unlink(missing_ok=True)


def _hex(digest: str) -> str:
    hexpart = digest.split(":", 1)[-1]
    if not hexpart or not all(c in "0123456789abcdef" for c in hexpart):
        raise ImageError(f"malformed digest {digest!r}")
    return hexpart


def _index_tar(stream: Readable, where: str, lim: Limits) -> LayerIndex:
    index = LayerIndex("")
    count = 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
        for m in tar:
            count += 1
            if count > lim.max_entries:
                raise UnsafeArchiveError(f"more than {lim.max_entries} entries", where)
            _add_member(index, m, where, lim)
    by_path = {e.path: e for e in index.entries if e.kind == "f"}
    for i, e in enumerate(index.entries):
        if e.kind == "h":
            target = by_path.get(e.link)
            if target is not None:  # a hard link reads its target's bytes in this layer
                index.entries[i] = Entry(
                    e.path, "f", target.size, e.mode, "", target.offset, target.sparse
                )
    return index


def _add_member(index: LayerIndex, m: tarfile.TarInfo, where: str, lim: Limits) -> None:
    path = normalize(m.name)
    at = f"{where}:{m.name}"
    if path is None:
        raise UnsafeArchiveError(f"member name {m.name!r} climbs out with '..'; refusing", where)
    if m.size > lim.max_entry_bytes:
        raise UnsafeArchiveError(
            f"member {m.name!r} declares {size_text(m.size)}, over the limit of "
            f"{size_text(lim.max_entry_bytes)} per file{' (sparse)' if m.issparse() else ''}; "
            "refusing",
            where,
        )
    base = path.rsplit("/", 1)[-1]
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    if base == OPAQUE:
        index.opaque.append(parent)
        return
    if base.startswith(WHITEOUT):
        index.whiteouts.append(f"{parent}/{base[len(WHITEOUT) :]}".lstrip("/"))
        return
    if not path:
        return
    if m.isreg():
        index.entries.append(
            Entry(path, "f", m.size, m.mode & 0o7777, "", m.offset_data, m.issparse())
        )
    elif m.isdir():
        index.entries.append(Entry(path, "d", 0, m.mode & 0o7777))
    elif m.issym():
        index.entries.append(Entry(path, "l", 0, 0o777, m.linkname))
    elif m.islnk():
        target = normalize(m.linkname)
        if target is None:
            raise UnsafeArchiveError(
                f"hard link {m.name!r} -> {m.linkname!r} climbs out with '..'; refusing", where
            )
        index.entries.append(Entry(path, "h", 0, m.mode & 0o7777, target))
    else:
        kind = "device" if (m.ischr() or m.isblk()) else "fifo or special file"
        index.diagnostics.append(
            Diagnostic("special-file", at, f"{kind} refused: not indexed, never created")
        )


def merge(layers: list[LayerIndex], files: list[Path], limits: Limits) -> LayeredFS:
    """Apply layers base first; whiteouts and opaque markers hide what lies below them."""
    merged: dict[str, Entry] = {}
    diagnostics: list[Diagnostic] = []
    for n, layer in enumerate(layers):
        hidden = [d for d in layer.opaque] + layer.whiteouts
        if hidden:
            opaque = {d for d in layer.opaque}
            gone = set(layer.whiteouts)
            for p in list(merged):
                if p in gone or any(p.startswith(g + "/") for g in gone):
                    del merged[p]
                    continue
                parent = p.rsplit("/", 1)[0] if "/" in p else ""
                if any(parent == d or parent.startswith(d + "/") for d in opaque if d) or (
                    "" in opaque
                ):
                    del merged[p]
        for e in layer.entries:
            old = merged.get(e.path)
            if old is not None and old.kind == "d" and e.kind != "d":
                prefix = e.path + "/"
                for p in [p for p in merged if p.startswith(prefix)]:
                    del merged[p]
            merged[e.path] = Entry(
                e.path, e.kind, e.size, e.mode, e.link, e.offset, e.sparse, layer=n
            )
        diagnostics.extend(layer.diagnostics)
    return LayeredFS(merged, files, limits, diagnostics)
