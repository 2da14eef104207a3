"""``mamori sensor``: run the node sensor until interrupted (or for ``--duration`` seconds)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from mamori.cli.common import err_console, settings
from mamori.core.errors import ConfigError
from mamori.core.gctune import tune_for_long_running
from mamori.core.plugins import AlertSink, Detector
from mamori.drift.policy import load_policy
from mamori.rules.ruleset import RuleMatching
from mamori.sensor.correlate import stateful_detectors
from mamori.sensor.detectors import ExecLog
from mamori.sensor.guard import Guard
from mamori.sensor.recorder import EventRecorder
from mamori.sensor.rules_detector import DEFAULT_RULES, RulesDetector, load_rules
from mamori.sensor.runtime import Sensor, SensorOptions
from mamori.sensor.sinks import ServerSink, StreamSink
from mamori.sensor.sources.base import SourceUnavailable
from mamori.sensor.spool import Spool
from mamori.sensor.stats import SensorStats


def _sink(
    output: str, token_file: Path | None, spool_dir: Path, stats: SensorStats, spool_max: int
) -> AlertSink:
    if output == "stdout":
        return StreamSink.stdout()
    if output.startswith("file:"):
        return StreamSink.file(Path(output[5:]))
    if output.startswith(("http://", "https://")):
        if token_file is None:
            raise ConfigError("--token-file is required with a server output")
        token = token_file.read_text().strip()
        spool = Spool(spool_dir, max_bytes=spool_max)
        return ServerSink(output, token, spool, stats).start()
    raise ConfigError(f"unknown --output {output!r} (stdout, file:PATH, http://HOST:PORT)")


def _detectors(
    name: str, rules: list[Path] | None, all_execs: bool, matching: RuleMatching
) -> list[Detector]:
    if name == "rules":
        ruleset = load_rules(rules or [DEFAULT_RULES], matching)
        return [RulesDetector(ruleset), *stateful_detectors(ruleset)]
    if rules:
        raise ConfigError("--rules needs --detector rules")
    if name == "exec-log":
        return [ExecLog(containers_only=not all_execs)]
    if name == "none":
        return []
    raise ConfigError(f"unknown --detector {name!r} (rules, exec-log, none)")


def load_policy_or_fail(path: Path) -> None:
    policy, diags = load_policy(path)
    if policy is None:
        raise ConfigError("invalid drift policy: " + "; ".join(map(str, diags)))


def run(
    output: Annotated[
        str, typer.Option(help="stdout, file:PATH, or the server URL http(s)://HOST:PORT")
    ] = "stdout",
    token_file: Annotated[
        Path | None, typer.Option(help="file holding an ingest token (server output)")
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option(help="auto, fanotify, ebpf or tracefs; repeatable")
    ] = None,
    spool_dir: Annotated[
        Path | None, typer.Option(help="server output spool (default: DATA_DIR/spool)")
    ] = None,
    duration: Annotated[
        float | None, typer.Option(min=0, help="stop after this many seconds")
    ] = None,
    all_execs: Annotated[
        bool, typer.Option(help="alert on host execs too (the exec log detector)")
    ] = False,
    detector: Annotated[
        str,
        typer.Option(
            help="rules (the --rules files), exec-log (an alert per exec) or none (count only)"
        ),
    ] = "rules",
    rules: Annotated[
        list[Path] | None,
        typer.Option(
            "--rules", help="Falco-format rules file, repeatable (default: mamori's own rules)"
        ),
    ] = None,
    rule_matching: Annotated[
        RuleMatching,
        typer.Option(help="first (Falco's default: one alert per event) or all matching rules"),
    ] = RuleMatching.FIRST,
    record: Annotated[
        Path | None,
        typer.Option(help="append every event as mamori event JSON lines (mamori rules replay)"),
    ] = None,
    connect: Annotated[
        bool, typer.Option(help="outbound connect events (eBPF, else tracefs), when available")
    ] = True,
    host_events: Annotated[
        bool,
        typer.Option(help="eBPF observer: also execs and connects outside containers"),
    ] = False,
    drift: Annotated[
        bool, typer.Option(help="binary drift detection (default policy unless --drift-policy)")
    ] = True,
    drift_policy: Annotated[
        Path | None,
        typer.Option(help="drift policy YAML; reloaded on change (mamori drift default-policy)"),
    ] = None,
    block: Annotated[
        bool,
        typer.Option(help="answer execs the drift policy blocks with EPERM (permission events)"),
    ] = False,
    ignore_marks: Annotated[
        bool | None,
        typer.Option(
            help="kernel-side skip of verified image binaries (default: on with --detector none)"
        ),
    ] = None,
    guard_process: Annotated[
        bool, typer.Option(help="block mode: a guard process kills a stopped sensor")
    ] = True,
    drift_state: Annotated[
        Path | None,
        typer.Option(help="policy + hit counters file (default: DATA_DIR/drift-state.json)"),
    ] = None,
    response: Annotated[
        bool,
        typer.Option(
            help="carry out the responses rules ask for (mamori.response.* tags: kill the "
            "process, stop or pause its container); with --no-response they are not done"
        ),
    ] = True,
) -> None:
    """Run the runtime sensor: exec and connect events, enriched, through the rules.

    Events reach the rules with Falco's field names (evt.type execve or connect, proc.*,
    container.*, k8s.*, user.*); each match is an alert to the chosen output. The final status
    (sources, counters) goes to stderr.
    """
    s = settings()
    logging.basicConfig(
        level=s.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    # Invalid rules: exit 2 before anything starts.
    detectors = _detectors(detector, rules, all_execs, rule_matching)
    stats = SensorStats()
    if block and not drift:
        raise ConfigError("--block needs drift detection (drop --no-drift)")
    if drift_policy is not None:
        load_policy_or_fail(drift_policy)  # invalid policy: exit 2 before anything starts
    # Block mode: a stopped sensor would hold execs forever; the guard (forked before any
    # thread exists: the server sink starts one) SIGKILLs it after 1 s without a heartbeat.
    guard = Guard() if block and guard_process else None
    if guard is not None:
        guard.start()
    sink = _sink(output, token_file, spool_dir or s.data_dir / "spool", stats, s.spool_max_bytes)
    recorders = [EventRecorder.file(record)] if record is not None else []
    options = SensorOptions(
        sources=tuple(source or ["auto"]),
        cluster=s.cluster_name,
        connect=connect,
        host_events=host_events,
        mode="block" if block else "detect",
        drift=drift,
        drift_policy=drift_policy,
        ignore_marks=(detector == "none") if ignore_marks is None else ignore_marks,
        drift_state_file=drift_state or s.data_dir / "drift-state.json",
        respond=response,
    )
    sensor = Sensor(options, detectors, [sink], stats=stats, event_sinks=recorders)
    try:
        sensor.start()
    except SourceUnavailable as exc:
        if guard is not None:
            guard.stop()
        raise ConfigError(str(exc)) from None
    tune_for_long_running()  # after start-up: the compiled rules and caches are frozen
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    holder = sensor.policy
    if holder is not None:  # SIGHUP: reload the drift policy now (it is also watched)
        signal.signal(signal.SIGHUP, lambda *_: holder.check(force=True))
    try:
        done.wait(duration)
    finally:
        sensor.wait_idle(5)
        sensor.stop()
        if guard is not None:
            guard.stop()
        err_console.print(json.dumps(sensor.status()), highlight=False, soft_wrap=True)


def build_bpf(
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="where the object goes (default: /var/cache/mamori/bpf as root)"),
    ] = None,
    force: Annotated[bool, typer.Option(help="rebuild even when cached")] = False,
) -> None:
    """Build the eBPF observer for this kernel (clang + bpftool + libbpf-dev; cached)."""
    from mamori.sensor.bpf.build import BpfBuildError, build

    try:
        result = build(cache_dir, force=force)
    except BpfBuildError as exc:
        raise ConfigError(str(exc)) from None
    state = "cached" if result.cached else "built"
    err_console.print(f"{state}: {result.path}", highlight=False)
