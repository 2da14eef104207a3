"""Build small images in tests: layer tars, docker-archives and OCI layouts, byte by byte."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes = b""
    kind: str = "f"  # f file, d dir, l symlink, h hardlink, c char device, p fifo
    link: str = ""
    mode: int = 0o644


def layer_tar(members: list[Member]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.mode = m.mode
            info.mtime = 1_700_000_000
            data = None
            if m.kind == "f":
                info.size = len(m.data)
                data = io.BytesIO(m.data)
            elif m.kind == "d":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            elif m.kind == "l":
                info.type = tarfile.SYMTYPE
                info.linkname = m.link
            elif m.kind == "h":
                info.type = tarfile.LNKTYPE
                info.linkname = m.link
            elif m.kind == "c":
                info.type = tarfile.CHRTYPE
                info.devmajor, info.devminor = 1, 3
            elif m.kind == "p":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info, data)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_for(layers: list[bytes], arch: str = "amd64") -> bytes:
    return json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256(x) for x in layers]},
        },
        sort_keys=True,
    ).encode()


def docker_archive(
    path: Path, layers: list[bytes], *, tag: str = "mamori/test:1", gz: bool = False
) -> Path:
    config = config_for(layers)
    config_name = sha256(config).split(":")[1] + ".json"
    names = [f"{sha256(x).split(':')[1]}/layer.tar" for x in layers]
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": names}]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in [
            *zip(names, layers, strict=True),
            (config_name, config),
            ("manifest.json", json.dumps(manifest).encode()),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    path.write_bytes(gzip.compress(raw, mtime=0) if gz else raw)
    return path


LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def _blob(root: Path, data: bytes) -> dict[str, object]:
    digest = sha256(data)
    p = root / "blobs" / "sha256" / digest.split(":")[1]
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return {"digest": digest, "size": len(data)}


def oci_manifest(root: Path, layers: list[bytes], arch: str = "amd64") -> dict[str, object]:
    config = _blob(root, config_for(layers, arch))
    layer_descs = [
        {**_blob(root, gzip.compress(x, mtime=0)), "mediaType": LAYER_GZIP} for x in layers
    ]
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {**config, "mediaType": "application/vnd.oci.image.config.v1+json"},
        "layers": layer_descs,
    }
    desc = _blob(root, json.dumps(manifest).encode())
    return {
        **desc,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "platform": {"os": "linux", "architecture": arch},
    }


def oci_layout(root: Path, images: dict[str, list[bytes]], *, tag: str = "1") -> Path:
    """``images`` maps an architecture to its layers; several make a multi-platform index."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    manifests = [oci_manifest(root, layers, arch) for arch, layers in images.items()]
    if len(manifests) == 1:
        top = {**manifests[0], "annotations": {"org.opencontainers.image.ref.name": tag}}
    else:
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        }
        top = {
            **_blob(root, json.dumps(index).encode()),
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    return root
