"""Shared by the audit tests: the corpus, the stock Falco file, detectors."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from mamori.audit.detection import AuditDetector, load_detector
from mamori.audit.events import to_event
from mamori.audit.pipeline import AuditPipeline, build_pipeline
from mamori.core.findings import Alert
from tests.conftest import SHARED

CORPUS = Path(__file__).resolve().parent / "corpus"
STOCK_RULES = SHARED / "conformance" / "falco" / "rules" / "k8s_audit_rules.yaml"


def case(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def all_cases() -> list[str]:
    return sorted(p.stem for p in CORPUS.glob("*.json"))


def event_list(*raws: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {},
            "items": list(raws)}  # fmt: skip


@cache
def mamori_detector() -> AuditDetector:
    return load_detector()


@cache
def stock_detector() -> AuditDetector:
    return load_detector([STOCK_RULES], default_rules=False)


def fired(detector: AuditDetector, name: str) -> set[str]:
    return {m.rule.name for m in detector.matches(to_event(case(name)))}


SEQUENCES = CORPUS / "sequences"


def sequence(name: str) -> list[dict[str, Any]]:
    """A corpus sequence: audit events in the order the API server wrote them."""
    text = (SEQUENCES / f"{name}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line]


def all_sequences() -> list[str]:
    return sorted(p.stem for p in SEQUENCES.glob("*.jsonl"))


def run_stateful(
    raws: list[dict[str, Any]], pipeline: AuditPipeline | None = None, **options: Any
) -> list[tuple[int, Alert]]:
    """(index of the triggering event, alert) for each stateful alert of ``raws``."""
    pipeline = pipeline or build_pipeline(mamori_detector(), **options)
    assert pipeline.stateful is not None
    return [(i, a) for i, raw in enumerate(raws)
            for a in pipeline.stateful.observe(to_event(raw, "test"))]  # fmt: skip
