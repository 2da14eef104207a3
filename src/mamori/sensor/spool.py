"""An on-disk spool: append-only JSON-lines segments, deleted only once the server said 200.

    <dir>/000000000042.open    the segment being written (one per spool)
    <dir>/000000000041.jsonl   sealed segments, sent oldest first

A crash leaves at most a truncated last line: at start ``.open`` files are sealed as they are,
and ``read()`` skips (and counts) lines that do not parse. Alerts carry stable ids, so resending a
segment whose answer was lost is harmless: the server stores each id once.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SEGMENT_BYTES = 1 << 20
SEGMENT_AGE_S = 0.5
OPEN, SEALED = ".open", ".jsonl"


class Spool:
    def __init__(
        self,
        directory: Path,
        segment_bytes: int = SEGMENT_BYTES,
        segment_age_s: float = SEGMENT_AGE_S,
    ) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.segment_age_s = segment_age_s
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._opened = 0.0
        self.appended = 0
        for leftover in sorted(self.dir.glob("*" + OPEN)):
            leftover.rename(leftover.with_suffix(SEALED))
        self._seq = max((int(p.stem) for p in self._segments()), default=0)

    def _segments(self) -> list[Path]:
        return sorted(p for p in self.dir.glob("*" + SEALED) if p.stem.isdigit())

    def append(self, lines: Iterable[bytes]) -> None:
        """Write whole lines in one ``write`` per call: survives a kill of this process."""
        data = b"".join(line.rstrip(b"\n") + b"\n" for line in lines)
        if not data:
            return
        with self._lock:
            if self._fd is None:
                self._seq += 1
                self._path = self.dir / f"{self._seq:012d}{OPEN}"
                flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
                self._fd = os.open(self._path, flags, 0o600)
                self._size, self._opened = 0, time.monotonic()
            os.write(self._fd, data)
            self._size += len(data)
            self.appended += data.count(b"\n")
            if self._size >= self.segment_bytes:
                self._seal_locked()

    def seal(self, force: bool = False) -> None:
        """Seal the open segment when it is old enough (or ``force``), so it can be sent."""
        with self._lock:
            if self._fd is None:
                return
            if force or time.monotonic() - self._opened >= self.segment_age_s:
                self._seal_locked()

    def _seal_locked(self) -> None:
        assert self._fd is not None
        assert self._path is not None
        os.fsync(self._fd)
        os.close(self._fd)
        self._path.rename(self._path.with_suffix(SEALED))
        self._fd, self._path = None, None

    def sealed(self) -> list[Path]:
        return self._segments()

    def has_open(self) -> bool:
        return self._fd is not None

    @staticmethod
    def read(segment: Path) -> tuple[list[dict[str, Any]], int]:
        """The segment's items and the number of corrupt (unparseable) lines skipped."""
        items: list[dict[str, Any]] = []
        corrupt = 0
        with open(segment, "rb") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except ValueError:
                    corrupt += 1
                    continue
                if isinstance(item, dict):
                    items.append(item)
                else:
                    corrupt += 1
        return items, corrupt

    @staticmethod
    def delete(segment: Path) -> None:
        segment.unlink(missing_ok=True)

    def pending_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.dir.glob("*") if p.is_file())

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                self._seal_locked()
