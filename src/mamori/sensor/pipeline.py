"""sources -> queue -> enrichment -> detectors -> sinks, on threads.

One reader thread per source (it blocks in the kernel and snapshots /proc right away); one worker
drains the queue in batches, so sinks see many alerts per call. One bad record, detector or sink
never stops the pipeline: the failure is counted and logged (rate-limited), the loop goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from mamori.core.events import Event
from mamori.core.findings import Alert
from mamori.core.plugins import AlertSink, Detector
from mamori.core.simulation import is_simulated, mark_simulated
from mamori.sensor.enrich import Enricher
from mamori.sensor.records import ExecRecord
from mamori.sensor.response import Responder
from mamori.sensor.sources.base import ExecSource
from mamori.sensor.stats import SensorStats

log = logging.getLogger(__name__)
QUEUE_SIZE = 1 << 17
BATCH = 1024
HOUSEKEEPING_S = 5.0
# A raced exec record (snapshot taken before the exec completed) waits up to this long for
# the new program's name and argv; polled every DEFER_POLL_S. Long-lived processes (an
# interactive shell) always complete in time; short-lived ones are gone and go at once.
DEFER_NS = 50_000_000
# After the first record of a batch the worker waits this long for more: one wakeup (and one
# GIL handoff from the reader) per few ms instead of per exec. Alerts are this much later.
COALESCE_S = 0.005
DEFER_POLL_S = 0.002


class EventSink(Protocol):
    """Receives every enriched event of a batch (``--record``)."""

    def record(self, events: Sequence[Event]) -> None: ...


def _rate_limited(count: int) -> bool:
    return count in (1, 10, 100) or count % 10000 == 0


class Pipeline:
    def __init__(
        self,
        sources: Sequence[ExecSource],
        enricher: Enricher,
        detectors: Sequence[Detector],
        sinks: Sequence[AlertSink],
        stats: SensorStats | None = None,
        queue_size: int = QUEUE_SIZE,
        housekeeping: Callable[[], None] | None = None,
        event_sinks: Sequence[EventSink] = (),
        skip: Callable[[ExecRecord], bool] | None = None,
        responder: Responder | None = None,
    ) -> None:
        self.sources = list(sources)
        self.enricher = enricher
        self.detectors = list(detectors)
        self.sinks = list(sinks)
        self.event_sinks = list(event_sinks)
        # Records no detector can use (drift-only sensors: image execs) are counted, not
        # enriched: no deferral, no /proc re-reads.
        self.skip = skip
        self.skipped = 0
        self.responder = responder
        self.stats = stats or SensorStats()
        self.housekeeping = housekeeping
        self._last_housekeeping = time.monotonic()
        # Readers append, the worker pops: deque operations are atomic, with no lock or
        # notification per record (queue.Queue took ~3 us a record in put + get here); the
        # event wakes a waiting worker once per batch.
        self._queue: deque[ExecRecord | None] = deque()
        self._queue_size = queue_size
        self._has_work = threading.Event()
        self._readers: list[threading.Thread] = []
        self._worker = threading.Thread(target=self._work, name="mamori-pipeline", daemon=True)
        self._stopping = False
        self._deferred: list[ExecRecord] = []

    def start(self) -> None:
        for source in self.sources:
            t = threading.Thread(
                target=self._read, args=(source,), name=f"mamori-{source.name}", daemon=True
            )
            t.start()
            self._readers.append(t)
        self._worker.start()

    def _read(self, source: ExecSource) -> None:
        q, size, has_work = self._queue, self._queue_size, self._has_work
        try:
            for record in source.records():
                self.stats.records += 1
                if len(q) >= size:
                    self.stats.dropped_queue += 1
                    continue
                q.append(record)
                if not has_work.is_set():
                    has_work.set()
        except Exception:
            if not self._stopping:
                log.exception("source %s stopped", source.name)

    def _work(self) -> None:
        q, has_work = self._queue, self._has_work
        while True:
            if not q:
                woke = has_work.wait(DEFER_POLL_S if self._deferred else 1.0)
                # Cleared before draining: a record appended from here on sets it again.
                has_work.clear()
                if not q:  # timed out, or set for records an earlier drain already took
                    if self._deferred:
                        self._process([])
                    elif not woke:
                        self._housekeep()
                    continue
                if q[0] is not None and len(q) < BATCH:
                    time.sleep(COALESCE_S)
            batch: list[ExecRecord | None] = []
            while q and len(batch) < BATCH:
                batch.append(q.popleft())
            done = None in batch
            self._process([r for r in batch if r is not None], final=done)
            if time.monotonic() - self._last_housekeeping > HOUSEKEEPING_S:
                self._housekeep()
            if done:
                return

    def _housekeep(self) -> None:
        """Runs on the worker thread (the state it touches is the worker's), every few seconds."""
        self._last_housekeeping = time.monotonic()
        if self.housekeeping is not None:
            try:
                self.housekeeping()
            except Exception:
                log.exception("housekeeping failed")

    def _ready(self, records: list[ExecRecord], final: bool) -> list[ExecRecord]:
        """Records to process now; raced execs still in progress are held back (deferred)."""
        if self._deferred:
            records = [*self._deferred, *records]
            self._deferred = []
        if final:
            return records
        ready: list[ExecRecord] = []
        now = time.time_ns()
        completed, state = self.enricher.completed, self.enricher.exec_state
        awaiting, noted = self.enricher.awaiting_note, self.enricher.has_note
        for r in records:
            if now - r.time_ns > DEFER_NS:
                ready.append(r)
            elif awaiting(r) and state(r) != "gone":
                self._deferred.append(r)  # the kernel's note of the exec is not written yet
            elif noted(r) or completed(r) or state(r) != "running":
                # The kernel's note tells what /proc would (no read needed), or /proc did.
                ready.append(r)
            else:
                self._deferred.append(r)
        return ready

    def _process(self, records: list[ExecRecord], final: bool = False) -> None:
        if self.skip is not None and records:
            kept = [r for r in records if not self.skip(r)]
            self.skipped += len(records) - len(kept)
            records = kept
        records = self._ready(records, final)
        alerts: list[Alert] = []
        # Events are kept only when something records them (no per-event cost otherwise).
        events: list[Event] | None = [] if self.event_sinks else None
        for record in records:
            try:
                event = self.enricher.event(record)
                self.stats.events += 1
                if events is not None:
                    events.append(event)
                found: list[Alert] = []
                for detector in self.detectors:
                    found.extend(detector.detect(event))
                if found and is_simulated(event):
                    found = [mark_simulated(a) for a in found]  # whatever built them
                if found and self.responder is not None:
                    ticks = record.proc.start_ticks
                    cid = event.container.id if event.container else None
                    found = [self.responder.apply(a, record.pid, ticks, cid) for a in found]
                alerts.extend(found)
            except Exception:
                self.stats.errors += 1
                if _rate_limited(self.stats.errors):
                    log.exception("dropped exec record of pid %s", record.pid)
        if events:
            for event_sink in self.event_sinks:
                try:
                    event_sink.record(events)
                except Exception:
                    self.stats.sink_errors += 1
                    if _rate_limited(self.stats.sink_errors):
                        log.exception("event sink %s failed", type(event_sink).__name__)
        if alerts:
            self.stats.alerts += len(alerts)
            self._emit(alerts)

    def _emit(self, alerts: list[Alert]) -> None:
        for sink in self.sinks:
            try:
                sink.emit(alerts)
            except Exception:
                self.stats.sink_errors += 1
                if _rate_limited(self.stats.sink_errors):
                    log.exception("sink %s failed", type(sink).__name__)

    def process_now(self, records: list[ExecRecord]) -> None:
        """Run records through synchronously (replay, tests)."""
        self._process(records, final=True)

    def stop(self, timeout: float = 10.0) -> None:
        """Close sources, drain what was queued, then close sinks."""
        self._stopping = True
        for source in self.sources:
            source.close()
        for t in self._readers:
            t.join(timeout)
        self._queue.append(None)
        self._has_work.set()
        self._worker.join(timeout)
        for sink in [*self.sinks, *self.event_sinks]:
            close = getattr(sink, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("closing sink %s failed", type(sink).__name__)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once the queue is empty (tests and --duration runs)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._queue and not self._deferred:
                return True
            time.sleep(0.01)
        return False
