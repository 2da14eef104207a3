"""Dry run: recorded exec decisions through a (new) policy, with per-rule hits and the diff.

Input is what ``mamori sensor --record`` writes: core events whose ``mamori.drift.*`` extension
fields hold the verdict the sensor decided. Only the policy runs again (the verdict is content,
it does not change with the policy), through the same ``Policy.evaluate`` the sensor uses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mamori.core.events import Event
from mamori.drift.detector import PREFIX, Mode, event_context, outcome
from mamori.drift.policy import Policy
from mamori.drift.verdict import Verdict


@dataclass(frozen=True, slots=True)
class SimulatedExec:
    time_ns: int
    container: str | None
    namespace: str | None
    path: str
    verdict: str
    rule: str
    action: str
    action_taken: str
    recorded_rule: str | None
    recorded_action_taken: str | None


@dataclass
class Simulation:
    execs: list[SimulatedExec] = field(default_factory=list)
    hits: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    skipped: int = 0  # events without a drift verdict (image execs, connects, other sources)

    def changes(self) -> Counter[str]:
        """How recorded outcomes change: ``"alerted -> blocked": 3``."""
        return Counter(
            f"{e.recorded_action_taken} -> {e.action_taken}"
            for e in self.execs
            if e.recorded_action_taken != e.action_taken
        )


def _const(value: str | None) -> Callable[[], str | None]:
    return lambda: value


def simulate(policy: Policy, events: Iterable[Event], mode: Mode = "block") -> Simulation:
    sim = Simulation()
    for rule in policy.all_rules:
        sim.hits[rule.name] = 0
    for event in events:
        x = event.extra
        raw = x.get(PREFIX + "verdict")
        try:
            verdict = Verdict(raw) if isinstance(raw, str) else None
        except ValueError:
            verdict = None
        if verdict is None or not verdict.is_drift:
            sim.skipped += 1
            continue
        path = str(x.get(PREFIX + "path") or (event.process.exepath if event.process else ""))
        raw_sha = x.get(PREFIX + "sha256")
        recorded: str | None = raw_sha if isinstance(raw_sha, str) else None
        decision = policy.evaluate(verdict, path, event_context(event), _const(recorded))
        taken, _ = outcome(decision, verdict, mode)
        sim.hits[decision.rule] += 1
        sim.outcomes[taken] += 1
        c, k = event.container, event.k8s
        sim.execs.append(
            SimulatedExec(
                event.time_ns,
                (c.name or c.short_id) if c else None,
                k.namespace if k else None,
                path,
                verdict.value,
                decision.rule,
                decision.action,
                taken,
                x.get(PREFIX + "rule"),
                x.get(PREFIX + "action_taken"),
            )
        )
    return sim
