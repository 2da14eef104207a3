"""RPM version comparison: ``rpmvercmp`` (rpmio/rpmvercmp.c) and epoch:version-release."""

from __future__ import annotations

from mamori.vulns.errors import VersionError


def _alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _digit(c: str) -> bool:
    return c.isascii() and c.isdigit()


def _alpha(c: str) -> bool:
    return c.isascii() and c.isalpha()


def rpmvercmp(a: str, b: str) -> int:
    """Compare two version (or release) strings the way rpm does."""
    if a == b:
        return 0
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        while i < la and not _alnum(a[i]) and a[i] not in "~^":
            i += 1
        while j < lb and not _alnum(b[j]) and b[j] not in "~^":
            j += 1
        if (i < la and a[i] == "~") or (j < lb and b[j] == "~"):
            if i >= la or a[i] != "~":
                return 1
            if j >= lb or b[j] != "~":
                return -1
            i += 1
            j += 1
            continue
        if (i < la and a[i] == "^") or (j < lb and b[j] == "^"):
            if i >= la:
                return -1
            if j >= lb:
                return 1
            if a[i] != "^":
                return 1
            if b[j] != "^":
                return -1
            i += 1
            j += 1
            continue
        if not (i < la and j < lb):
            break
        kind = _digit if _digit(a[i]) else _alpha
        si, sj = i, j
        while i < la and kind(a[i]):
            i += 1
        while j < lb and kind(b[j]):
            j += 1
        seg_a, seg_b = a[si:i], b[sj:j]
        if not seg_b:
            return 1 if kind is _digit else -1
        if kind is _digit:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    if i >= la and j >= lb:
        return 0
    return -1 if i >= la else 1


def split_evr(text: str) -> tuple[int, str, str | None]:
    s = text.strip()
    if not s:
        raise VersionError("empty version", text)
    epoch = 0
    if ":" in s:
        head, s = s.split(":", 1)
        if head:
            if not head.isdigit():
                raise VersionError("epoch is not a number", text)
            epoch = int(head)
    version, sep, release = s.rpartition("-")
    if not sep:
        return epoch, s, None
    return epoch, version, release


def compare(a: str, b: str) -> int:
    """Compare ``[epoch:]version[-release]``; a missing release matches any release."""
    ea, va, ra = split_evr(a)
    eb, vb, rb = split_evr(b)
    if ea != eb:
        return -1 if ea < eb else 1
    r = rpmvercmp(va, vb)
    if r or ra is None or rb is None:
        return r
    return rpmvercmp(ra, rb)
