"""Catalogers: one walk over the image's files, each cataloger reads the paths it wants.

``catalog(fs)`` returns an ``Inventory``: the distro, the packages (sorted, deduplicated by
type/name/version/location) and diagnostics (unreadable or malformed databases, with paths).
"""

from __future__ import annotations

from collections import defaultdict

from mamori.vulns.catalogers.apk import ApkCataloger
from mamori.vulns.catalogers.distro import detect
from mamori.vulns.catalogers.dpkg import DpkgCataloger
from mamori.vulns.catalogers.golang import GoBinaryCataloger
from mamori.vulns.catalogers.java import JavaCataloger
from mamori.vulns.catalogers.model import Cataloger, Distro, Inventory, Package
from mamori.vulns.catalogers.npm import NpmCataloger
from mamori.vulns.catalogers.python import PythonCataloger
from mamori.vulns.catalogers.rpm import RpmCataloger
from mamori.vulns.catalogers.ruby import GemspecCataloger
from mamori.vulns.catalogers.rust import CargoLockCataloger
from mamori.vulns.images.vfs import Diagnostic, FileSystem

__all__ = ["Distro", "Inventory", "Package", "all_catalogers", "catalog"]

OS_TYPES = frozenset({"deb", "apk", "rpm"})


def all_catalogers() -> list[Cataloger]:
    return [
        DpkgCataloger(),
        ApkCataloger(),
        RpmCataloger(),
        PythonCataloger(),
        NpmCataloger(),
        GemspecCataloger(),
        JavaCataloger(),
        GoBinaryCataloger(),
        CargoLockCataloger(),
    ]


def catalog(fs: FileSystem, catalogers: list[Cataloger] | None = None) -> Inventory:
    catalogers = catalogers if catalogers is not None else all_catalogers()
    wanted: dict[int, list[str]] = defaultdict(list)
    for entry in fs.walk():
        if entry.kind not in ("f", "h"):
            continue
        for i, c in enumerate(catalogers):
            if c.wants(entry):
                wanted[i].append(entry.path)
    distro = detect(fs)
    inv = Inventory(distro=distro)

    def report(code: str, where: str, message: str) -> None:
        inv.diagnostics.append(Diagnostic(code, where, message))

    seen: set[tuple[str, str, str, tuple[str, ...]]] = set()
    for i, c in enumerate(catalogers):
        if not wanted.get(i):
            continue
        for pkg in c.catalog(fs, wanted[i], distro, report):
            key = (*pkg.key, pkg.locations)
            if key not in seen:
                seen.add(key)
                inv.packages.append(pkg)
    inv.packages.sort(key=lambda p: (p.type, p.name.lower(), p.version, p.locations))
    inv.diagnostics[:0] = fs.diagnostics
    return inv
