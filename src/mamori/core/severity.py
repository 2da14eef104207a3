"""Severity: Falco's priority order, with the four-level view the UI shows."""

from __future__ import annotations

import enum


class UiSeverity(enum.StrEnum):
    """The coarse view used by the UI and Defender-style reports."""

    HIGH = "High"
    MEDIUM = "Medium"
    LOW = "Low"
    INFORMATIONAL = "Informational"


class Severity(enum.IntEnum):
    """Falco priorities; a lower value is more severe (emergency=0 ... debug=7)."""

    EMERGENCY = 0
    ALERT = 1
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFORMATIONAL = 6
    DEBUG = 7

    @property
    def ui(self) -> UiSeverity:
        return _UI[self]

    @property
    def label(self) -> str:
        """Falco's spelling, e.g. ``Warning``."""
        return self.name.capitalize()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Parse a Falco priority name (any case; ``info`` and ``warn`` accepted)."""
        key = text.strip().upper()
        key = _ALIASES.get(key, key)
        try:
            return cls[key]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {names})") from None

    @classmethod
    def for_ui(cls, ui: UiSeverity) -> tuple[Severity, ...]:
        """All priorities shown as ``ui``."""
        return tuple(s for s in cls if _UI[s] is ui)


_ALIASES = {"INFO": "INFORMATIONAL", "WARN": "WARNING", "ERR": "ERROR", "CRIT": "CRITICAL"}

_UI: dict[Severity, UiSeverity] = {
    Severity.EMERGENCY: UiSeverity.HIGH,
    Severity.ALERT: UiSeverity.HIGH,
    Severity.CRITICAL: UiSeverity.HIGH,
    Severity.ERROR: UiSeverity.HIGH,
    Severity.WARNING: UiSeverity.MEDIUM,
    Severity.NOTICE: UiSeverity.LOW,
    Severity.INFORMATIONAL: UiSeverity.INFORMATIONAL,
    Severity.DEBUG: UiSeverity.INFORMATIONAL,
}
