"""PEP 440 version comparison through ``packaging``."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from mamori.vulns.errors import VersionError


def parse(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise VersionError("not a PEP 440 version", text) from None


def compare(a: str, b: str) -> int:
    va, vb = parse(a), parse(b)
    return (va > vb) - (va < vb)
