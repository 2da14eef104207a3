"""Diagnostics: problems in user-written rules, collected with a code and file:line:col.

Codes are stable (tests and users grep for them). ``R0xx`` are errors, ``W0xx`` warnings.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Level(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Code(enum.Enum):
    """(code, name, level) of every diagnostic the loader and compiler produce."""

    UNKNOWN_FIELD = ("R001", "unknown-field", Level.ERROR)
    UNKNOWN_MACRO = ("R002", "unknown-macro", Level.ERROR)
    PARSE_ERROR = ("R003", "condition-syntax", Level.ERROR)
    YAML_ERROR = ("R004", "yaml-syntax", Level.ERROR)
    WRONG_TYPE = ("R005", "wrong-type", Level.ERROR)
    MISSING_KEY = ("R006", "missing-key", Level.ERROR)
    UNKNOWN_KEY = ("W006", "unknown-key", Level.WARNING)
    BAD_VALUE = ("R008", "bad-value", Level.ERROR)
    APPEND_UNDEFINED = ("R009", "append-to-undefined", Level.ERROR)
    MACRO_CYCLE = ("R010", "macro-cycle", Level.ERROR)
    BAD_EXCEPTION = ("R011", "bad-exception", Level.ERROR)
    ENGINE_VERSION = ("R012", "engine-version", Level.ERROR)
    BAD_OUTPUT = ("R013", "bad-output", Level.ERROR)
    BAD_OPERATOR = ("R014", "bad-operator", Level.ERROR)
    BAD_OVERRIDE = ("R015", "bad-override", Level.ERROR)
    IO_ERROR = ("R016", "unreadable-file", Level.ERROR)
    UNKNOWN_SOURCE = ("W001", "unknown-source", Level.WARNING)
    NO_EVTTYPE = ("W002", "no-evttype", Level.WARNING)
    UNUSED_MACRO = ("W003", "unused-macro", Level.WARNING)
    UNUSED_LIST = ("W004", "unused-list", Level.WARNING)
    UNKNOWN_ITEM = ("W005", "unknown-item", Level.WARNING)

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def slug(self) -> str:
        return self.value[1]

    @property
    def level(self) -> Level:
        return self.value[2]


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}" if self.line else self.file


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: Code
    message: str
    location: Location
    # The rule, macro or list the problem belongs to, if any ("rule 'Terminal shell'").
    item: str | None = None

    @property
    def is_error(self) -> bool:
        return self.code.level is Level.ERROR

    def __str__(self) -> str:
        where = f" ({self.item})" if self.item else ""
        return (
            f"{self.location}: {self.code.level.value} {self.code.code} {self.code.slug}: "
            f"{self.message}{where}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code.code,
            "name": self.code.slug,
            "level": self.code.level.value,
            "message": self.message,
            "file": self.location.file,
            "line": self.location.line,
            "col": self.location.col,
            "item": self.item,
        }


def offset(location: Location, line: int, col: int) -> Location:
    """The location of condition text line:col inside a YAML scalar starting at ``location``.

    Exact for plain and single-line scalars; for folded block scalars the line is a best effort.
    """
    if line <= 1:
        return Location(location.file, location.line, location.col + col - 1)
    return Location(location.file, location.line + line - 1, col)
