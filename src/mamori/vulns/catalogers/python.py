"""Python packages: ``*.dist-info/METADATA``, ``*.egg-info/PKG-INFO`` and ``*.egg-info`` files."""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.parser import HeaderParser

from mamori.vulns.catalogers.model import Distro, Package, Report, purl
from mamori.vulns.errors import ImageError
from mamori.vulns.images.vfs import Entry, FileSystem


def normalize_name(name: str) -> str:
    """PEP 503 normalisation (what PyPI and OSV compare)."""
    return re.sub(r"[-_.]+", "-", name).lower()


class PythonCataloger:
    name = "python-installed-package-cataloger"

    def wants(self, entry: Entry) -> bool:
        if entry.kind != "f":
            return False
        head, _, base = entry.path.rpartition("/")
        parent = head.rsplit("/", 1)[-1]
        return (
            (base == "METADATA" and parent.endswith("dist-info"))
            or (base == "PKG-INFO" and parent.endswith(".egg-info"))
            or base.endswith(".egg-info")
        )

    def catalog(
        self, fs: FileSystem, paths: list[str], distro: Distro | None, report: Report
    ) -> Iterable[Package]:
        for path in sorted(paths):
            try:
                text = fs.read(path, limit=8 << 20).decode("utf-8", "replace")
            except ImageError as exc:
                report("unreadable", "/" + path, str(exc))
                continue
            msg = HeaderParser().parsestr(text, headersonly=True)
            name, version = (msg.get("Name") or "").strip(), (msg.get("Version") or "").strip()
            if not name or not version:
                report("python-metadata", "/" + path, "no Name/Version")
                continue
            licenses: list[str] = []
            expr = msg.get("License-Expression") or msg.get("License")
            if expr and expr.strip() and expr.strip().upper() != "UNKNOWN" and len(expr) < 200:
                licenses.append(expr.strip())
            for c in msg.get_all("Classifier") or []:
                if c.startswith("License ::") and c.rsplit("::", 1)[-1].strip() not in licenses:
                    licenses.append(c.rsplit("::", 1)[-1].strip())
            yield Package(
                name=normalize_name(name),
                version=version,
                type="python",
                purl=purl("pypi", normalize_name(name), version),
                locations=("/" + path,),
                licenses=tuple(licenses),
                cataloger=self.name,
            )
