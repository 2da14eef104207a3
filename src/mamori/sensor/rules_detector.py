"""The rules engine as the sensor's detector: Falco-format rules files -> ruleset -> alerts.

Only the entry points the ``mamori rules`` CLI uses are touched (``load_ruleset``,
``Ruleset.match``, ``to_alert``): the engine's internals change independently. Alert ids come
from ``to_alert`` (rule + event identity), so a replayed recording gives the same ids as live.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from mamori.core.errors import ConfigError
from mamori.core.events import Event
from mamori.core.findings import Alert
from mamori.rules import ast
from mamori.rules.engine import load_ruleset
from mamori.rules.output import to_alert
from mamori.rules.ruleset import RuleMatching, Ruleset
from mamori.sensor.enrich import DECISION_ONLY

DEFAULT_RULES = Path(__file__).resolve().parent.parent / "rules_data" / "mamori_rules.yaml"
SENSOR_EVENT_TYPES = ("execve", "connect", "openat")  # the event types sensor sources emit


def load_rules(paths: Sequence[Path], matching: RuleMatching = RuleMatching.FIRST) -> Ruleset:
    """Load and compile; any error is one ``ConfigError`` line naming the first problem."""
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"rules file {path} does not exist")
    result = load_ruleset(paths, matching)
    if not result.ok:
        first = result.errors[0]
        more = f" (and {len(result.errors) - 1} more error(s))" if len(result.errors) > 1 else ""
        raise ConfigError(f"invalid rules: {first}{more}")
    return result.ruleset


# A field name as it appears in a condition's canonical text or an output (%field).
_FIELD = re.compile(r"\b(?:evt|proc|user|group|thread|container|k8s|fd|fs|mamori)\.[a-z0-9_.]+")


def used_fields(ruleset: Ruleset) -> frozenset[str]:
    """Fields the enabled rules read (conditions and outputs), from their canonical text."""
    found: set[str] = set()
    for rule in ruleset.rules:
        found.update(_FIELD.findall(ast.to_str(rule.expr)))
        found.update(_FIELD.findall(rule.output.text))
    return frozenset(found)


class RulesDetector:
    """Every match of the ruleset (Falco's first-match by default) becomes one alert."""

    def __init__(self, ruleset: Ruleset) -> None:
        self.ruleset = ruleset
        self.fields = used_fields(ruleset)  # what the sensor must read for these rules
        # The rules' code for what the sensor emits is built now, not at the first exec or
        # connect (up to ~100 ms on the pipeline thread while short-lived processes exit).
        ruleset.prepare(SENSOR_EVENT_TYPES)

    def detect(self, event: Event) -> Iterable[Alert]:
        if event.extra.get(DECISION_ONLY):
            return ()  # the exec was already an event (fanotify); this copy carries drift only
        matches = self.ruleset.match(event)
        if not matches:
            return ()
        return [to_alert(m) for m in matches]
