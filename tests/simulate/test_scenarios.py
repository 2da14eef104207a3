"""Scenario definitions: the control-plane events fire exactly the rules the scenario expects."""

from __future__ import annotations

from datetime import UTC, datetime

from mamori.audit.events import to_event
from mamori.simulate.scenarios import NOT_YET, SCENARIOS, Audit, fresh_events
from tests.audit.corpus_util import mamori_detector


def test_control_plane_events_fire_the_expected_rules() -> None:
    sc = SCENARIOS["control-plane"]
    detector = mamori_detector()
    fired: set[str] = set()
    for step in sc.steps:
        assert isinstance(step, Audit)
        for ev in fresh_events(step, datetime.now(UTC)):
            fired |= {m.rule.name for m in detector.matches(to_event(ev))}
    assert set(sc.expected) <= fired, fired


def test_fresh_events_are_new_each_time() -> None:
    step = SCENARIOS["control-plane"].steps[0]
    assert isinstance(step, Audit)
    now = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    a, b = fresh_events(step, now), fresh_events(step, now)
    assert len({e["auditID"] for e in a + b}) == 2 * len(step.events)
    assert {e["stageTimestamp"] for e in a} == {"2026-01-02T03:04:05.000006Z"}
    assert all("auditID" in e and e["auditID"] == "" for e in step.events)  # templates untouched


def test_catalog_names_are_distinct() -> None:
    names = [*SCENARIOS, *(u.name for u in NOT_YET)]
    assert len(names) == len(set(names))
