"""Seams between parts of mamori: small Protocols of one or two methods."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from mamori.core.events import Event
from mamori.core.findings import Alert


class EventSource(Protocol):
    """Produces events until closed."""

    def events(self) -> Iterator[Event]: ...

    def close(self) -> None: ...


class Detector(Protocol):
    """Turns one event into zero or more alerts."""

    def detect(self, event: Event) -> Iterable[Alert]: ...


class AlertSink(Protocol):
    """Receives alerts (stdout, file, server, webhook ...)."""

    def emit(self, alerts: Iterable[Alert]) -> None: ...
