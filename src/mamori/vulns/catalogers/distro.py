"""The distro from os-release (and the older release files)."""

from __future__ import annotations

import shlex

from mamori.vulns.catalogers.model import Distro
from mamori.vulns.errors import ImageError
from mamori.vulns.images.vfs import FileSystem


def _read(fs: FileSystem, path: str) -> str | None:
    try:
        return fs.read(path, limit=64 << 10).decode("utf-8", "replace")
    except ImageError:
        return None


def parse_os_release(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        try:
            parts = shlex.split(value)
        except ValueError:
            parts = [value.strip("\"'")]
        out[key.strip()] = parts[0] if parts else ""
    return out


def detect(fs: FileSystem) -> Distro | None:
    for path in ("etc/os-release", "usr/lib/os-release"):
        text = _read(fs, path)
        if text:
            f = parse_os_release(text)
            if f.get("ID"):
                return Distro(
                    id=f["ID"].lower(),
                    version_id=f.get("VERSION_ID", ""),
                    codename=f.get("VERSION_CODENAME", ""),
                    pretty_name=f.get("PRETTY_NAME", ""),
                    id_like=tuple(f.get("ID_LIKE", "").split()),
                )
    text = _read(fs, "etc/alpine-release")
    if text:
        return Distro("alpine", text.strip())
    text = _read(fs, "etc/debian_version")
    if text:
        return Distro("debian", text.strip().split(".")[0])
    return None
