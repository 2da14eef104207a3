"""``mamori.*``: extension fields filled by mamori's detectors (``Event.extra``)."""

from __future__ import annotations

from mamori.core.events import Event
from mamori.rules.fields.base import Extractor, FieldSpec, FieldType, field


def _extra(key: str) -> Extractor:
    def extract(e: Event) -> str | None:
        value = e.extra.get(key)
        return None if value is None else str(value)

    return extract


def _drift(name: str, desc: str) -> FieldSpec:
    key = f"mamori.drift.{name}"
    return field(key, FieldType.STRING, desc, _extra(key), sensor="drift")


FIELDS: tuple[FieldSpec, ...] = (
    _drift("verdict", "Drift verdict: image, image-copyup, drift-new, drift-modified ..."),
    _drift("rule", "Name of the drift policy rule that decided."),
    _drift("action", "The policy rule's action: alert, ignore or block."),
    _drift(
        "action_taken",
        "What the sensor did: alerted, blocked, failed_open, ignored or allowlisted.",
    ),
    _drift("sha256", "SHA-256 of the executed file."),
)
