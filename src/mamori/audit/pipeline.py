"""The one detector seam of every audit input: rules, then the stateful detectors, per event.

The webhook worker, ``mamori audit tail`` and ``mamori audit replay`` all evaluate events through
``AuditPipeline``: the k8s_audit rules (``AuditDetector``) and, in event order, the inventory
with its exposure detections and the learned/windowed detections (mamori.audit.stateful).

State (inventory, raised (Service, reason) pairs, learned baselines) can be kept in a JSON file:
``commit`` writes it (temporary file, fsync, rename) when it changed, and the inputs call it only
after the alerts of what was evaluated are stored. A crash before that re-evaluates the batch
against the state from before it, which raises the same alerts with the same ids (derived from
the triggering ``auditID``): at least once, stored once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mamori.audit.detection import AuditDetector, audit_alert
from mamori.audit.exposure import ExposureDetector
from mamori.audit.inventory import RESOURCES as INVENTORY_RESOURCES
from mamori.audit.inventory import Inventory
from mamori.audit.stateful import (
    SA_PREFIX,
    ForbiddenBurst,
    KubeSystemBaseline,
    ServiceAccountRareOperation,
    StatefulConfig,
)
from mamori.core.atomicfile import write_atomic
from mamori.core.events import Event
from mamori.core.findings import Alert
from mamori.rules.ruleset import Match

log = logging.getLogger("mamori.audit")
STATE_VERSION = 1
KUBE_SYSTEM_IMAGES_LIST = "mamori_kube_system_images"
INVENTORY_VERBS = frozenset({"create", "update", "patch", "delete"})


class StatefulDetectors:
    def __init__(self, config: StatefulConfig, state_file: Path | None = None) -> None:
        self.config = config
        self.state_file = state_file
        self._fresh()
        if state_file is not None:
            self.load(state_file)

    def _fresh(self) -> None:
        self.inventory = Inventory()
        self.exposure = ExposureDetector(self.inventory)
        self.rare = ServiceAccountRareOperation(self.config)
        self.burst = ForbiddenBurst(self.config)
        self.kube_system = KubeSystemBaseline(self.config)
        self._dirty = False

    def observe(self, event: Event) -> list[Alert]:
        """The stateful alerts of one event. Each detector sees only the events it can use,
        chosen here from a few plain-dict reads (most audit events concern none of them)."""
        if event.audit is None:
            return []
        raw = event.audit.raw
        ref = raw.get("objectRef")
        resource = ref.get("resource") if type(ref) is dict else None
        verb = raw.get("verb")
        user = raw.get("user")
        name = user.get("username") if type(user) is dict else None
        status = raw.get("responseStatus")
        code = status.get("code") if type(status) is dict else None
        out: list[Alert] = []
        if resource in INVENTORY_RESOURCES and verb in INVENTORY_VERBS:
            out += self.exposure.observe(event)
        if type(name) is str and name.startswith(SA_PREFIX):
            out += self.rare.observe(event, raw)
        if code == 403:
            out += self.burst.observe(event, raw)
        self.kube_system.started_at(event)
        if verb == "create" and resource == "pods":
            out += self.kube_system.observe(event, raw)
        return out

    # persistence -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "inventory": self.inventory.snapshot(),
            "exposure_fired": self.exposure.snapshot(),
            "serviceaccounts": self.rare.snapshot(),
            "kube_system": self.kube_system.snapshot(),
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.inventory.restore(data.get("inventory", {}))
        self.exposure.restore(data.get("exposure_fired", []))
        self.rare.restore(data.get("serviceaccounts", []))
        self.kube_system.restore(data.get("kube_system", {}))

    def load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("audit: ignoring unreadable detector state %s (%s)", path, exc)
            return
        if not isinstance(data, dict) or data.get("v") != STATE_VERSION:
            log.warning("audit: ignoring detector state %s of another version", path)
            return
        try:
            self.restore(data)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("audit: detector state %s is damaged (%s); starting afresh", path, exc)
            self._fresh()

    @property
    def dirty(self) -> bool:
        return (
            self._dirty or self.inventory.changed or self.rare.changed or self.kube_system.changed
        )

    def commit(self) -> None:
        """Write the state file if anything changed since the last commit."""
        if self.state_file is None or not self.dirty:
            return
        path = self.state_file
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(self.snapshot(), separators=(",", ":")), durable=True)
        self._dirty = self.inventory.changed = self.rare.changed = False
        self.kube_system.changed = False


class AuditPipeline:
    """Rules and stateful detectors over one ordered stream of audit events."""

    def __init__(self, rules: AuditDetector, stateful: StatefulDetectors | None) -> None:
        self.rules = rules
        self.stateful = stateful

    def process(self, event: Event) -> tuple[list[Match], list[Alert]]:
        """The rule matches and the stateful alerts of one event."""
        matches = self.rules.matches(event)
        extra = self.stateful.observe(event) if self.stateful is not None else []
        return matches, extra

    def detect(self, event: Event) -> list[Alert]:
        matches, extra = self.process(event)
        return [*map(audit_alert, matches), *extra]

    def detect_all(self, events: Iterable[Event]) -> list[Alert]:
        out: list[Alert] = []
        for event in events:
            out += self.detect(event)
        return out

    def commit(self) -> None:
        if self.stateful is not None:
            self.stateful.commit()


def build_pipeline(
    rules: AuditDetector,
    *,
    stateful: bool = True,
    state_file: Path | None = None,
    learning_days: float = 7.0,
    allowed_images: Sequence[str] = (),
) -> AuditPipeline:
    """The pipeline with mamori's stateful detectors (unless ``stateful`` is false).

    The kube-system image allow list is the rules' ``mamori_kube_system_images`` list (as
    layered by the loaded files) plus ``allowed_images``.
    """
    if not stateful:
        return AuditPipeline(rules, None)
    images = frozenset([*rules.lists.get(KUBE_SYSTEM_IMAGES_LIST, []), *allowed_images])
    config = StatefulConfig(
        learning_ns=int(learning_days * 86_400 * 1e9), kube_system_images=images
    )
    return AuditPipeline(rules, StatefulDetectors(config, state_file))
