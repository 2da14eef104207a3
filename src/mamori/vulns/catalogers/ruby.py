"""Ruby gems: installed ``specifications/*.gemspec`` files."""

from __future__ import annotations

import re
from collections.abc import Iterable

from mamori.vulns.catalogers.model import Distro, Package, Report, purl
from mamori.vulns.errors import ImageError
from mamori.vulns.images.vfs import Entry, FileSystem

_FIELD = re.compile(r"""^\s*\w+\.(name|version)\s*=\s*["']([^"']+)["']""", re.M)
_LICENSES = re.compile(r"""^\s*\w+\.licenses?\s*=\s*\[?([^\]\n]+)""", re.M)


class GemspecCataloger:
    name = "ruby-installed-gemspec-cataloger"

    def wants(self, entry: Entry) -> bool:
        head, _, base = entry.path.rpartition("/")
        return entry.kind == "f" and base.endswith(".gemspec") and head.endswith("specifications")

    def catalog(
        self, fs: FileSystem, paths: list[str], distro: Distro | None, report: Report
    ) -> Iterable[Package]:
        for path in sorted(paths):
            try:
                text = fs.read(path, limit=4 << 20).decode("utf-8", "replace")
            except ImageError as exc:
                report("unreadable", "/" + path, str(exc))
                continue
            fields: dict[str, str] = {}
            for key, value in _FIELD.findall(text):
                fields.setdefault(key, value)
            if "name" not in fields or "version" not in fields:
                report("gemspec", "/" + path, "no name/version assignment")
                continue
            licenses: tuple[str, ...] = ()
            m = _LICENSES.search(text)
            if m:
                licenses = tuple(re.findall(r"""["']([^"']+)["']""", m.group(1)))
            yield Package(
                name=fields["name"],
                version=fields["version"],
                type="gem",
                purl=purl("gem", fields["name"], fields["version"]),
                locations=("/" + path,),
                licenses=licenses,
                cataloger=self.name,
            )
