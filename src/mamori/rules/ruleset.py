"""The ruleset: compiled rules indexed by (source, evt.type), evaluated per event."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from mamori.core.events import Event
from mamori.core.severity import Severity
from mamori.rules import ast
from mamori.rules.compiler import Condition, compile_condition
from mamori.rules.evttypes import EvtTypes
from mamori.rules.fold import fold
from mamori.rules.output import OutputFormat


class RuleMatching(enum.StrEnum):
    FIRST = "first"  # stop at the first matching rule, in load order (Falco's default)
    ALL = "all"


@dataclass(frozen=True, slots=True)
class CompiledRule:
    index: int  # load order
    name: str
    source: str
    priority: Severity
    desc: str
    tags: tuple[str, ...]
    enabled: bool
    condition: Condition
    output: OutputFormat
    evttypes: EvtTypes
    expr: ast.Expr  # the resolved tree (for tools and the reference evaluator)


@dataclass(frozen=True, slots=True)
class Match:
    rule: CompiledRule
    event: Event


class Ruleset:
    """Enabled rules, found per event by source and event type; evaluation errors never raise."""

    def __init__(
        self, rules: Iterable[CompiledRule], rule_matching: RuleMatching = RuleMatching.FIRST
    ) -> None:
        self.rules = tuple(sorted((r for r in rules if r.enabled), key=lambda r: r.index))
        self.first = rule_matching is RuleMatching.FIRST
        self._buckets: dict[tuple[str, str | None], tuple[CompiledRule, ...]] = {}
        self._fast: dict[tuple[str, str | None], tuple[tuple[CompiledRule, Condition], ...]] = {}
        self.errors = 0  # rule evaluations that raised (bad event data); counted, not raised

    def candidates(self, source: str, evt_type: str | None) -> tuple[CompiledRule, ...]:
        key = (source, evt_type)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = tuple(
                r
                for r in self.rules
                if r.source == source and (evt_type in r.evttypes or r.evttypes.is_all)
            )
            self._buckets[key] = bucket
        return bucket

    def specialised(
        self, source: str, evt_type: str | None
    ) -> tuple[tuple[CompiledRule, Condition], ...]:
        """The bucket's rules with conditions folded for this event type (compiled once)."""
        key = (source, evt_type)
        fast = self._fast.get(key)
        if fast is None:
            pairs = []
            for rule in self.candidates(source, evt_type):
                folded = fold(rule.expr, source, evt_type)
                if folded is False:
                    continue
                cond = _always if folded is True else compile_condition(folded, source)
                pairs.append((rule, cond))
            fast = self._fast[key] = tuple(pairs)
        return fast

    def match(self, event: Event) -> list[Match]:
        out: list[Match] = []
        key = (event.source, event.syscall)
        bucket = self._fast.get(key) or self.specialised(*key)
        for rule, condition in bucket:
            try:
                hit = condition(event)
            except (TypeError, ValueError, AttributeError, KeyError, IndexError):
                self.errors += 1
                continue
            if hit:
                out.append(Match(rule, event))
                if self.first:
                    break
        return out


def _always(event: Event) -> bool:
    return True
