"""Small shared helpers for checks: security contexts, capabilities, quantities, ranges."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from mamori.posture.model import ContainerRef, FieldPath
from mamori.posture.workload import as_list, as_map

SC = "securityContext"


def sc(body: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_map(body.get(SC))


def sc_path(ref: ContainerRef, *rest: str | int) -> FieldPath:
    return (*ref.path, SC, *rest)


def norm_cap(name: Any) -> str:
    """``cap_net_admin`` -> ``NET_ADMIN`` (Azure compares raw strings; mamori does not)."""
    text = str(name).strip().upper()
    return text[4:] if text.startswith("CAP_") else text


def capabilities(body: Mapping[str, Any], key: str) -> list[Any]:
    return as_list(as_map(sc(body).get("capabilities")).get(key))


def image_matches(image: str, patterns: Iterable[str]) -> bool:
    """Exact match, or prefix match for an entry ending in ``*``."""
    for pattern in patterns:
        if pattern.endswith("*"):
            if image.startswith(pattern[:-1]):
                return True
        elif image == pattern:
            return True
    return False


def profile_allowed(profile: str, allowed: Iterable[str]) -> bool:
    return image_matches(profile, allowed)


_PORT_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def in_ranges(value: int, ranges: Iterable[str]) -> bool:
    """``"443"``, ``"8000-8099"`` or ``"*"``."""
    for text in ranges:
        if text.strip() == "*":
            return True
        found = _PORT_RANGE.match(text)
        if found:
            low = int(found.group(1))
            high = int(found.group(2) or low)
            if low <= value <= high:
                return True
    return False


_SUFFIX = {
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$"
)


def parse_quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity (``500m``, ``1.5Gi``, ``1e3``, ``2``) as an exact decimal."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    found = _QUANTITY.match(str(value).strip())
    if not found:
        return None
    number, exponent, suffix = found.groups()
    try:
        amount = Decimal(number)
        if exponent:
            return amount * (Decimal(10) ** int(exponent[1:]))
    except (InvalidOperation, ValueError):
        return None
    return amount * _SUFFIX[suffix or ""]


def is_true(value: Any) -> bool:
    return value is True


def describe(value: Any) -> str:
    text = (
        repr(value)
        if isinstance(value, str)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )
    return text if len(text) <= 40 else text[:37] + "..."
