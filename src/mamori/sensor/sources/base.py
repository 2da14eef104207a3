"""The exec-source seam: one small Protocol, and how a source says it cannot run here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from mamori.core.errors import MamoriError
from mamori.sensor.records import ExecRecord


class SourceUnavailable(MamoriError):
    """A source cannot run on this machine; the message says why (shown by the probe)."""


class ExecSource(Protocol):
    """Yields exec records until ``close()`` is called (from another thread).

    ``open()`` acquires kernel resources and raises ``SourceUnavailable`` when it cannot;
    ``records()`` then blocks in the kernel and yields as events arrive.
    """

    name: str

    def open(self) -> None: ...

    def records(self) -> Iterator[ExecRecord]: ...

    def close(self) -> None: ...
