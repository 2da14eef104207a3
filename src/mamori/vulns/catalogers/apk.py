"""Alpine packages: ``lib/apk/db/installed``."""

from __future__ import annotations

from collections.abc import Iterable

from mamori.vulns.catalogers.model import Distro, Package, Report, distro_qualifier, purl
from mamori.vulns.errors import ImageError
from mamori.vulns.images.vfs import Entry, FileSystem

INSTALLED = "lib/apk/db/installed"


class ApkCataloger:
    name = "apk-db-cataloger"

    def wants(self, entry: Entry) -> bool:
        return entry.kind == "f" and entry.path == INSTALLED

    def catalog(
        self, fs: FileSystem, paths: list[str], distro: Distro | None, report: Report
    ) -> Iterable[Package]:
        for path in paths:
            try:
                text = fs.read(path).decode("utf-8", "replace")
            except ImageError as exc:
                report("unreadable", "/" + path, str(exc))
                continue
            record: dict[str, str] = {}
            start = 1
            for n, line in enumerate([*text.splitlines(), ""], 1):
                if not line.strip():
                    if record:
                        pkg = self._package(path, record, distro)
                        if pkg is None:
                            report("apk-incomplete", f"/{path}:{start}", "record without P:/V:")
                        else:
                            yield pkg
                    record, start = {}, n + 1
                    continue
                if len(line) > 1 and line[1] == ":":
                    record.setdefault(line[0], line[2:])

    def _package(self, path: str, r: dict[str, str], distro: Distro | None) -> Package | None:
        name, version = r.get("P", ""), r.get("V", "")
        if not name or not version:
            return None
        arch = r.get("A", "")
        origin = r.get("o", "") or name
        qualifiers = {"arch": arch, "distro": distro_qualifier(distro)}
        if origin != name:
            qualifiers["upstream"] = origin
        namespace = distro.id if distro else "alpine"
        return Package(
            name=name,
            version=version,
            type="apk",
            purl=purl("apk", name, version, namespace, qualifiers),
            locations=("/" + path,),
            licenses=tuple(r.get("L", "").split()) if r.get("L") else (),
            source_name=origin,
            source_version=version,
            arch=arch,
            cataloger=self.name,
        )
