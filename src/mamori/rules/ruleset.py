"""The ruleset: compiled rules indexed by (source, evt.type), evaluated per event."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mamori.core.events import Event, EventKind
from mamori.core.severity import Severity
from mamori.rules import ast, index
from mamori.rules.codegen import ERRORS, BucketFn, Prologue, compile_bucket
from mamori.rules.compiler import Condition
from mamori.rules.evttypes import EvtTypes
from mamori.rules.fold import fold
from mamori.rules.merge import merge
from mamori.rules.output import OutputFormat

_K8S_AUDIT = EventKind.K8S_AUDIT


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
        self._fns: dict[tuple[str, str | None], BucketFn] = {}
        self._syscall_fns: dict[str | None, BucketFn] = {}
        self._audit_fns: dict[str | None, BucketFn] = {}
        # Built code by content: buckets folded alike (open, openat, openat2) share it.
        self._built: dict[tuple[tuple[int, ast.Expr | bool], ...], BucketFn] = {}
        self._leaves: dict[tuple[tuple[int, ast.Expr | bool], ...], BucketFn] = {}
        self.errors = 0  # rule evaluations that raised (bad event data); counted, not raised
        self._eager = False  # build every index route with its bucket (``prepare``)

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
    ) -> tuple[tuple[CompiledRule, ast.Expr | bool], ...]:
        """The bucket's rules with conditions folded for this event type, sibling checks on one
        field merged (``merge``)."""
        return tuple(
            (r, merge(fold(r.expr, source, evt_type), source))
            for r in self.candidates(source, evt_type)
        )

    def bucket(self, source: str, evt_type: str | None) -> BucketFn:
        """The generated function evaluating the bucket's rules (built at first use)."""
        key = (source, evt_type)
        fn = self._fns.get(key)
        if fn is None:
            pairs = self.specialised(source, evt_type)
            sig = tuple((r.index, t) for r, t in pairs)
            fn = self._built.get(sig)
            if fn is None:
                fn = index.build(source, pairs, self._leaf, ERRORS, self._eager)
                self._built[sig] = fn
            self._fns[key] = fn
        return fn

    def prepare(self, evt_types: Iterable[str], source: str = "syscall") -> None:
        """Build the code for these event types now, every index route included.

        Code is otherwise built at the first event that needs it, 5-50 ms a bucket or route on
        the caller's thread; a sensor prepares the types it emits at start, so no event waits
        for a build while the processes it must read in /proc are still alive.
        """
        self._eager = True
        try:
            fns = self._audit_fns if source == "k8s_audit" else self._syscall_fns
            for evt_type in evt_types:
                fns[evt_type] = self.bucket(source, evt_type)
        finally:
            self._eager = False

    def _leaf(
        self, rules: Sequence[tuple[CompiledRule, ast.Expr | bool]], prologue: Prologue | None
    ) -> BucketFn:
        source = rules[0][0].source if rules else "syscall"
        if prologue is not None:  # one of a kind: the index's dispatch in front
            return compile_bucket(rules, source, self.first, Match, self._count_error, prologue)
        # Its own cache: ``_built`` maps the same rules to their dispatching function, and the
        # dispatch's fallback (a key it cannot read) must be the plain code, not itself.
        sig = tuple((r.index, t) for r, t in rules)
        fn = self._leaves.get(sig)
        if fn is None:
            fn = compile_bucket(rules, source, self.first, Match, self._count_error)
            self._leaves[sig] = fn
        return fn

    def _count_error(self) -> None:
        self.errors += 1

    def match(self, event: Event) -> list[Match]:
        # Per source, a dict on evt.type: no ``Event.source`` call, no key tuple per event.
        fns = self._audit_fns if event.kind is _K8S_AUDIT else self._syscall_fns
        fn = fns.get(event.syscall)
        if fn is None:
            fn = fns[event.syscall] = self.bucket(event.source, event.syscall)
        matches: list[Match] = fn(event)
        return matches
