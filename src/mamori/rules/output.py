"""Outputs: ``%field`` substitution, Falco's JSON output, and mamori ``Alert``s."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from mamori.core.events import Event
from mamori.core.findings import Alert, ResourceRef
from mamori.core.ids import content_id
from mamori.core.simulation import is_simulated
from mamori.rules import ast
from mamori.rules.errors import CompileError, ConditionParseError
from mamori.rules.fields.base import Extractor
from mamori.rules.operands import compile_operand
from mamori.rules.parser import parse

if TYPE_CHECKING:
    from mamori.rules.ruleset import Match

NA = "<NA>"
# %field, %field[arg], %field.with.dots, %tolower(field) ...; %% is a literal percent sign.
_TOKEN = re.compile(
    r"%%|%([a-z0-9]+\([^()%\s]*\))|%([a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z0-9_]+)+(?:\[[^\]]*\])?)"
)


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """A compiled output: literal text pieces alternating with field extractors."""

    text: str
    pieces: tuple[str | tuple[str, Extractor], ...]

    def render(self, event: Event) -> str:
        out: list[str] = []
        for piece in self.pieces:
            if isinstance(piece, str):
                out.append(piece)
            else:
                out.append(render_value(piece[1](event)))
        return "".join(out)

    def fields(self, event: Event) -> dict[str, Any]:
        return {p[0]: json_value(p[1](event)) for p in self.pieces if not isinstance(p, str)}


def compile_output(text: str, source: str) -> OutputFormat:
    """Compile an output format; raise CompileError (R013) naming the bad field."""
    pieces: list[str | tuple[str, Extractor]] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        pieces.append(text[pos : m.start()])
        pos = m.end()
        token = m.group(1) or m.group(2)
        if token is None:
            pieces.append("%")
            continue
        try:
            tree = parse(f"{token} exists")
        except ConditionParseError:
            raise CompileError("R013", f"output: cannot read field '%{token}'") from None
        if not isinstance(tree, ast.UnaryCheck):
            raise CompileError("R013", f"output: cannot read field '%{token}'")
        try:
            operand = compile_operand(source, tree.left)
        except CompileError as exc:
            raise CompileError("R013", f"output: {exc.message}") from None
        pieces.append((token, operand.extract))
    pieces.append(text[pos:])
    return OutputFormat(text, tuple(p for p in pieces if p != ""))


def render_value(value: Any) -> str:
    if value is None:
        return NA
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "(" + ",".join(render_value(v) for v in value) + ")"
    return str(value)


def json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [json_value(v) for v in value]
    return value


def falco_time(time_ns: int) -> str:
    """RFC 3339 with nanoseconds, as Falco's JSON ``time``."""
    dt = datetime.fromtimestamp(time_ns // 1_000_000_000, UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{time_ns % 1_000_000_000:09d}Z"


def _clock(time_ns: int) -> str:
    dt = datetime.fromtimestamp(time_ns // 1_000_000_000, UTC)
    return f"{dt:%H:%M:%S}.{time_ns % 1_000_000_000:09d}"


def falco_json(match: Match, hostname: str | None = None) -> dict[str, Any]:
    """Falco's JSON output object for one match (``json_output: true``)."""
    rule, event = match.rule, match.event
    message = rule.output.render(event)
    return {
        "hostname": hostname if hostname is not None else (event.node or ""),
        "output": f"{_clock(event.time_ns)}: {rule.priority.label} {message}",
        "output_fields": rule.output.fields(event),
        "priority": rule.priority.label,
        "rule": rule.name,
        "source": rule.source,
        "tags": sorted(rule.tags),
        "time": falco_time(event.time_ns),
    }


def event_identity(event: Event) -> list[Any]:
    """What makes an event itself: replaying the same events gives the same alert ids."""
    p = event.process
    return [
        event.source,
        event.time_ns,
        event.syscall,
        event.node,
        event.num,
        p.pid if p is not None else None,
        event.container.id if event.container is not None else None,
        (event.audit.raw.get("auditID") if event.audit is not None else None),
    ]


def to_alert(match: Match) -> Alert:
    """A mamori Alert with a stable id (rule + event identity)."""
    rule, event = match.rule, match.event
    resources: list[ResourceRef] = []
    k8s = event.k8s
    if k8s is not None and k8s.pod_name:
        resources.append(ResourceRef("pod", k8s.pod_name, k8s.namespace, event.cluster))
    if event.container is not None:
        name = event.container.name or event.container.short_id
        resources.append(ResourceRef("container", name, k8s.namespace if k8s else None,
                                     event.cluster, event.container.id))  # fmt: skip
    return Alert(
        id=content_id("rules", rule.name, event_identity(event)),
        time=datetime.fromtimestamp(event.time_ns / 1e9, UTC),
        rule=rule.name,
        severity=rule.priority,
        source=rule.source,
        output=rule.output.render(event),
        fields=MappingProxyType(rule.output.fields(event)),
        resources=tuple(resources),
        tags=tuple(rule.tags),
        cluster=event.cluster,
        namespace=k8s.namespace if k8s is not None else None,
        node=event.node,
        simulated=is_simulated(event),
    )
