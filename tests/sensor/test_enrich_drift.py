"""Drift decisions on the sensor's events: an image exec's fields are one shared map."""

from __future__ import annotations

import os
from pathlib import Path

from mamori.drift.detector import PREFIX, DriftDecision, DriftJudge, scope_context
from mamori.drift.policy import ScopeContext
from mamori.drift.reload import PolicyHolder
from mamori.drift.verdict import Verdict
from mamori.sensor.enrich import Enricher
from mamori.sensor.proctree import ProcTree
from mamori.sensor.records import ExecRecord, ProcSnapshot


def ctx() -> ScopeContext:
    return scope_context(None, None, None, None, {}, None, None)


def test_an_image_execs_drift_fields_are_shared_and_a_drift_decisions_are_its_own(
    tmp_path: Path,
) -> None:
    judge = DriftJudge(PolicyHolder())
    enricher = Enricher(ProcTree(proc=str(tmp_path)), None, "node", "c")
    image = judge.inode_proof("/bin/true")

    def event(pid: int, dd: DriftDecision) -> dict[str, object]:
        snap = ProcSnapshot(pid=pid, ppid=1, comm="true", exe="/bin/true", args=("true",))
        rec = ExecRecord(pid, pid, "/bin/true", "fanotify", snap, drift=dd)
        return dict(enricher.event(rec).extra)

    a, b = event(10, image), event(11, image)
    assert a == b
    assert a[PREFIX + "verdict"] == "image"
    assert a["mamori.sensor.source"] == "fanotify"
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        # a memfd exec is drift without layers: the policy is asked, the decision is its own
        drift = judge.judge(fd, os.fstat(fd), "/memfd:x", None, ctx)
    finally:
        os.close(fd)
    assert drift.decision is not None
    c = event(12, drift)
    assert (c[PREFIX + "path"], c[PREFIX + "verdict"]) == ("/memfd:x", Verdict.DRIFT_MEMFD.value)
    assert (c[PREFIX + "action_taken"], c[PREFIX + "rule"]) == ("alerted", drift.decision.rule)
    assert event(13, image) == a  # the shared map still holds after another decision
