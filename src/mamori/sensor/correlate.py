"""Stateful runtime detections: the catalog's MAM-RT entries a Falco condition cannot express.

* RT-012 (``MiningBehavior``): two distinct crypto-mining indicators in one container within
  10 minutes. The indicators are the stateless rules tagged RT-020, RT-025, RT-032, RT-046 and
  RT-047, evaluated here with *all* matching (the sensor's first-match would hide an indicator
  behind an earlier rule), plus a connect to a mining-pool port.
* RT-035 (``ReconBurst``): five distinct reconnaissance commands in one container within 60 s.
* RT-042, scan half (``ScanBurst``): connects to 50 distinct address:port pairs from one
  container within 60 s.

Each raises one alert when its threshold is reached, then stays quiet for that container for one
window. State is per container (``host`` outside containers), holds at most ``threshold`` keys,
and containers idle for two windows, or beyond ``max_containers``, are evicted. Times are the
events' own (``time_ns``), so a replayed recording raises the same alerts with the same ids.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from mamori.core.events import Event, EventKind
from mamori.core.findings import Alert
from mamori.core.ids import content_id
from mamori.core.plugins import Detector
from mamori.core.severity import Severity
from mamori.rules.ruleset import RuleMatching, Ruleset
from mamori.sensor.detectors import event_fields, resources
from mamori.sensor.rules_detector import used_fields

SECOND_NS = 1_000_000_000
MAX_CONTAINERS = 4096

MINING_RULE = "Digital currency mining related behavior"
RECON_RULE = "Burst of reconnaissance commands"
SCAN_RULE = "Network scanning activity"

# RT-012's indicators: the catalog ids of the stateless rules whose matches count.
MINING_INDICATOR_IDS = ("MAM-RT-020", "MAM-RT-025", "MAM-RT-032", "MAM-RT-046", "MAM-RT-047")
MINING_POOL_PORTS = frozenset(
    (3333, 3334, 3357, 4444, 5555, 5556, 5588, 6666, 7777, 14433, 14444, 45560, 45700)
)
POOL_CONNECT = "mining-pool-connect"

# RT-035: process names that count as one reconnaissance command each (``cat`` counts only
# on OS identification files, as "cat /etc/os-release").
RECON_COMMANDS = frozenset(
    ("whoami", "id", "uname", "hostname", "ps", "ss", "netstat", "ip", "ifconfig", "env",
     "printenv", "mount", "lsblk", "df", "w", "who", "last", "groups", "getent")
)  # fmt: skip
OS_RELEASE_FILES = ("/etc/os-release", "/usr/lib/os-release", "/etc/issue", "/etc/lsb-release")


@dataclass(slots=True)
class _State:
    seen: dict[str, int] = field(default_factory=dict)  # key -> last time (ns)
    last_ns: int = 0
    quiet_until_ns: int = 0


class DistinctBurst:
    """Per-container distinct keys in a sliding window; ``add`` says when the threshold is hit.

    The returned tuple is the keys that made the burst (in first-seen order); after it the
    container is quiet for one window and its keys are forgotten.
    """

    def __init__(
        self, threshold: int, window_s: float, max_containers: int = MAX_CONTAINERS
    ) -> None:
        self.threshold = threshold
        self.window_ns = int(window_s * SECOND_NS)
        self.max_containers = max_containers
        self.states: OrderedDict[str, _State] = OrderedDict()

    def add(self, container: str, key: str, now_ns: int) -> tuple[str, ...] | None:
        self._evict(now_ns)
        state = self.states.get(container)
        if state is None:
            state = self.states[container] = _State()
        else:
            self.states.move_to_end(container)
        state.last_ns = max(state.last_ns, now_ns)
        if now_ns < state.quiet_until_ns:
            return None
        horizon = now_ns - self.window_ns
        if state.seen and min(state.seen.values()) < horizon:
            state.seen = {k: t for k, t in state.seen.items() if t >= horizon}
        state.seen[key] = now_ns
        if len(state.seen) < self.threshold:
            return None
        keys = tuple(state.seen)
        state.seen = {}
        state.quiet_until_ns = now_ns + self.window_ns
        return keys

    def _evict(self, now_ns: int) -> None:
        idle = now_ns - 2 * self.window_ns
        while self.states:
            cid, oldest = next(iter(self.states.items()))
            if len(self.states) < self.max_containers and oldest.last_ns >= idle:
                break
            del self.states[cid]


def _container_key(event: Event) -> str:
    return event.container.id if event.container is not None else "host"


def _alert(
    event: Event,
    rule: str,
    severity: Severity,
    tags: tuple[str, ...],
    output: str,
    keys: Sequence[str],
) -> Alert:
    fields = event_fields(event) | {"mamori.correlated": list(keys)}
    where = event.container.short_id if event.container is not None else "host"
    return Alert(
        id=content_id("correlate", rule, event.node, _container_key(event), event.time_ns),
        time=datetime.fromtimestamp(event.time_ns / 1e9, UTC),
        rule=rule,
        severity=severity,
        source="syscall",
        output=f"{output} (container_id={where} "
        f"pod={event.k8s.pod_name if event.k8s else None} last={', '.join(keys)})",
        fields=MappingProxyType(fields),
        resources=resources(event),
        tags=tags,
        cluster=event.cluster,
        namespace=event.k8s.namespace if event.k8s is not None else None,
        node=event.node,
    )


def _catalog_ids(tags: Iterable[str]) -> list[str]:
    return [t.removeprefix("mamori.") for t in tags if t.startswith("mamori.MAM-RT-")]


def indicator_ruleset(ruleset: Ruleset, ids: Sequence[str] = MINING_INDICATOR_IDS) -> Ruleset:
    """The rules of ``ruleset`` tagged with one of the catalog ``ids``, matching all rules."""
    wanted = set(ids)
    chosen = [r for r in ruleset.rules if wanted.intersection(_catalog_ids(r.tags))]
    return Ruleset(chosen, RuleMatching.ALL)


class MiningBehavior:
    """RT-012: >= 2 distinct mining indicators in one container within 10 minutes -> High."""

    tags = ("container", "mamori.MAM-RT-012", "defender.K8S.NODE_DigitalCurrencyMining",
            "mitre_execution", "mitre_impact", "T1496")  # fmt: skip

    def __init__(
        self,
        indicators: Ruleset,
        pool_ports: frozenset[int] = MINING_POOL_PORTS,
        threshold: int = 2,
        window_s: float = 600.0,
    ) -> None:
        self.indicators = indicators
        self.fields = used_fields(indicators) | {"fd.sport"}  # what the sensor must read
        self.pool_ports = pool_ports
        self.burst = DistinctBurst(threshold, window_s)

    def detect(self, event: Event) -> Iterable[Alert]:
        if event.kind is EventKind.K8S_AUDIT:
            return ()
        found: list[str] = []
        net = event.network
        if (
            event.kind is EventKind.NETWORK_CONNECT
            and net is not None
            and net.dst_port in self.pool_ports
        ):
            found.append(POOL_CONNECT)
        for match in self.indicators.match(event):
            found.extend(i for i in _catalog_ids(match.rule.tags) if i in MINING_INDICATOR_IDS)
        cid = _container_key(event)
        for indicator in found:
            keys = self.burst.add(cid, indicator, event.time_ns)
            if keys is not None:
                text = "Digital currency mining related behavior: indicators " + ", ".join(keys)
                return (_alert(event, MINING_RULE, Severity.CRITICAL, self.tags, text, keys),)
        return ()


def recon_command(event: Event) -> str | None:
    """The reconnaissance command an exec event is, or None."""
    p = event.process
    if event.kind is not EventKind.PROCESS_EXEC or p is None or event.result != "SUCCESS":
        return None
    if p.name in RECON_COMMANDS:
        return p.name
    if p.name == "cat" and any(a in OS_RELEASE_FILES for a in p.args):
        return "cat /etc/os-release"
    return None


class ReconBurst:
    """RT-035: >= 5 distinct reconnaissance commands in one container within 60 s -> Low."""

    tags = ("container", "mamori.MAM-RT-035", "defender.K8S.NODE_ReconnaissanceArtifactsBurst",
            "mitre_discovery", "mitre_collection", "T1082", "T1033")  # fmt: skip

    fields = frozenset(("proc.name", "proc.args"))

    def __init__(self, threshold: int = 5, window_s: float = 60.0) -> None:
        self.burst = DistinctBurst(threshold, window_s)

    def detect(self, event: Event) -> Iterable[Alert]:
        command = recon_command(event)
        if command is None:
            return ()
        keys = self.burst.add(_container_key(event), command, event.time_ns)
        if keys is None:
            return ()
        text = f"Burst of {len(keys)} reconnaissance commands in one container"
        return (_alert(event, RECON_RULE, Severity.NOTICE, self.tags, text, keys),)


class ScanBurst:
    """RT-042 (stateful half): connects to >= 50 distinct address:port pairs in 60 s -> Medium."""

    tags = ("container", "mamori.MAM-RT-042", "mitre_discovery", "T1046")
    fields = frozenset(("fd.sip", "fd.sport"))

    def __init__(self, threshold: int = 50, window_s: float = 60.0) -> None:
        self.burst = DistinctBurst(threshold, window_s)

    def detect(self, event: Event) -> Iterable[Alert]:
        net = event.network
        if event.kind is not EventKind.NETWORK_CONNECT or net is None or net.dst_ip is None:
            return ()
        key = (
            f"[{net.dst_ip}]:{net.dst_port}"
            if ":" in net.dst_ip
            else f"{net.dst_ip}:{net.dst_port}"
        )
        keys = self.burst.add(_container_key(event), key, event.time_ns)
        if keys is None:
            return ()
        text = f"Connections to {len(keys)} distinct address:port pairs within a minute"
        return (_alert(event, SCAN_RULE, Severity.WARNING, self.tags, text, keys[-5:]),)


def stateful_detectors(ruleset: Ruleset) -> list[Detector]:
    """The correlating detectors that run next to the rules (RT-012, RT-035, RT-042)."""
    return [MiningBehavior(indicator_ruleset(ruleset)), ReconBurst(), ScanBurst()]
