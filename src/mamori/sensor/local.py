"""The sensor ``mamori up`` runs next to the server: in-process, alerts straight to the store.

It runs only where it can do its job (root, fanotify, a container runtime socket); otherwise the
server starts alone and the log says why. Alerts go to the local database through
``Database.alerts.insert`` (no HTTP, no token); ids are stable, so a repeat is one row.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from mamori.core.findings import Alert
from mamori.rules.ruleset import RuleMatching
from mamori.sensor.correlate import stateful_detectors
from mamori.sensor.identity.docker import DEFAULT_SOCKET
from mamori.sensor.rules_detector import DEFAULT_RULES, RulesDetector, load_rules
from mamori.sensor.runtime import Sensor, SensorOptions
from mamori.sensor.sources.base import SourceUnavailable
from mamori.store.database import Database

log = logging.getLogger(__name__)


class StoreSink:
    """Alerts into the local store, one insert per pipeline batch."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.stored = 0

    def emit(self, alerts: Iterable[Alert]) -> None:
        batch = list(alerts)
        if batch:
            self.stored += len(self.db.alerts.insert(batch))


def why_not(docker_socket: str = DEFAULT_SOCKET) -> str | None:
    """Why a local sensor cannot run here (cheap checks before opening anything), or None."""
    if os.geteuid() != 0:
        return "not running as root"
    if not os.path.exists(docker_socket):
        return f"no container runtime socket at {docker_socket}"
    return None


def start_local_sensor(
    db: Database,
    cluster: str | None = None,
    docker_socket: str = DEFAULT_SOCKET,
    drift_state: Path | None = None,
    drift_policy: Path | None = None,
) -> tuple[Sensor | None, str]:
    """A started sensor and "on: ...", or None and "off: <reason>"; never raises."""
    reason = why_not(docker_socket)
    if reason is not None:
        return None, f"off: {reason}"
    # Drift with the given policy (reloaded on change) or the shipped default; the policy page
    # reads ``drift_state``.
    options = SensorOptions(
        # fanotify for execs and drift, the eBPF observer for opens, connects, memfd and
        # loader execs where it loads (else tracefs): whatever this node offers.
        sources=("auto",),
        cluster=cluster,
        docker_socket=docker_socket,
        drift=True,
        drift_policy=drift_policy,
        drift_state_file=drift_state,
    )
    try:
        # Every detection that matches, not Falco's first-only: one process can be both a web
        # shell's child (MAM-RT-034) and a decoded script (MAM-RT-049).
        ruleset = load_rules([DEFAULT_RULES], RuleMatching.ALL)
        detectors = [RulesDetector(ruleset), *stateful_detectors(ruleset)]
        sensor = Sensor(options, detectors, [StoreSink(db)])
        sensor.start()
    except SourceUnavailable as exc:
        return None, f"off: {exc}"
    except Exception as exc:  # the server must come up even if the sensor cannot
        log.exception("local sensor failed to start")
        return None, f"off: {type(exc).__name__}: {exc}"
    fan = sensor.status()
    return sensor, (
        f"on: fanotify, {fan['marked_containers']} container(s) marked, "
        f"connect events {sensor.connect_status}, rules {DEFAULT_RULES.name}, "
        f"drift policy {drift_policy or 'default'}"
    )
