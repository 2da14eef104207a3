"""Alpine apk version comparison (apk-tools ``src/version.c``, the 2.x token machine)."""

from __future__ import annotations

from mamori.vulns.errors import VersionError

_INVALID, _DIGIT_OR_ZERO, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _REVISION_NO, _END = range(-1, 7)
_PRE = ("alpha", "beta", "pre", "rc")
_POST = ("cvs", "svn", "git", "hg", "p")


class _Cursor:
    __slots__ = ("pos", "s", "type")

    def __init__(self, s: str) -> None:
        self.s = s
        self.pos = 0
        self.type = _DIGIT

    def rest(self) -> int:
        return len(self.s) - self.pos

    def next_token(self) -> None:
        s, p, t = self.s, self.pos, self.type
        n = _INVALID
        if p >= len(s):
            n = _END
        elif t in (_DIGIT, _DIGIT_OR_ZERO) and s[p].islower():
            n = _LETTER
        elif t == _LETTER and s[p].isdigit():
            n = _DIGIT
        elif t == _SUFFIX and s[p].isdigit():
            n = _SUFFIX_NO
        else:
            c = s[p]
            if c == ".":
                n = _DIGIT_OR_ZERO
            elif c == "_":
                n = _SUFFIX
            elif c == "-" and p + 1 < len(s) and s[p + 1] == "r":
                n = _REVISION_NO
                p += 1
            p += 1
        if n < t and not (
            (n == _DIGIT_OR_ZERO and t == _DIGIT)
            or (n == _SUFFIX and t == _SUFFIX_NO)
            or (n == _DIGIT and t == _LETTER)
        ):
            n = _INVALID
        self.pos, self.type = p, n

    def get_token(self) -> int:
        s, p = self.s, self.pos
        if p >= len(s):
            self.type = _END
            return 0
        v = 0
        i = p
        nt = _INVALID
        t = self.type
        zeros = len(s[i:]) - len(s[i:].lstrip("0"))
        if t == _DIGIT_OR_ZERO and zeros and i + zeros < len(s) and s[i + zeros].isdigit():
            # Leading zeros of a multi-digit component ("1.01") sort by their count, as in
            # apk-tools; a lone "0" is an ordinary 0 so that "1.0_rc1" < "1.0" (apk-tools 3).
            i += zeros
            nt = _DIGIT
            v = -zeros
        elif t in (_DIGIT, _DIGIT_OR_ZERO, _SUFFIX_NO, _REVISION_NO):
            while i < len(s) and s[i].isdigit():
                v = v * 10 + int(s[i])
                i += 1
        elif t == _LETTER:
            v = ord(s[i])
            i += 1
        elif t == _SUFFIX:
            for k, name in enumerate(_PRE):
                if s.startswith(name, i):
                    v, i = k - len(_PRE), i + len(name)
                    break
            else:
                for k, name in enumerate(_POST):
                    if s.startswith(name, i):
                        v, i = k, i + len(name)
                        break
                else:
                    self.type = _INVALID
                    return -1
        else:
            self.type = _INVALID
            return -1
        self.pos = i
        if i >= len(s):
            self.type = _END
        elif nt != _INVALID:
            self.type = nt
        else:
            self.next_token()
        return v


def is_valid(text: str) -> bool:
    c = _Cursor(text)
    if not text:
        return False
    while c.type not in (_END, _INVALID):
        c.get_token()
    return c.type == _END


def compare(a: str, b: str) -> int:
    if not a or not b:
        raise VersionError("empty version", a or b)
    ca, cb = _Cursor(a), _Cursor(b)
    av = bv = 0
    while ca.type == cb.type and ca.type not in (_END, _INVALID) and av == bv:
        av = ca.get_token()
        bv = cb.get_token()
    if av != bv:
        return -1 if av < bv else 1
    if ca.type == cb.type:
        return 0
    if ca.type == _SUFFIX and _peek_suffix(ca) < 0:
        return -1
    if cb.type == _SUFFIX and _peek_suffix(cb) < 0:
        return 1
    if ca.type > cb.type:
        return -1
    if cb.type > ca.type:
        return 1
    return 0


def _peek_suffix(c: _Cursor) -> int:
    probe = _Cursor(c.s)
    probe.pos, probe.type = c.pos, c.type
    return probe.get_token()
