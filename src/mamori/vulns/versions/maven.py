"""Maven version ordering, after ``org.apache.maven.artifact.versioning.ComparableVersion``."""

from __future__ import annotations

from dataclasses import dataclass, field

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_RELEASE = str(_QUALIFIERS.index(""))


def _qualifier_key(q: str) -> str:
    if q in _QUALIFIERS:
        return str(_QUALIFIERS.index(q))
    return f"{len(_QUALIFIERS)}-{q}"


@dataclass(slots=True)
class _Str:
    value: str

    @classmethod
    def make(cls, value: str, followed_by_digit: bool) -> _Str:
        if followed_by_digit and len(value) == 1:
            value = {"a": "alpha", "b": "beta", "m": "milestone"}.get(value, value)
        return cls(_ALIASES.get(value, value))


@dataclass(slots=True)
class _List:
    items: list[_Item] = field(default_factory=list)

    def normalize(self) -> None:
        for i in range(len(self.items) - 1, -1, -1):
            last = self.items[i]
            if _is_null(last):
                del self.items[i]
            elif not isinstance(last, _List):
                break


_Item = int | _Str | _List


def _is_null(item: _Item) -> bool:
    if isinstance(item, int):
        return item == 0
    if isinstance(item, _Str):
        return item.value == ""
    return not item.items


def _cmp(a: _Item | None, b: _Item | None) -> int:
    if a is None:
        return 0 if b is None else -_cmp(b, None)
    if isinstance(a, int):
        if b is None:
            return 0 if a == 0 else 1
        if isinstance(b, int):
            return (a > b) - (a < b)
        return 1
    if isinstance(a, _Str):
        if b is None:
            ka, kb = _qualifier_key(a.value), _RELEASE
            return (ka > kb) - (ka < kb)
        if isinstance(b, int | _List):
            return -1
        ka, kb = _qualifier_key(a.value), _qualifier_key(b.value)
        return (ka > kb) - (ka < kb)
    if b is None:
        return _cmp(a.items[0], None) if a.items else 0
    if isinstance(b, int):
        return -1
    if isinstance(b, _Str):
        return 1
    for k in range(max(len(a.items), len(b.items))):
        left = a.items[k] if k < len(a.items) else None
        right = b.items[k] if k < len(b.items) else None
        r = _cmp(left, right)
        if r:
            return r
    return 0


def parse(version: str) -> _List:
    version = version.lower()
    root = _List()
    current = root
    stack = [root]
    is_digit = False
    start = 0

    def push() -> _List:
        nonlocal current
        new = _List()
        current.items.append(new)
        stack.append(new)
        current = new
        return new

    after_dot = False  # MNG-7644: a qualifier after "." reads like one after "-"

    def add_string(text: str, followed_by_digit: bool) -> None:
        if after_dot and current.items:
            push()
        current.items.append(_Str.make(text, followed_by_digit))

    for i, c in enumerate(version):
        if c == ".":
            if i == start:
                current.items.append(0)
            elif is_digit:
                current.items.append(int(version[start:i]))
            else:
                add_string(version[start:i], False)
            start = i + 1
            after_dot = True
        elif c == "-":
            if i == start:
                current.items.append(0)
            elif is_digit:
                current.items.append(int(version[start:i]))
            else:
                add_string(version[start:i], False)
            start = i + 1
            after_dot = False
            push()
        elif c.isdigit():
            if not is_digit and i > start:
                add_string(version[start:i], True)
                start = i
                after_dot = False
                push()
            is_digit = True
        else:
            if is_digit and i > start:
                current.items.append(int(version[start:i]))
                start = i
                after_dot = False
                push()
            is_digit = False
    if len(version) > start:
        if is_digit:
            current.items.append(int(version[start:]))
        else:
            add_string(version[start:], False)
    while stack:
        stack.pop().normalize()
    return root


def compare(a: str, b: str) -> int:
    return _cmp(parse(a), parse(b))
