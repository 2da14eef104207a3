"""RPM packages from ``var/lib/rpm`` or ``usr/lib/sysimage/rpm`` (BDB, SQLite or NDB)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mamori.vulns.catalogers.model import Distro, Package, Report, distro_qualifier, purl
from mamori.vulns.catalogers.rpmdb import (
    RpmHeader,
    bdb_blobs,
    ndb_blobs,
    parse_header,
    sqlite_blobs,
)
from mamori.vulns.errors import CatalogError, ImageError
from mamori.vulns.images.vfs import Entry, FileSystem

DIRS = ("var/lib/rpm/", "usr/lib/sysimage/rpm/", "usr/share/rpm/")
FILES = {"Packages": bdb_blobs, "rpmdb.sqlite": sqlite_blobs, "Packages.db": ndb_blobs}


def srpm_name(source_rpm: str) -> tuple[str, str]:
    """``dive-0.9.2-1.src.rpm`` -> (``dive``, ``0.9.2-1``)."""
    base = source_rpm.removesuffix(".rpm")
    base = base.rsplit(".", 1)[0] if base.count(".") else base  # drop .src / .nosrc
    parts = base.rsplit("-", 2)
    if len(parts) != 3:
        return "", ""
    return parts[0], f"{parts[1]}-{parts[2]}"


class RpmCataloger:
    name = "rpm-db-cataloger"

    def wants(self, entry: Entry) -> bool:
        if entry.kind != "f":
            return False
        head, _, base = entry.path.rpartition("/")
        return base in FILES and head + "/" in DIRS

    def catalog(
        self, fs: FileSystem, paths: list[str], distro: Distro | None, report: Report
    ) -> Iterable[Package]:
        for path in sorted(paths):
            where = "/" + path
            try:
                data = fs.read(path, limit=1 << 30)
                blobs: Iterator[bytes] = FILES[path.rsplit("/", 1)[1]](data, where)
                headers = []
                for n, blob in enumerate(blobs):
                    try:
                        headers.append(parse_header(blob, f"{where}#{n}"))
                    except CatalogError as exc:
                        report("rpm-header", f"{where}#{n}", str(exc))
            except (CatalogError, ImageError) as exc:
                report("rpmdb", where, str(exc))
                continue
            for h in headers:
                if h.name == "gpg-pubkey":
                    continue
                yield self._package(where, h, distro)

    def _package(self, where: str, h: RpmHeader, distro: Distro | None) -> Package:
        src_name, src_version = srpm_name(h.source_rpm)
        qualifiers = {
            "arch": h.arch,
            "epoch": str(h.epoch) if h.epoch else "",
            "upstream": h.source_rpm,
            "distro": distro_qualifier(distro),
        }
        namespace = distro.id if distro else "redhat"
        return Package(
            name=h.name,
            version=h.evr,
            type="rpm",
            purl=purl("rpm", h.name, h.evr.split(":", 1)[-1], namespace, qualifiers),
            locations=(where,),
            licenses=(h.license,) if h.license else (),
            source_name=src_name or h.name,
            source_version=src_version or h.evr,
            arch=h.arch,
            cataloger=self.name,
        )
