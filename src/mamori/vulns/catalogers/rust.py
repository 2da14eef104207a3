"""Rust crates from ``Cargo.lock`` (registry packages only)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable

from mamori.vulns.catalogers.model import Distro, Package, Report, purl
from mamori.vulns.errors import ImageError
from mamori.vulns.images.vfs import Entry, FileSystem


class CargoLockCataloger:
    name = "rust-cargo-lock-cataloger"

    def wants(self, entry: Entry) -> bool:
        return entry.kind == "f" and entry.path.rsplit("/", 1)[-1] == "Cargo.lock"

    def catalog(
        self, fs: FileSystem, paths: list[str], distro: Distro | None, report: Report
    ) -> Iterable[Package]:
        for path in sorted(paths):
            try:
                doc = tomllib.loads(fs.read(path, limit=16 << 20).decode("utf-8", "replace"))
            except (ImageError, tomllib.TOMLDecodeError) as exc:
                report("cargo-lock", "/" + path, str(exc))
                continue
            for p in doc.get("package") or []:
                name, version = p.get("name"), p.get("version")
                if not isinstance(name, str) or not isinstance(version, str):
                    continue
                if not str(p.get("source", "")).startswith("registry+"):
                    continue  # workspace members and git/path dependencies
                yield Package(
                    name=name,
                    version=version,
                    type="rust-crate",
                    purl=purl("cargo", name, version),
                    locations=("/" + path,),
                    cataloger=self.name,
                )
