"""Debian packages: ``var/lib/dpkg/status`` and distroless ``var/lib/dpkg/status.d/*``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from mamori.vulns.catalogers.model import Distro, Package, Report, distro_qualifier, purl
from mamori.vulns.errors import ImageError
from mamori.vulns.images.vfs import Entry, FileSystem

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]+)\))?$")


def paragraphs(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """RFC 822-style stanzas with their first line number; continuation lines are folded."""
    fields: dict[str, str] = {}
    start = 1
    last = ""
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if fields:
                yield start, fields
            fields, last = {}, ""
            start = n + 1
            continue
        if line[0] in " \t" and last:
            fields[last] += "\n" + line.strip()
            continue
        key, sep, value = line.partition(":")
        if sep:
            last = key.strip()
            fields[last] = value.strip()
    if fields:
        yield start, fields


class DpkgCataloger:
    name = "dpkg-db-cataloger"

    def wants(self, entry: Entry) -> bool:
        p = entry.path
        return entry.kind == "f" and (
            p == STATUS
            or (
                p.startswith(STATUS_D)
                and not p.endswith(".md5sums")
                and "/" not in p[len(STATUS_D) :]
            )
        )

    def catalog(
        self, fs: FileSystem, paths: list[str], distro: Distro | None, report: Report
    ) -> Iterable[Package]:
        for path in sorted(paths):
            try:
                text = fs.read(path).decode("utf-8", "replace")
            except ImageError as exc:
                report("unreadable", "/" + path, str(exc))
                continue
            for line, f in paragraphs(text):
                name, version = f.get("Package", ""), f.get("Version", "")
                if not name or not version:
                    report("dpkg-incomplete", f"/{path}:{line}", "stanza without Package/Version")
                    continue
                status = f.get("Status")
                if status is not None and not status.endswith(" installed"):
                    continue  # removed, config-files only, half-installed
                yield self._package(fs, path, f, distro)

    def _package(
        self, fs: FileSystem, path: str, f: dict[str, str], distro: Distro | None
    ) -> Package:
        name, version, arch = f["Package"], f["Version"], f.get("Architecture", "")
        src_name, src_version = name, version
        m = _SOURCE.match(f.get("Source", "").strip())
        if m:
            src_name = m["name"]
            src_version = m["version"] or version
        locations = ["/" + path]
        licenses = _copyright_licenses(fs, name, locations)
        namespace = distro.id if distro else "debian"
        qualifiers = {"arch": arch, "distro": distro_qualifier(distro)}
        if src_name != name or src_version != version:
            upstream = src_name if src_version == version else f"{src_name}@{src_version}"
            qualifiers["upstream"] = upstream
        return Package(
            name=name,
            version=version,
            type="deb",
            purl=purl("deb", name, version, namespace, qualifiers),
            locations=tuple(locations),
            licenses=licenses,
            source_name=src_name,
            source_version=src_version,
            arch=arch,
            cataloger=self.name,
        )


def _copyright_licenses(fs: FileSystem, name: str, locations: list[str]) -> tuple[str, ...]:
    path = f"usr/share/doc/{name}/copyright"
    try:
        text = fs.read(path, limit=4 << 20).decode("utf-8", "replace")
    except ImageError:
        return ()
    locations.append("/" + path)
    found: list[str] = []
    for line in text.splitlines():
        if line.startswith("License:"):
            value = line.split(":", 1)[1].strip()
            if value and value not in found:
                found.append(value)
    return tuple(found)
