"""Java archives (jar/war/ear, one level of nested jars): pom.properties, else MANIFEST.MF."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator
from typing import IO

from mamori.vulns.catalogers.model import Distro, Package, Report, purl
from mamori.vulns.errors import ImageError
from mamori.vulns.images.vfs import Entry, FileSystem

EXTENSIONS = (".jar", ".war", ".ear", ".jpi", ".hpi", ".par", ".sar", ".nar")
MAX_NESTED = 64 << 20


def _properties(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _manifest(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if line.startswith(" ") and last:
            out[last] += line[1:]
        elif ":" in line:
            last, _, value = line.partition(":")
            out.setdefault(last.strip(), value.strip())
    return out


class JavaCataloger:
    name = "java-archive-cataloger"

    def wants(self, entry: Entry) -> bool:
        return entry.kind == "f" and entry.path.lower().endswith(EXTENSIONS)

    def catalog(
        self, fs: FileSystem, paths: list[str], distro: Distro | None, report: Report
    ) -> Iterable[Package]:
        for path in sorted(paths):
            try:
                with fs.open(path) as f:
                    yield from self._archive(f, "/" + path, report, depth=0)
            except (ImageError, zipfile.BadZipFile, OSError, EOFError) as exc:
                report("java-archive", "/" + path, str(exc))

    def _archive(self, f: IO[bytes], where: str, report: Report, depth: int) -> Iterator[Package]:
        with zipfile.ZipFile(f) as z:
            names = z.namelist()
            poms = [
                n
                for n in names
                if n.startswith("META-INF/maven/") and n.endswith("/pom.properties")
            ]
            found = False
            for pom in poms:
                props = _properties(z.read(pom).decode("utf-8", "replace"))
                group, artifact, version = (
                    props.get("groupId", ""),
                    props.get("artifactId", ""),
                    props.get("version", ""),
                )
                if artifact and version:
                    found = True
                    yield self._package(artifact, version, group, f"{where}:{pom}")
            if not found and "META-INF/MANIFEST.MF" in names:
                m = _manifest(z.read("META-INF/MANIFEST.MF").decode("utf-8", "replace"))
                version = m.get("Implementation-Version") or m.get("Bundle-Version") or ""
                name = (
                    m.get("Implementation-Title")
                    or m.get("Bundle-SymbolicName", "").split(";")[0]
                    or where.rsplit("/", 1)[-1].rsplit(".", 1)[0]
                )
                group = m.get("Implementation-Vendor-Id", "")
                if version:
                    yield self._package(name, version, group, f"{where}:META-INF/MANIFEST.MF")
            if depth == 0:
                for inner in names:
                    if inner.lower().endswith(EXTENSIONS):
                        info = z.getinfo(inner)
                        if info.file_size > MAX_NESTED:
                            report("java-nested", f"{where}:{inner}", "nested archive too large")
                            continue
                        try:
                            data = io.BytesIO(z.read(inner))
                            yield from self._archive(data, f"{where}:{inner}", report, depth + 1)
                        except (zipfile.BadZipFile, OSError) as exc:
                            report("java-nested", f"{where}:{inner}", str(exc))

    def _package(self, artifact: str, version: str, group: str, where: str) -> Package:
        return Package(
            name=artifact,
            version=version,
            type="java-archive",
            purl=purl("maven", artifact, version, group or artifact),
            locations=(where,),
            cataloger=self.name,
        )
