"""Acceptance: the rules engine as the detector, on real containers.

An interactive ``docker exec -it <ctr> sh`` (driven through a pty, so the shell has a
controlling terminal) fires Falco's stock "Terminal shell in container" (read from the shared
conformance set, never copied) and mamori's shell rule; a TCP connect to a loopback port in a
``--network none`` container fires mamori's outbound rule; the benign exec loop fires none of
them. The run is recorded with ``--record``'s writer and replayed with ``mamori rules replay``:
the same matches as live.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mamori.cli.rules import app as rules_app
from mamori.core.findings import Alert
from mamori.rules.ruleset import RuleMatching
from mamori.sensor.bpf.build import BpfBuildError, build
from mamori.sensor.recorder import EventRecorder
from mamori.sensor.rules_detector import DEFAULT_RULES, RulesDetector, load_rules
from mamori.sensor.runtime import Sensor, SensorOptions
from tests.conftest import unavailable
from tests.sensor.conftest import Containers, exec_with_tty

pytestmark = [pytest.mark.docker, pytest.mark.root, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
FALCO_RULES = REPO.parent / "shared/conformance/falco/rules/falco_rules.yaml"
FALCO_SHELL = "Terminal shell in container"
MAMORI_SHELL = "mamori terminal shell in container"
MAMORI_OUTBOUND = "mamori unexpected outbound connection"
WATCHED = {FALCO_SHELL, MAMORI_SHELL, MAMORI_OUTBOUND}
# mamori's outbound rule leaves private networks (loopback included) alone; a --network none
# container can only reach loopback, so the test narrows the list the documented way.
LOOPBACK_OVERRIDE = """\
- list: mamori_private_networks
  items: ["10.0.0.0/8"]
  override:
    items: replace
"""
LOOP = "for i in $(seq 2000); do /bin/true; done"


class Collect:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def emit(self, alerts: Iterable[Alert]) -> None:
        self.alerts.extend(alerts)


def _wait(sensor: Sensor, done: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)
    time.sleep(0.3)
    sensor.wait_idle()


@pytest.mark.parametrize("source", ["fanotify", "ebpf"])
def test_shell_and_connect_rules_live_then_replayed(
    containers: Containers, tmp_path: Path, source: str
) -> None:
    if not FALCO_RULES.is_file():
        unavailable(f"Falco conformance rules missing: {FALCO_RULES}")
    # Detect mode reads /proc after the kernel reported the exec or connect, and a loaded
    # 2-vCPU CI machine sometimes loses that race (issue 4); a scenario must pass once in three
    # fresh tries, and every failed try is printed.
    failures: list[str] = []
    for attempt in range(3):
        run = tmp_path / f"try{attempt}"
        run.mkdir()
        try:
            _shell_and_connect_once(containers, run, source)
            return
        except AssertionError as exc:
            failures.append(f"try {attempt}: {exc}")
            print(failures[-1])
    raise AssertionError("\n".join(failures))


def _shell_and_connect_once(containers: Containers, tmp_path: Path, source: str) -> None:
    if source == "ebpf":
        try:
            build()
        except BpfBuildError as exc:
            unavailable(f"cannot build the eBPF observer: {exc}")
    override = tmp_path / "loopback.yaml"
    override.write_text(LOOPBACK_OVERRIDE)
    rule_files = [FALCO_RULES, DEFAULT_RULES, override]
    ruleset = load_rules(rule_files, RuleMatching.ALL)
    recording = tmp_path / "events.jsonl"
    sink = Collect()
    sensor = Sensor(
        SensorOptions(sources=(source,), cluster="test-cluster"),
        [RulesDetector(ruleset)],
        [sink],
        event_sinks=[EventRecorder.file(recording)],
    )
    sensor.start()
    try:
        if not sensor.connect_status.startswith("on"):
            unavailable(f"connect events unavailable: {sensor.connect_status}")
        cid = containers.run("sleep", "600", detach=True)
        assert exec_with_tty(cid, "sh", typed=b"exit\n") == 0
        # A listener first, and a client: the connect source reads the pid's cgroup after the
        # event, and under load the client is often gone by then (the listener's stdin is
        # /dev/null, so it closes at once). The client's exec, seen earlier in the container,
        # then names the container (Enricher.container_id).
        subprocess.run(
            [
                "docker", "exec", cid, "sh", "-c",
                # The client connects once the listener is in LISTEN (/proc/net/tcp, no probe
                # connect): a refused client exits before its /proc can be read.
                "nc -l -p 9 >/dev/null & i=0; "
                "while ! grep -qsE ':0009 0+:0000 0A' /proc/net/tcp /proc/net/tcp6 "
                "&& [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; "
                "sleep 1 | nc 127.0.0.1 9; kill %1 2>/dev/null",
            ],
            capture_output=True,
            timeout=30,
        )  # fmt: skip
        loop = subprocess.run(
            ["docker", "exec", cid, "sh", "-c", LOOP], capture_output=True, timeout=120
        )
        assert loop.returncode == 0
        _wait(sensor, lambda: sensor.stats.events >= 2003)
    finally:
        sensor.stop()

    # Falco's outputs do not all name the container: the alert's resources do.
    mine = [a for a in sink.alerts if any(r.uid == cid for r in a.resources)]
    by_rule: dict[str, list[Alert]] = {}
    for a in mine:
        by_rule.setdefault(a.rule, []).append(a)
    # Exactly one of each: the loop's 2,000 execs (and the non-tty sh running it) fire none.
    assert {r: len(v) for r, v in by_rule.items() if r in WATCHED} == dict.fromkeys(WATCHED, 1)
    falco = by_rule[FALCO_SHELL][0]
    assert falco.fields["proc.name"] == "sh"
    assert falco.fields["proc.tty"] not in (0, None)
    assert falco.fields["proc.cmdline"] == "sh"
    assert by_rule[MAMORI_SHELL][0].fields["container.name"]
    outbound = by_rule[MAMORI_OUTBOUND][0]
    assert outbound.fields["fd.sip"] == "127.0.0.1"
    assert outbound.fields["fd.sport"] == 9
    assert outbound.fields["proc.name"] == "nc"
    assert len({a.id for a in sink.alerts}) == len(sink.alerts)

    # Replay the recording through the same rules: the same matches, field for field.
    lines = recording.read_text().splitlines()
    assert len(lines) >= 2003
    args = ["replay", "--events", str(recording), "--rule-matching", "all"]
    for f in rule_files:
        args += ["--rules", str(f)]
    res = CliRunner().invoke(rules_app, args)
    assert res.exit_code == 0, res.output
    replayed = sorted(
        (m["rule"], json.dumps(m["output_fields"], sort_keys=True))
        for m in map(json.loads, res.stdout.splitlines())
    )
    live = sorted((a.rule, json.dumps(dict(a.fields), sort_keys=True)) for a in sink.alerts)
    assert replayed == live
