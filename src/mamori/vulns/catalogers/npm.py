"""npm packages: every ``package.json`` with a name and a version."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from mamori.vulns.catalogers.model import Distro, Package, Report, purl
from mamori.vulns.errors import ImageError
from mamori.vulns.images.vfs import Entry, FileSystem


def _licenses(doc: dict[str, Any]) -> tuple[str, ...]:
    lic = doc.get("license")
    out: list[str] = []
    if isinstance(lic, str):
        out.append(lic)
    elif isinstance(lic, dict) and isinstance(lic.get("type"), str):
        out.append(lic["type"])
    for item in doc.get("licenses") or []:
        if isinstance(item, dict) and isinstance(item.get("type"), str):
            out.append(item["type"])
        elif isinstance(item, str):
            out.append(item)
    return tuple(out)


class NpmCataloger:
    name = "javascript-package-cataloger"

    def wants(self, entry: Entry) -> bool:
        return entry.kind == "f" and entry.path.rsplit("/", 1)[-1] == "package.json"

    def catalog(
        self, fs: FileSystem, paths: list[str], distro: Distro | None, report: Report
    ) -> Iterable[Package]:
        for path in sorted(paths):
            try:
                doc = json.loads(fs.read(path, limit=8 << 20))
            except (ImageError, ValueError) as exc:
                report("npm-package-json", "/" + path, str(exc))
                continue
            if not isinstance(doc, dict):
                continue
            name, version = doc.get("name"), doc.get("version")
            if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
                continue
            namespace, _, base = name.rpartition("/") if name.startswith("@") else ("", "", name)
            yield Package(
                name=name,
                version=version,
                type="npm",
                purl=purl("npm", base, version, namespace or None),
                locations=("/" + path,),
                licenses=_licenses(doc),
                cataloger=self.name,
            )
