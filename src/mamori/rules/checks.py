"""Comparison semantics: an operator and a typed right-hand side -> a predicate on one value.

Values on the right are converted once, at compile time, to the left field's type. A missing
value (``None``) never reaches a predicate: the caller makes the check false (Falco semantics).
"""

from __future__ import annotations

import fnmatch
import functools
import ipaddress
import re
from collections.abc import Callable
from typing import Any

from mamori.rules.errors import CompileError
from mamori.rules.fields import FieldType

Pred = Callable[[Any], bool]
IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network

NUMERIC = frozenset((FieldType.INT, FieldType.ABSTIME, FieldType.RELTIME))
TEXTUAL = frozenset((FieldType.STRING, FieldType.IPADDR))
STRING_OPS = frozenset(
    ("contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith", "glob",
     "iglob", "regex", "pmatch")
)  # fmt: skip
ORDER_OPS = frozenset(("<", "<=", ">", ">="))


def check_op(op: str, type_: FieldType, where: object) -> None:
    """Reject operators that make no sense for a field type (R014)."""
    if op in ORDER_OPS and type_ not in NUMERIC:
        raise CompileError("R014", f"operator '{op}' needs a numeric field", _pos(where))
    if op in STRING_OPS and type_ not in TEXTUAL:
        raise CompileError("R014", f"operator '{op}' needs a string field", _pos(where))


def _pos(where: object) -> Any:
    return getattr(where, "pos", None)


def convert(text: str, type_: FieldType, where: object) -> Any:
    """A right-hand side text as a value of the left field's type."""
    if type_ in NUMERIC:
        number = parse_number(text)
        if number is None:
            raise CompileError("R008", f"'{text}' is not a number", _pos(where))
        return number
    if type_ is FieldType.BOOL:
        low = text.lower()
        if low not in ("true", "false"):
            raise CompileError("R008", f"'{text}' is not true or false", _pos(where))
        return low == "true"
    if type_ is FieldType.IPNET or (type_ is FieldType.IPADDR and "/" in text):
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise CompileError("R008", f"'{text}' is not a network", _pos(where)) from None
    return text


def parse_number(text: str) -> int | float | None:
    t = text.strip()
    try:
        if t[:2].lower() == "0x" or t[1:3].lower() == "0x":
            return int(t, 16)
        return int(t)
    except (ValueError, IndexError):
        pass
    try:
        return float(t)
    except ValueError:
        return None


def predicate(op: str, value: Any) -> Pred:
    """``lambda v: v <op> value`` for one converted right-hand value."""
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return _net_pred(op, value)
    maker = _PREDICATES.get(op)
    if maker is None:
        raise CompileError("R014", f"operator '{op}' does not take a single value")
    return maker(value)


def set_predicate(op: str, values: list[Any]) -> Pred:
    """``in``/``intersects``/``pmatch`` against converted values."""
    if op == "pmatch":
        # v is one of the paths, or below one: a set lookup and one C-level tuple prefix test
        # (not a generator over the list, with a concatenation per item, on every open).
        paths = [str(v).rstrip("/") for v in values]
        exact = frozenset(paths)
        below = tuple(p + "/" for p in paths)
        return lambda v: v in exact or v.startswith(below)
    nets = [v for v in values if isinstance(v, ipaddress.IPv4Network | ipaddress.IPv6Network)]
    if nets:
        plain = frozenset(v for v in values if v not in nets)
        in_nets = _net_matcher(nets)
        return lambda v: v in plain or in_nets(v)
    members = frozenset(values)
    return lambda v: v in members


def _in_nets(v: Any, nets: list[IpNet]) -> bool:
    ip = parse_ip(v)
    return ip is not None and any(ip in n for n in nets)


_NET_CACHE_MAX = 4096


def _net_matcher(nets: list[IpNet]) -> Pred:
    """``_in_nets`` for fixed networks, remembering the answer per address (they repeat)."""
    cache: dict[Any, bool] = {}

    def in_nets(v: Any) -> bool:
        hit = cache.get(v)
        if hit is None:
            hit = _in_nets(v, nets)
            if len(cache) < _NET_CACHE_MAX:
                cache[v] = hit
        return hit

    return in_nets


@functools.lru_cache(maxsize=4096)
def parse_ip(v: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Addresses repeat a lot in event streams: parse each once."""
    try:
        return ipaddress.ip_address(v)
    except ValueError:
        return None


def _net_pred(op: str, net: IpNet) -> Pred:
    in_net = _net_matcher([net])
    if op in ("=", "=="):
        return in_net
    if op == "!=":
        return lambda v: not in_net(v)
    raise CompileError("R014", f"operator '{op}' cannot compare with a network")


def _glob(pattern: str, flags: int = 0) -> Pred:
    rx = re.compile(fnmatch.translate(pattern), flags | re.DOTALL)
    return lambda v: rx.match(v) is not None


def _regex(pattern: str) -> Pred:
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise CompileError("R008", f"invalid regex {pattern!r}: {exc}") from None
    return lambda v: rx.search(v) is not None


def _hex(value: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise CompileError("R008", f"'{value}' is not hex bytes") from None


def _bcontains(value: Any) -> Pred:
    needle = _hex(str(value))
    return lambda v: needle in _bytes(v)


def _bstartswith(value: Any) -> Pred:
    needle = _hex(str(value))
    return lambda v: _bytes(v).startswith(needle)


def _bytes(v: Any) -> bytes:
    return v if isinstance(v, bytes) else str(v).encode("utf-8", "surrogateescape")


def _icontains(value: Any) -> Pred:
    low = str(value).lower()
    return lambda v: low in v.lower()


_PREDICATES: dict[str, Callable[[Any], Pred]] = {
    "=": lambda c: lambda v: v == c,
    "==": lambda c: lambda v: v == c,
    "!=": lambda c: lambda v: v != c,
    "<": lambda c: lambda v: v < c,
    "<=": lambda c: lambda v: v <= c,
    ">": lambda c: lambda v: v > c,
    ">=": lambda c: lambda v: v >= c,
    "contains": lambda c: lambda v: c in v,
    "icontains": _icontains,
    "startswith": lambda c: lambda v: v.startswith(c),
    "endswith": lambda c: lambda v: v.endswith(c),
    "glob": lambda c: _glob(str(c)),
    "iglob": lambda c: _glob(str(c), re.IGNORECASE),
    "regex": lambda c: _regex(str(c)),
    "bcontains": _bcontains,
    "bstartswith": _bstartswith,
}


def dynamic(op: str, left: Any, right: Any) -> bool:
    """A comparison whose right side is another field (``val()``/transformers) at run time."""
    if op in ("in", "intersects", "pmatch"):
        rights = right if isinstance(right, tuple) else (right,)
        return set_predicate(op, list(rights))(left)
    if isinstance(left, int | float) and not isinstance(right, int | float):
        number = parse_number(str(right))
        if number is None:
            return False
        right = number
    elif isinstance(left, str) and not isinstance(right, str):
        right = "true" if right is True else "false" if right is False else str(right)
    try:
        return predicate(op, right)(left)
    except (CompileError, TypeError):
        return False
