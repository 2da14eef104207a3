"""An on-disk spool: append-only JSON-lines segments, deleted only once the server said 200.

    <dir>/000000000042.open    the segment being written (one per spool)
    <dir>/000000000041.jsonl   sealed segments, sent oldest first

A crash leaves at most a truncated last line: at start ``.open`` files are sealed as they are,
and ``read()`` skips (and counts) lines that do not parse. Alerts carry stable ids, so resending a
segment whose answer was lost is harmless: the server stores each id once.

The spool is bounded (``max_bytes``, default 512 MiB): a server down for days must not fill the
node's disk. Past the bound the oldest sealed segments go first; what was dropped is counted
(``dropped_lines``) and logged, never silent.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
SEGMENT_BYTES = 1 << 20
MAX_BYTES = 512 << 20
SEGMENT_AGE_S = 0.5
OPEN, SEALED = ".open", ".jsonl"


class Spool:
    def __init__(
        self,
        directory: Path,
        segment_bytes: int = SEGMENT_BYTES,
        segment_age_s: float = SEGMENT_AGE_S,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.dir = directory
        self.max_bytes = max(max_bytes, 2 * segment_bytes)
        self.dropped_lines = 0
        self.dropped_segments = 0
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
        self._sealed_bytes = sum(p.stat().st_size for p in self._segments())
        self._enforce_cap()

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
        self._sealed_bytes += self._size
        self._enforce_cap()

    def _enforce_cap(self) -> None:
        """Drop the oldest sealed segments while the spool is over ``max_bytes``."""
        if self._sealed_bytes <= self.max_bytes:
            return
        for segment in self._segments():
            if self._sealed_bytes <= self.max_bytes:
                break
            try:
                size = segment.stat().st_size
                with open(segment, "rb") as f:
                    lines = sum(1 for line in f if line.strip())
                segment.unlink()
            except OSError:
                continue  # sent and deleted meanwhile
            self._sealed_bytes -= size
            self.dropped_lines += lines
            self.dropped_segments += 1
            log.warning(
                "spool over %d bytes: dropped %s (%d alerts not delivered; %d so far)",
                self.max_bytes,
                segment.name,
                lines,
                self.dropped_lines,
            )

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

    def delete(self, segment: Path) -> None:
        try:
            size = segment.stat().st_size
            segment.unlink()
        except OSError:
            return
        with self._lock:
            self._sealed_bytes -= size

    def pending_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.dir.glob("*") if p.is_file())

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                self._seal_locked()
