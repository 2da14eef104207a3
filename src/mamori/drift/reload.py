"""The policy in force: loaded from a file, reloaded on change, hit counters kept by rule name.

A watcher thread polls the file's identity (inode, size, mtime) every half second: ConfigMap
``..data`` swaps replace the file, editors rename over it; both change the identity. A policy
with errors is logged with its located diagnostics and the previous one stays in force. The
swap is one attribute assignment, so deciders never see a half-loaded policy and no event waits.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mamori.drift.policy import Action, Diagnostic, Policy, default_policy, load_policy

log = logging.getLogger(__name__)
POLL_S = 0.5
OUTCOMES = ("matched", "alerted", "blocked", "ignored", "allowlisted", "shadow", "failed_open")


@dataclass(slots=True)
class RuleCounters:
    matched: int = 0
    alerted: int = 0
    blocked: int = 0
    ignored: int = 0
    allowlisted: int = 0
    shadow: int = 0
    failed_open: int = 0
    last_hit: str | None = None


@dataclass
class HitCounters:
    """Per rule name, so counts survive reloads that keep the name."""

    rules: dict[str, RuleCounters] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, rule: str, outcome: str) -> None:
        with self._lock:
            c = self.rules.setdefault(rule, RuleCounters())
            if outcome == "failed_open":
                c.blocked -= 1  # counted as blocked when decided; the watchdog allowed it
            elif outcome != "shadow":
                c.matched += 1
            setattr(c, outcome, getattr(c, outcome) + 1)
            c.last_hit = datetime.now(UTC).isoformat(timespec="seconds")

    def as_dict(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {
                name: {k: getattr(c, k) for k in (*OUTCOMES, "last_hit")}
                for name, c in self.rules.items()
            }


class PolicyHolder:
    def __init__(self, path: Path | None = None, default_action: Action = "alert") -> None:
        self.path = path
        self.counters = HitCounters()
        self.errors: list[Diagnostic] = []
        self.reloads = 0
        self.reload_failures = 0
        self._identity: tuple[int, int, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if path is None:
            self.policy: Policy = default_policy(default_action)
            return
        self._identity = self._stat()
        policy, diags = load_policy(path)
        if policy is None:
            from mamori.core.errors import ConfigError

            raise ConfigError("invalid drift policy: " + "; ".join(map(str, diags)))
        self.policy = policy

    def _stat(self) -> tuple[int, int, int] | None:
        if self.path is None:
            return None
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def check(self, force: bool = False) -> bool:
        """Reload if the file changed (or ``force``: SIGHUP); True when it parsed."""
        ident = self._stat()
        if self.path is None or ident is None or (ident == self._identity and not force):
            return False
        self._identity = ident
        policy, diags = load_policy(self.path)
        if policy is None:
            self.errors = diags
            self.reload_failures += 1
            for d in diags:
                log.error("drift policy not reloaded, previous stays in force: %s", d)
            return False
        self.errors = []
        if policy.revision != self.policy.revision:
            self.policy = policy
            self.reloads += 1
            log.info("drift policy %s reloaded: %s", self.path, policy.revision)
        return True

    def start(self) -> None:
        if self.path is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="mamori-drift-policy", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                self.check()
            except Exception:
                log.exception("drift policy check failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None

    def state(self) -> dict[str, Any]:
        """The policy in force with its counters (stats, the policy page)."""
        counts = self.counters.as_dict()
        rules = self.policy.describe()
        for r in rules:
            r["hits"] = counts.get(r["name"], {})
        return {
            "name": self.policy.name,
            "source": str(self.path) if self.path else self.policy.source,
            "revision": self.policy.revision,
            "rules": rules,
            "errors": [str(d) for d in self.errors],
            "reloads": self.reloads,
            "updated": time.time(),
        }
