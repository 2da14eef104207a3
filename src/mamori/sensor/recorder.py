"""``--record``: every enriched event as mamori event JSON, one per line.

The format is ``mamori.core.eventjson`` (what ``mamori rules replay`` reads), so a recording
replays through any rules offline with the same matches and alert ids as live.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from mamori.core.eventjson import to_dict
from mamori.core.events import Event


class EventRecorder:
    """Appends events; written once per pipeline batch (one write and flush per batch)."""

    def __init__(self, stream: IO[bytes], owned: bool = False) -> None:
        self.stream = stream
        self.owned = owned
        self.written = 0
        self._lock = threading.Lock()

    @classmethod
    def file(cls, path: Path) -> EventRecorder:
        return cls(open(path, "ab"), owned=True)

    def record(self, events: Sequence[Event]) -> None:
        data = b"".join(
            json.dumps(to_dict(e), separators=(",", ":")).encode() + b"\n" for e in events
        )
        if data:
            with self._lock:
                self.stream.write(data)
                self.stream.flush()
                self.written += len(events)

    def close(self) -> None:
        if self.owned:
            self.stream.close()
