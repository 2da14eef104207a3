"""Version comparators per ecosystem.

``comparator(ecosystem)`` returns ``compare(a, b) -> -1 | 0 | 1`` for an OSV ecosystem name
(``Debian:12``, ``Alpine:v3.19``, ``PyPI`` ...) or a package type (``deb``, ``apk``, ``rpm``).
"""

from __future__ import annotations

from collections.abc import Callable

from mamori.vulns.errors import VersionError
from mamori.vulns.versions import apk, dpkg, maven, pep440, rpm, semver

Compare = Callable[[str, str], int]

_BY_FAMILY: dict[str, Compare] = {
    "debian": dpkg.compare,
    "ubuntu": dpkg.compare,
    "deb": dpkg.compare,
    "alpine": apk.compare,
    "apk": apk.compare,
    "wolfi": apk.compare,
    "chainguard": apk.compare,
    "rpm": rpm.compare,
    "red hat": rpm.compare,
    "redhat": rpm.compare,
    "rhel": rpm.compare,
    "centos": rpm.compare,
    "almalinux": rpm.compare,
    "rocky linux": rpm.compare,
    "fedora": rpm.compare,
    "suse": rpm.compare,
    "opensuse": rpm.compare,
    "amazon linux": rpm.compare,
    "mariner": rpm.compare,
    "pypi": pep440.compare,
    "python": pep440.compare,
    "maven": maven.compare,
    "java-archive": maven.compare,
    "npm": semver.compare,
    "go": semver.compare,
    "go-module": semver.compare,
    "crates.io": semver.compare,
    "rust-crate": semver.compare,
    "semver": semver.compare,
}


def family(ecosystem: str) -> str:
    """``Debian:12`` -> ``debian``; ``Red Hat:enterprise_linux:9`` -> ``red hat``."""
    return ecosystem.split(":", 1)[0].strip().lower()


def comparator(ecosystem: str) -> Compare:
    return _BY_FAMILY.get(family(ecosystem), generic_compare)


def generic_compare(a: str, b: str) -> int:
    """For ecosystems without a dedicated rule (RubyGems, NuGet, ...): semver if both parse,
    else rpm's segment-wise ordering, which is a sane default for dotted versions."""
    try:
        return semver.compare(a, b)
    except VersionError:
        return rpm.rpmvercmp(a, b)
