"""OCI image layout directories (``oci-layout``, ``index.json``, ``blobs/``) and the manifest
walk shared with the registry client: index -> platform -> manifest -> config + layers."""

from __future__ import annotations

import json
import platform as _platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mamori.vulns.errors import ImageError
from mamori.vulns.images.layers import LayerCache, LayerIndex, merge
from mamori.vulns.images.limits import Readable
from mamori.vulns.images.model import Image
from mamori.vulns.images.vfs import normalize

INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
MANIFEST_TYPES = {
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
}
REF_NAME = "org.opencontainers.image.ref.name"


def host_platform() -> str:
    machine = _platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)
    return f"linux/{arch}"


def pick_platform(manifests: list[dict[str, Any]], wanted: str, where: str) -> dict[str, Any]:
    """The descriptor for ``os/arch[/variant]`` from an index or manifest list."""
    want = wanted.split("/")
    for d in manifests:
        p = d.get("platform") or {}
        have = [p.get("os", ""), p.get("architecture", ""), p.get("variant", "")]
        if have[:2] == want[:2] and (len(want) < 3 or have[2] == want[2]):
            return d
    offered = sorted(
        "/".join(
            x
            for x in (
                (d.get("platform") or {}).get("os"),
                (d.get("platform") or {}).get("architecture"),
                (d.get("platform") or {}).get("variant"),
            )
            if x
        )
        for d in manifests
    )
    raise ImageError(f"no image for platform {wanted} (offered: {', '.join(offered)})", where)


class BlobSource:
    """Where manifests and blobs come from (a layout directory or a registry)."""

    where: str

    def json_blob(self, digest: str, media_type: str) -> tuple[dict[str, Any], bytes]:
        raise NotImplementedError

    def open_blob(self, digest: str) -> Readable:
        raise NotImplementedError

    def close_blob(self, stream: Readable) -> None:
        close: Callable[[], None] | None = getattr(stream, "close", None)
        if close is not None:
            close()


def resolve_manifest(
    src: BlobSource, descriptor: dict[str, Any], platform: str
) -> tuple[dict[str, Any], str]:
    """Follow indexes down to one image manifest; returns it and its digest."""
    for _ in range(4):
        media = str(descriptor.get("mediaType", ""))
        doc, _raw = src.json_blob(str(descriptor["digest"]), media)
        media = str(doc.get("mediaType") or media)
        if media in INDEX_TYPES or ("manifests" in doc and "layers" not in doc):
            descriptor = pick_platform(list(doc.get("manifests") or []), platform, src.where)
            continue
        return doc, str(descriptor["digest"])
    raise ImageError("indexes nested too deep", src.where)


def build_image(
    src: BlobSource,
    manifest: dict[str, Any],
    digest: str,
    cache: LayerCache,
    *,
    ref: str,
    source: str,
) -> Image:
    config_desc = manifest.get("config") or {}
    config, _raw = src.json_blob(str(config_desc.get("digest")), str(config_desc.get("mediaType")))
    diff_ids = [str(d) for d in (config.get("rootfs") or {}).get("diff_ids") or []]
    indexes: list[LayerIndex] = []
    for n, layer in enumerate(manifest.get("layers") or []):
        blob = str(layer.get("digest"))
        known = cache.diff_id_for_blob(blob)
        cached = cache.get(known) if known else None
        if cached is None:
            stream = src.open_blob(blob)
            try:
                cached = cache.ingest(stream, f"{src.where}@{blob}")
            finally:
                src.close_blob(stream)
            cache.remember_blob(blob, cached.diff_id)
        if n < len(diff_ids) and diff_ids[n] != cached.diff_id:
            raise ImageError(
                f"layer {blob} decompresses to {cached.diff_id}, the config says {diff_ids[n]}",
                src.where,
            )
        indexes.append(cached)
    actual = [i.diff_id for i in indexes]
    fs = merge(indexes, [cache.tar_path(d) for d in actual], cache.limits)
    os_, arch = config.get("os", ""), config.get("architecture", "")
    return Image(
        ref=ref,
        source=source,
        fs=fs,
        id=str(config_desc.get("digest", "")),
        digest=digest,
        diff_ids=actual,
        config=config,
        platform=f"{os_}/{arch}",
    )


class LayoutSource(BlobSource):
    def __init__(self, root: Path, max_json: int) -> None:
        self.root = root
        self.where = str(root)
        self.max_json = max_json

    def _blob_path(self, digest: str) -> Path:
        alg, _, hexpart = digest.partition(":")
        rel = normalize(f"blobs/{alg}/{hexpart}")
        if not rel or not hexpart or "/" in hexpart:
            raise ImageError(f"malformed digest {digest!r}", self.where)
        return self.root / rel

    def json_blob(self, digest: str, media_type: str) -> tuple[dict[str, Any], bytes]:
        p = self._blob_path(digest)
        try:
            if p.stat().st_size > self.max_json:
                raise ImageError("manifest blob too large", f"{self.where}@{digest}")
            raw = p.read_bytes()
            return json.loads(raw), raw
        except OSError as exc:
            raise ImageError(f"missing blob: {exc.strerror}", f"{self.where}@{digest}") from None
        except ValueError as exc:
            raise ImageError(f"blob is not JSON: {exc}", f"{self.where}@{digest}") from None

    def open_blob(self, digest: str) -> Readable:
        try:
            return self._blob_path(digest).open("rb")
        except OSError as exc:
            raise ImageError(f"missing blob: {exc.strerror}", f"{self.where}@{digest}") from None


def open_oci_layout(
    root: Path, cache: LayerCache, *, tag: str | None = None, platform: str | None = None
) -> Image:
    where = str(root)
    try:
        index = json.loads((root / "index.json").read_text())
    except (OSError, ValueError) as exc:
        raise ImageError(f"not an OCI layout: index.json: {exc}", where) from None
    manifests: list[dict[str, Any]] = list(index.get("manifests") or [])
    if tag:
        manifests = [m for m in manifests if (m.get("annotations") or {}).get(REF_NAME) == tag]
        if not manifests:
            raise ImageError(f"no manifest tagged {tag!r}", where)
    if not manifests:
        raise ImageError("index.json lists no manifests", where)
    src = LayoutSource(root, cache.limits.max_json_bytes)
    wanted = platform or host_platform()
    desc = manifests[0]
    if len(manifests) > 1 and any("platform" in m for m in manifests):
        desc = pick_platform(manifests, wanted, where)
    manifest, digest = resolve_manifest(src, desc, wanted)
    ref = f"oci:{root}" + (f":{tag}" if tag else "")
    return build_image(src, manifest, digest, cache, ref=ref, source="oci-layout")
