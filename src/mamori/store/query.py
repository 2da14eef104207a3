"""Filters and keyset pagination shared by alert and finding queries."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from mamori.core.errors import ValidationError
from mamori.core.severity import Severity


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position after the last row of a page: rows are ordered by (time, id) descending."""

    time: datetime
    id: str

    def encode(self) -> str:
        raw = f"{self.time.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            when, _, ident = raw.partition("|")
            if not ident or "\x00" in ident:
                raise ValueError("no usable id")
            return cls(datetime.fromisoformat(when), ident)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise ValidationError(f"invalid cursor {text!r}") from None


@dataclass(frozen=True, slots=True)
class Filters:
    """What a list query may filter on; ``None`` or empty means no filter."""

    since: datetime | None = None
    until: datetime | None = None
    severities: tuple[Severity, ...] = ()
    rule: str | None = None
    namespace: str | None = None
    cluster: str | None = None
    statuses: tuple[str, ...] = ()
    text: str | None = None
    kind: str | None = None  # findings only
    simulated: bool | None = None  # alerts only


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
