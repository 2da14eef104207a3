"""Entry points: rules files -> diagnostics + a ``Ruleset`` (parse, resolve, compile)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mamori.rules import ast
from mamori.rules.compiler import _Builder, compile_condition
from mamori.rules.diagnostics import Code, Diagnostic, Location
from mamori.rules.errors import CompileError, ConditionParseError, RulesLoadError
from mamori.rules.evttypes import evttypes
from mamori.rules.fields import SOURCES
from mamori.rules.loader import Collected, MacroDef, RuleDef, load_files, load_texts
from mamori.rules.output import compile_output
from mamori.rules.parser import parse
from mamori.rules.resolve import Resolver, resolve_lists, with_exceptions
from mamori.rules.ruleset import CompiledRule, RuleMatching, Ruleset
from mamori.rules.yamlsrc import Text

_CODES = {c.code: c for c in Code}


@dataclass(slots=True)
class LoadResult:
    collected: Collected
    diagnostics: list[Diagnostic]
    rules: list[CompiledRule] = field(default_factory=list)  # every rule that compiled
    ruleset: Ruleset = field(default_factory=lambda: Ruleset(()))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        if not self.ok:
            raise RulesLoadError(self.diagnostics)


def load_ruleset(
    paths: Iterable[str | Path], rule_matching: RuleMatching = RuleMatching.FIRST
) -> LoadResult:
    return build(load_files(paths), rule_matching)


def load_ruleset_texts(
    sources: Iterable[tuple[str, str]], rule_matching: RuleMatching = RuleMatching.FIRST
) -> LoadResult:
    return build(load_texts(sources), rule_matching)


def build(collected: Collected, rule_matching: RuleMatching = RuleMatching.FIRST) -> LoadResult:
    return _Build(collected).run(rule_matching)


class _Build:
    def __init__(self, collected: Collected) -> None:
        self.collected = collected
        self.diags = list(collected.diagnostics)
        lists = resolve_lists(collected.lists)
        self.resolver = Resolver(lists, self.parse_macros())
        self.macro_sources: dict[str, set[str]] = {}

    def diag(self, code: Code | str, message: str, where: Location, item: str | None) -> None:
        kind = _CODES[code] if isinstance(code, str) else code
        self.diags.append(Diagnostic(kind, message, where, item))

    def parse_macros(self) -> dict[str, ast.Expr | None]:
        out: dict[str, ast.Expr | None] = {}
        for name, macro in self.collected.macros.items():
            out[name] = self.parse_text(macro.condition, macro.location, f"macro '{name}'")
        return out

    def parse_text(self, text: Text, fallback: Location, item: str) -> ast.Expr | None:
        try:
            return parse(text.value)
        except ConditionParseError as exc:
            where = text.locate(exc.pos.idx) or fallback
            self.diag(Code.PARSE_ERROR, exc.message, where, item)
            return None

    def run(self, rule_matching: RuleMatching) -> LoadResult:
        compiled = [c for i, r in enumerate(self.collected.rules.values())
                    if (c := self.rule(i, r)) is not None]  # fmt: skip
        self.check_macros()
        for name, lst in self.collected.lists.items():
            if name not in self.resolver.used_lists:
                self.diag(Code.UNUSED_LIST, f"list '{name}' is not used", lst.location, None)
        return LoadResult(self.collected, self.diags, compiled, Ruleset(compiled, rule_matching))

    def rule(self, index: int, rule: RuleDef) -> CompiledRule | None:
        label = f"rule '{rule.name}'"
        if rule.source not in SOURCES:
            self.diag(Code.UNKNOWN_SOURCE, f"unknown source '{rule.source}': rule skipped",
                      rule.location, label)  # fmt: skip
            return None
        tree = self.parse_text(rule.condition, rule.location, label)
        if tree is None:
            return None
        try:
            tree = with_exceptions(tree, rule.exceptions)
        except CompileError as exc:
            self.diag(exc.code, exc.message, rule.location, label)
            return None
        if not self.check_own(tree, rule, label):
            return None
        self.resolver.used_macros = set()
        try:
            expanded = self.resolver.expand(tree)
            condition = compile_condition(expanded, rule.source)
            output = compile_output(rule.output, rule.source)
        except CompileError as exc:
            # The rule's own checks compiled (check_own), so other errors are inside macros
            # and reported once, at the macro; what remains here is located in the rule.
            located = exc.code == "R002" and not exc.message.startswith("in macro")
            if exc.code == "R013" or located:
                where = self.where(rule.condition, exc, rule.location)
                self.diag(exc.code, exc.message, where, label)
            return None
        finally:
            for name in self.resolver.used_macros:
                self.macro_sources.setdefault(name, set()).add(rule.source)
        types = evttypes(expanded)
        if rule.source == "syscall" and types.is_all and rule.warn_evttypes:
            self.diag(Code.NO_EVTTYPE, "the condition does not restrict evt.type: it runs for "
                      "every event", rule.location, label)  # fmt: skip
        return CompiledRule(index, rule.name, rule.source, rule.priority, rule.desc,
                            tuple(rule.tags), rule.enabled, condition, output, types,
                            expanded)  # fmt: skip

    def where(self, text: Text, exc: CompileError, fallback: Location) -> Location:
        if exc.pos is None or exc.code == "R013":
            return fallback
        return text.locate(exc.pos.idx) or fallback

    def check_own(self, tree: ast.Expr, rule: RuleDef, label: str) -> bool:
        """Compile the rule's own checks (not its macros') to locate errors in its text."""
        ok = True
        for node in ast.walk(tree):
            if isinstance(node, ast.UnaryCheck | ast.BinaryCheck):
                try:
                    _Builder(rule.source).check_code(self.resolver.expand(node))  # type: ignore[arg-type]
                except CompileError as exc:
                    where = self.where(rule.condition, exc, rule.location)
                    if node.pos.idx == 0 and exc.pos is None and rule.exceptions:
                        where = rule.location
                    self.diag(exc.code, exc.message, where, label)
                    ok = False
        return ok

    def check_macros(self) -> None:
        for name, macro in self.collected.macros.items():
            tree = self.resolver.macros.get(name)
            if tree is None:
                continue  # a parse error, already reported
            sources = self.macro_sources.get(name)
            if not sources:
                self.diag(Code.UNUSED_MACRO, f"macro '{name}' is not used", macro.location, None)
            self.check_macro(macro, tree, sorted(sources or SOURCES))

    def check_macro(self, macro: MacroDef, tree: ast.Expr, sources: list[str]) -> None:
        label = f"macro '{macro.name}'"
        errors: list[CompileError] = []
        for source in sources:
            try:
                for node in ast.walk(tree):
                    if isinstance(node, ast.MacroRef):
                        self.resolver.expand(node, (macro.name,))
                    elif isinstance(node, ast.UnaryCheck | ast.BinaryCheck):
                        _Builder(source).check_code(self.resolver.expand(node))  # type: ignore[arg-type]
                return
            except CompileError as exc:
                errors.append(exc)
        if errors and not errors[0].message.startswith("in macro"):
            first = errors[0]
            where = self.where(macro.condition, first, macro.location)
            self.diag(first.code, first.message, where, label)
