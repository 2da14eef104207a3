"""Alert sinks: stdout and file (JSON lines), and the mamori server via the on-disk spool.

Every sink writes the server's input form (``AlertIn``), so a file can be replayed to the server.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import httpx

from mamori.core.alertjson import alert_to_wire
from mamori.core.findings import Alert
from mamori.sensor.spool import Spool
from mamori.sensor.stats import SensorStats

log = logging.getLogger(__name__)
BATCH = 500
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.25, 30.0


def dumps(alert: Alert) -> bytes:
    return json.dumps(alert_to_wire(alert), separators=(",", ":"), default=str).encode()


class StreamSink:
    """JSON lines to a stream (stdout) or an append-only file."""

    def __init__(self, stream: IO[bytes], owned: bool = False) -> None:
        self.stream = stream
        self.owned = owned
        self._lock = threading.Lock()

    @classmethod
    def stdout(cls) -> StreamSink:
        return cls(sys.stdout.buffer)

    @classmethod
    def file(cls, path: Path) -> StreamSink:
        return cls(open(path, "ab"), owned=True)

    def emit(self, alerts: Iterable[Alert]) -> None:
        data = b"".join(dumps(a) + b"\n" for a in alerts)
        if data:
            with self._lock:
                self.stream.write(data)
                self.stream.flush()

    def close(self) -> None:
        if self.owned:
            self.stream.close()


class ServerSink:
    """Spools every alert to disk, and a sender thread ships sealed segments in batches.

    A segment is deleted only after every batch of it got HTTP 200; while the server is down the
    sender retries with exponential backoff. 4xx answers that retrying cannot fix (422: nothing
    valid, 400: malformed) are counted as rejected and the segment is dropped.
    """

    def __init__(
        self,
        url: str,
        token: str,
        spool: Spool,
        stats: SensorStats,
        batch: int = BATCH,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.spool = spool
        self.stats = stats
        self.batch = batch
        self.client = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=10.0,
            transport=transport,
        )
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._backoff = BACKOFF_MIN_S
        self._thread = threading.Thread(target=self._run, name="mamori-sender", daemon=True)

    def start(self) -> ServerSink:
        self._thread.start()
        return self

    def emit(self, alerts: Iterable[Alert]) -> None:
        self.spool.append(dumps(a) for a in alerts)

    # -- sender thread --------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.send_pending():
                self._stop.wait(self._backoff)
                self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)
                continue
            self._backoff = BACKOFF_MIN_S
            self._wake.wait(self.spool.segment_age_s)
            self._wake.clear()

    def send_pending(self) -> bool:
        """Send every sealed segment (sealing an old-enough open one); False on a failure."""
        self.spool.seal()
        return all(self._send_segment(segment) for segment in self.spool.sealed())

    def _send_segment(self, segment: Path) -> bool:
        try:
            items, corrupt = self.spool.read(segment)
        except FileNotFoundError:
            return True  # dropped by the spool's size cap meanwhile (counted there)
        finally:
            self.stats.spool_dropped = self.spool.dropped_lines
        self.stats.spool_corrupt += corrupt
        for start in range(0, len(items), self.batch):
            if not self._post(items[start : start + self.batch]):
                return False
        self.spool.delete(segment)
        return True

    def _post(self, items: list[dict[str, Any]]) -> bool:
        try:
            resp = self.client.post("/api/v1/alerts:batch", json={"alerts": items})
        except httpx.HTTPError as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
            return False
        if resp.status_code == 200:
            self.stats.sent += len(items)
            self.stats.rejected += int(resp.json().get("rejected", 0))
            return True
        if resp.status_code in (400, 422):
            log.error("server refused a batch (HTTP %s): %s", resp.status_code, resp.text[:500])
            self.stats.rejected += len(items)
            return True  # resending cannot fix it; keeping it would block the spool forever
        self._failed(f"HTTP {resp.status_code}")
        return False

    def _failed(self, why: str) -> None:
        self.stats.send_failures += 1
        if self.stats.send_failures in (1, 10, 100) or self.stats.send_failures % 1000 == 0:
            log.warning("alert upload failed (%s); retrying, alerts stay spooled", why)

    def close(self, drain_s: float = 5.0) -> None:
        """Stop the sender after trying, for up to ``drain_s``, to send what is spooled."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)
        self.spool.close()
        deadline = time.monotonic() + drain_s
        while self.spool.sealed() and time.monotonic() < deadline:
            if not self.send_pending():
                break
        self.client.close()
