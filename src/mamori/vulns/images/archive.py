"""``docker save`` archives (plain or gzip'd, from a file or a stream) -> an Image."""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any

from mamori.vulns.errors import ImageError, UnsafeArchiveError
from mamori.vulns.images.layers import GZIP_MAGIC, LayerCache, LayerIndex, _Peek, merge
from mamori.vulns.images.limits import CountingReader, Readable, size_text
from mamori.vulns.images.model import Image
from mamori.vulns.images.vfs import normalize


def read_docker_archive(
    stream: Readable, where: str, cache: LayerCache, *, ref: str = "", source: str = ""
) -> Image:
    """Stream the outer tar once: JSON members kept in memory, layers ingested into the cache."""
    lim = cache.limits
    outer_count = CountingReader(stream, where=where, what="archive")
    peek = _Peek(outer_count)
    src: Readable = peek
    if peek.head.startswith(GZIP_MAGIC):
        src = CountingReader(
            gzip.GzipFile(fileobj=peek, mode="rb"),  # type: ignore[call-overload]
            where=where,
            what="archive (decompressed)",
            compressed=outer_count,
            limits=lim,
        )
    jsons: dict[str, bytes] = {}
    layers: dict[str, LayerIndex] = {}
    try:
        with tarfile.open(fileobj=src, mode="r|") as tar:  # type: ignore[call-overload]
            for m in tar:
                name = normalize(m.name)
                if name is None:
                    raise UnsafeArchiveError(f"member {m.name!r} climbs out with '..'", where)
                if not m.isreg():
                    continue
                if m.issparse() or m.size > lim.max_layer_bytes:
                    raise UnsafeArchiveError(
                        f"member {m.name!r} declares {size_text(m.size)}"
                        f"{' (sparse)' if m.issparse() else ''}: sparse or over the layer "
                        f"limit of {size_text(lim.max_layer_bytes)}; refusing",
                        where,
                    )
                f = tar.extractfile(m)
                if f is None:
                    continue
                head = _Peek(f, 512)
                if name.endswith(".json") or name == "repositories" or _looks_json(head.head):
                    if m.size > lim.max_json_bytes:
                        raise ImageError(f"{name} is too large for a manifest", where)
                    jsons[name] = head.read()
                    continue
                if _looks_layer(head.head, m.size):
                    layers[name] = cache.ingest(head, f"{where}:{name}")
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise ImageError(f"not a readable docker archive: {exc}", where) from None
    return _assemble(jsons, layers, where, cache, ref=ref or where, source=source)


def open_docker_archive(path: Path, cache: LayerCache, *, ref: str = "") -> Image:
    try:
        with path.open("rb") as f:
            return read_docker_archive(f, str(path), cache, ref=ref, source="docker-archive")
    except OSError as exc:
        raise ImageError(f"cannot read: {exc.strerror}", str(path)) from None


def open_layer_files(paths: list[Path], cache: LayerCache, *, ref: str = "") -> Image:
    """Bare layer tars (plain or gzip'd), base first, as one image without a config."""
    indexes: list[LayerIndex] = []
    for p in paths:
        try:
            with p.open("rb") as f:
                indexes.append(cache.ingest(f, str(p)))
        except OSError as exc:
            raise ImageError(f"cannot read: {exc.strerror}", str(p)) from None
    diff_ids = [i.diff_id for i in indexes]
    fs = merge(indexes, [cache.tar_path(d) for d in diff_ids], cache.limits)
    return Image(ref=ref or str(paths[-1]), source="layer", fs=fs, diff_ids=diff_ids)


def _looks_layer(head: bytes, size: int) -> bool:
    """gzip, a ustar/GNU tar header, or a small empty tar (zero blocks only)."""
    if head.startswith(GZIP_MAGIC) or head[257:262] == b"ustar":
        return True
    return size <= 64 << 10 and len(head) == 512 and not head.strip(b"\0")


def _looks_json(head: bytes) -> bool:
    return head.lstrip()[:1] == b"{"


class NotAnImageArchive(ImageError):
    """A readable tar without ``manifest.json`` (e.g. a single layer)."""


def _load(jsons: dict[str, bytes], name: str, where: str) -> Any:
    try:
        return json.loads(jsons[name])
    except KeyError:
        raise (NotAnImageArchive if name == "manifest.json" else ImageError)(
            f"{name} is missing", where
        ) from None
    except ValueError as exc:
        raise ImageError(f"{name} is not JSON: {exc}", where) from None


def _assemble(
    jsons: dict[str, bytes],
    layers: dict[str, LayerIndex],
    where: str,
    cache: LayerCache,
    *,
    ref: str,
    source: str,
) -> Image:
    manifest = _load(jsons, "manifest.json", where)
    if not isinstance(manifest, list) or not manifest:
        raise ImageError("manifest.json holds no image", where)
    entry = manifest[0]
    if len(manifest) > 1 and ref:
        for candidate in manifest:
            if ref in (candidate.get("RepoTags") or []):
                entry = candidate
    config_name = normalize(str(entry.get("Config", "")))
    if not config_name:
        raise ImageError("manifest.json names no config", where)
    config = _load(jsons, config_name, where)
    indexes: list[LayerIndex] = []
    for layer_name in entry.get("Layers") or []:
        norm = normalize(str(layer_name)) or ""
        if norm not in layers:
            raise ImageError(f"layer {layer_name} is missing from the archive", where)
        indexes.append(layers[norm])
    diff_ids = [str(d) for d in (config.get("rootfs") or {}).get("diff_ids") or []]
    actual = [i.diff_id for i in indexes]
    if diff_ids and diff_ids != actual:
        raise ImageError("layer digests do not match the config's rootfs.diff_ids", where)
    fs = merge(indexes, [cache.tar_path(d) for d in actual], cache.limits)
    image_id = "sha256:" + hashlib.sha256(jsons[config_name]).hexdigest()
    return Image(
        ref=ref,
        source=source,
        fs=fs,
        id=image_id,
        diff_ids=actual,
        config=config,
        platform=_platform(config),
        tags=list(entry.get("RepoTags") or []),
    )


def _platform(config: dict[str, Any]) -> str:
    os_, arch = config.get("os", ""), config.get("architecture", "")
    variant = config.get("variant")
    return "/".join(p for p in (os_, arch, variant) if p)
