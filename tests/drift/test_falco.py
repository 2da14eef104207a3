"""Falco compatibility (§6): the stock "Drop and execute new binary in container" rule, read from
the shared conformance set (never copied), evaluates mamori's drift decision events unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mamori.rules.ruleset import RuleMatching
from mamori.sensor.rules_detector import RulesDetector, load_rules
from tests.conftest import SHARED, unavailable
from tests.drift.conftest import Box

pytestmark = [pytest.mark.docker, pytest.mark.root]
FALCO_RULES = SHARED / "conformance/falco/rules/falco_rules.yaml"
DROP = "Drop and execute new binary in container"


def test_stock_drop_and_execute_rule(drift_sensor: Any, box: Box, tmp_path: Path) -> None:
    if not FALCO_RULES.is_file():
        unavailable(f"Falco conformance rules missing: {FALCO_RULES}")
    falco = RulesDetector(load_rules([FALCO_RULES], RuleMatching.ALL))
    with drift_sensor(detectors=(falco,)) as run:
        cid = box.start()
        script = (
            "/bin/true && mkdir /tmp/d && cp /bin/true /tmp/d/true && /tmp/d/true"
            " && chmod 700 /bin/echo && /bin/echo x"
        )
        assert box.sh(cid, script)[0] == 0
        run.settle(lambda: len([a for a in run.alerts.alerts if a.rule == DROP]) >= 2)
        drops = [a for a in run.alerts.alerts if a.rule == DROP]
        paths = sorted(a.fields["proc.exepath"] for a in drops)
        # S02 (drift-new) and S07 (copy-up, Falco's meaning of upper layer); S01 never.
        # /bin/echo is a link to /bin/busybox: the exec opens (and chmod copied up) busybox.
        assert paths == ["/bin/busybox", "/tmp/d/true"]
        s02 = next(a for a in drops if a.fields["proc.exepath"] == "/tmp/d/true")
        assert "EXE_UPPER_LAYER" in s02.output
        assert s02.fields["proc.exe_ino.ctime"] not in (None, "<NA>")
        assert not [a for a in drops if a.fields["proc.exepath"] == "/bin/true"]
        flags = {e.extra.get("mamori.drift.path"): e.process.exe_flags for e in run.events.events}
        assert flags["/bin/true"]["lower_layer"] is True
        assert flags["/tmp/d/true"]["upper_layer"] is True
