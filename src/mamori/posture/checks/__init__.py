"""The posture check families and selection by family or ID."""

from __future__ import annotations

from typing import Any

from mamori.posture.checks import defender, pss
from mamori.posture.checks.base import Check

ALL: tuple[Check[Any], ...] = (*defender.CHECKS, *pss.CHECKS)
BY_ID: dict[str, Check[Any]] = {c.id: c for c in ALL}
FAMILIES = ("defender", "pss-baseline", "pss-restricted", "all")


class UnknownCheckError(ValueError):
    pass


def select(spec: str) -> tuple[Check[Any], ...]:
    """``defender``, ``pss-baseline``, ``pss-restricted``, ``all`` or check IDs, comma-separated."""
    chosen: dict[str, Check[Any]] = {}
    for word in (w.strip() for w in spec.split(",")):
        if not word:
            continue
        if word == "defender":
            found = defender.CHECKS
        elif word in ("pss-baseline", "pss-restricted"):
            found = pss.level_checks(word.removeprefix("pss-"))
        elif word == "all":
            found = (*defender.CHECKS, *pss.level_checks("restricted"))
        elif word.upper() in BY_ID:
            found = (BY_ID[word.upper()],)
        else:
            raise UnknownCheckError(
                f"unknown check or family {word!r} (families: {', '.join(FAMILIES)})"
            )
        chosen.update((c.id, c) for c in found)
    return tuple(chosen.values())
