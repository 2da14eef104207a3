"""Errors of the vulns capability.

    ValidationError (mamori.core.errors)
    └── VulnsError               base of every error this package raises on purpose
        ├── VersionError         a version string the ecosystem's comparator cannot parse
        ├── ImageError           an image reference or archive that cannot be read
        │   └── UnsafeArchiveError  an archive that tries to escape, bomb or smuggle devices
        ├── RegistryError        the registry refused or answered nonsense
        ├── CatalogError         a package database that cannot be parsed
        └── VulnDBError          the vulnerability database or a feed that cannot be imported

Every error carries ``where``: the file, member or URL it is about (and a line when known).
"""

from __future__ import annotations

from mamori.core.errors import ValidationError


class VulnsError(ValidationError):
    def __init__(self, message: str, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class VersionError(VulnsError):
    pass


class ImageError(VulnsError):
    pass


class UnsafeArchiveError(ImageError):
    pass


class RegistryError(ImageError):
    pass


class CatalogError(VulnsError):
    pass


class VulnDBError(VulnsError):
    pass
