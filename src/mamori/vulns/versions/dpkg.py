"""Debian version comparison, as dpkg does it (``lib/dpkg/version.c``, ``deb-version(7)``)."""

from __future__ import annotations

from dataclasses import dataclass

from mamori.vulns.errors import VersionError


@dataclass(frozen=True, slots=True)
class DebVersion:
    epoch: int
    upstream: str
    revision: str

    @classmethod
    def parse(cls, text: str) -> DebVersion:
        s = text.strip()
        if not s:
            raise VersionError("empty version", text)
        epoch = 0
        if ":" in s:
            head, s = s.split(":", 1)
            if not head.isdigit():
                raise VersionError("epoch is not a number", text)
            epoch = int(head)
        upstream, sep, revision = s.rpartition("-")
        if not sep:
            upstream, revision = s, ""
        if not upstream or (not upstream[0].isdigit() and not _lenient_start(upstream)):
            raise VersionError("version must start with a digit", text)
        return cls(epoch, upstream, revision)

    def __str__(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
        rev = f"-{self.revision}" if self.revision else ""
        return f"{epoch}{self.upstream}{rev}"


def _lenient_start(upstream: str) -> bool:
    # dpkg only warns about a non-digit start; feeds contain such versions (e.g. "a1.2").
    return upstream[0].isalnum()


def _order(c: str) -> int:
    if c.isdigit():
        return 0
    if c.isalpha() and c.isascii():
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        first_diff = 0
        while (i < la and not a[i].isdigit()) or (j < lb and not b[j].isdigit()):
            ac = _order(a[i]) if i < la else 0
            bc = _order(b[j]) if j < lb else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < la and a[i] == "0":
            i += 1
        while j < lb and b[j] == "0":
            j += 1
        while i < la and a[i].isdigit() and j < lb and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < la and a[i].isdigit():
            return 1
        if j < lb and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` sorts before, equal to, or after ``b``."""
    va, vb = DebVersion.parse(a), DebVersion.parse(b)
    if va.epoch != vb.epoch:
        return -1 if va.epoch < vb.epoch else 1
    r = _verrevcmp(va.upstream, vb.upstream) or _verrevcmp(va.revision, vb.revision)
    return (r > 0) - (r < 0)
