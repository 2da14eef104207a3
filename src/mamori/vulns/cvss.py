"""CVSS v3.0 / v3.1 base scores from vector strings (the FIRST specification's formulas).

OSV's ``severity`` entries carry vectors, not scores; this turns ``CVSS:3.1/AV:N/...`` into the
base score and its qualitative rating so that an advisory whose feed gives no severity word
still gets one. Temporal and environmental metrics in a vector are accepted and ignored (base
score only). v2 and v4 vectors are kept as evidence but not scored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_AC = {"L": 0.77, "H": 0.44}
_PR_UNCHANGED = {"N": 0.85, "L": 0.62, "H": 0.27}
_PR_CHANGED = {"N": 0.85, "L": 0.68, "H": 0.5}
_UI = {"N": 0.85, "R": 0.62}
_CIA = {"H": 0.56, "L": 0.22, "N": 0.0}
_BASE = ("AV", "AC", "PR", "UI", "S", "C", "I", "A")
_VALID: dict[str, dict[str, float]] = {
    "AV": _AV, "AC": _AC, "PR": _PR_UNCHANGED, "UI": _UI, "S": {"U": 0.0, "C": 0.0},
    "C": _CIA, "I": _CIA, "A": _CIA,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Cvss:
    vector: str
    version: str  # "3.0" | "3.1"
    base_score: float

    @property
    def severity(self) -> str:
        """The specification's rating, in the feeds' lower-case words."""
        return rating(self.base_score)


def rating(score: float) -> str:
    if score == 0:
        return "none"
    if score < 4.0:
        return "low"
    if score < 7.0:
        return "medium"
    if score < 9.0:
        return "high"
    return "critical"


def _roundup_31(value: float) -> float:
    """v3.1 Appendix A: round up to one decimal, free of floating-point artefacts."""
    as_int = round(value * 100_000)
    if as_int % 10_000 == 0:
        return as_int / 100_000.0
    return (math.floor(as_int / 10_000) + 1) / 10.0


def _roundup_30(value: float) -> float:
    return math.ceil(value * 10) / 10


def parse(vector: str) -> Cvss | None:
    """The base score of a v3.x vector; None for anything else (v2, v4, malformed)."""
    parts = vector.strip().split("/")
    if not parts or parts[0] not in ("CVSS:3.0", "CVSS:3.1"):
        return None
    version = parts[0].split(":")[1]
    metrics: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, value = part.partition(":")
        if not sep or key in metrics:
            return None
        metrics[key] = value
    if any(metrics.get(k) not in _VALID[k] for k in _BASE):
        return None
    changed = metrics["S"] == "C"
    pr = (_PR_CHANGED if changed else _PR_UNCHANGED)[metrics["PR"]]
    iss = 1 - (1 - _CIA[metrics["C"]]) * (1 - _CIA[metrics["I"]]) * (1 - _CIA[metrics["A"]])
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
    exploitability = 8.22 * _AV[metrics["AV"]] * _AC[metrics["AC"]] * pr * _UI[metrics["UI"]]
    roundup = _roundup_31 if version == "3.1" else _roundup_30
    if impact <= 0:
        score = 0.0
    elif changed:
        score = roundup(min(1.08 * (impact + exploitability), 10))
    else:
        score = roundup(min(impact + exploitability, 10))
    return Cvss(vector.strip(), version, score)


def best(vectors: tuple[str, ...] | list[str]) -> Cvss | None:
    """The highest-scoring v3.x vector of an advisory (v3.1 preferred over v3.0 on a tie)."""
    scored = [c for c in (parse(v) for v in vectors) if c is not None]
    if not scored:
        return None
    return max(scored, key=lambda c: (c.base_score, c.version))
