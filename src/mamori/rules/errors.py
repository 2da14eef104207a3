"""Errors of the rules engine.

    mamori.core.errors.ValidationError
    └── RulesError              base of every rules-engine error raised on purpose
        ├── ConditionParseError a condition does not follow the grammar (has ``pos``)
        ├── CompileError        a parsed condition cannot be compiled (unknown field, bad value)
        └── RulesLoadError      rules files have errors; carries every ``Diagnostic``

The loader does not raise per problem: it collects diagnostics (``mamori.rules.diagnostics``) and
``RulesLoadError`` is raised only by helpers that insist on a clean load. Bugs raise whatever
Python raises.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mamori.core.errors import ValidationError

if TYPE_CHECKING:
    from mamori.rules.ast import Pos
    from mamori.rules.diagnostics import Diagnostic


class RulesError(ValidationError):
    """Base of every rules-engine error."""


class ConditionParseError(RulesError):
    """A condition does not follow the grammar."""

    def __init__(self, message: str, pos: Pos) -> None:
        super().__init__(f"{pos}: {message}")
        self.message = message
        self.pos = pos


class CompileError(RulesError):
    """A parsed condition or output cannot be compiled."""

    def __init__(self, code: str, message: str, pos: Pos | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.pos = pos


class RulesLoadError(RulesError):
    """Rules files have errors."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        errors = [d for d in diagnostics if d.is_error]
        first = str(errors[0]) if errors else "rules have errors"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first + more)
        self.diagnostics = diagnostics
