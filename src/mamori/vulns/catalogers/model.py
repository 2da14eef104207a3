"""What catalogers find: packages with where they were found, and the distro."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from packageurl import PackageURL

from mamori.vulns.images.vfs import Diagnostic, Entry, FileSystem


@dataclass(frozen=True, slots=True)
class Distro:
    id: str  # os-release ID: debian, alpine, centos, ubuntu, rhel ...
    version_id: str = ""
    codename: str = ""
    pretty_name: str = ""
    id_like: tuple[str, ...] = ()

    @property
    def major(self) -> str:
        return self.version_id.split(".")[0]


@dataclass(frozen=True, slots=True)
class Package:
    name: str
    version: str
    type: str  # syft's types: deb, apk, rpm, python, npm, go-module, java-archive, gem, rust-crate
    purl: str
    locations: tuple[str, ...]
    licenses: tuple[str, ...] = ()
    source_name: str = ""  # distro source package (deb Source:, apk origin, rpm SRPM name)
    source_version: str = ""
    arch: str = ""
    cataloger: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.type, self.name, self.version)


@dataclass(slots=True)
class Inventory:
    distro: Distro | None
    packages: list[Package] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


class Cataloger(Protocol):
    name: str

    def wants(self, entry: Entry) -> bool:
        """Whether this path is an input (called for every path: keep it cheap)."""
        ...

    def catalog(
        self, fs: FileSystem, paths: list[str], distro: Distro | None, report: Report
    ) -> Iterable[Package]: ...


Report = Callable[[str, str, str], None]  # (code, where, message)


def purl(
    type_: str,
    name: str,
    version: str,
    namespace: str | None = None,
    qualifiers: dict[str, str] | None = None,
) -> str:
    q = {k: v for k, v in (qualifiers or {}).items() if v}
    try:
        return PackageURL(
            type=type_,
            namespace=namespace or None,
            name=name,
            version=version or None,
            qualifiers=q or None,
        ).to_string()
    except ValueError:  # e.g. an empty name segment: keep the package, say what it is
        return PackageURL(
            type="generic",
            name=f"{namespace}/{name}".strip("/") or "unknown",
            version=version or None,
        ).to_string()


def distro_qualifier(distro: Distro | None) -> str:
    if distro is None:
        return ""
    return f"{distro.id}-{distro.version_id}" if distro.version_id else distro.id
