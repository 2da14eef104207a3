"""Semantic Versioning 2.0.0 precedence (semver.org §11), lenient about a ``v`` prefix."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mamori.vulns.errors import VersionError

_RE = re.compile(
    r"^v?(?P<major>0|[1-9]\d*|\d+)(?:\.(?P<minor>\d+))?(?:\.(?P<patch>\d+))?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?$"
)


@dataclass(frozen=True, slots=True)
class SemVer:
    major: int
    minor: int
    patch: int
    pre: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> SemVer:
        m = _RE.match(text.strip())
        if not m:
            raise VersionError("not a semantic version", text)
        pre = tuple(m["pre"].split(".")) if m["pre"] else ()
        return cls(int(m["major"]), int(m["minor"] or 0), int(m["patch"] or 0), pre)


def _cmp_pre(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    if a == b:
        return 0
    if not a:
        return 1
    if not b:
        return -1
    for x, y in zip(a, b, strict=False):
        if x == y:
            continue
        xd, yd = x.isdigit(), y.isdigit()
        if xd and yd:
            return -1 if int(x) < int(y) else 1
        if xd != yd:
            return -1 if xd else 1
        return -1 if x < y else 1
    return -1 if len(a) < len(b) else 1


def compare(a: str, b: str) -> int:
    va, vb = SemVer.parse(a), SemVer.parse(b)
    ka, kb = (va.major, va.minor, va.patch), (vb.major, vb.minor, vb.patch)
    if ka != kb:
        return -1 if ka < kb else 1
    return _cmp_pre(va.pre, vb.pre)
