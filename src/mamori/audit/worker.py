"""The background worker: journal batches -> events -> alerts -> the sink, in arrival order.

A batch leaves the journal only after the sink took its alerts (and the stateful detectors'
state including the batch was saved, through ``commit``). When the sink fails (the
database is down), the worker keeps the batch and retries it with a growing pause; batches
behind it wait, in order.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mamori.audit.events import AuditFormatError, parse_event_list, to_event
from mamori.audit.journal import Journal
from mamori.core.events import Event
from mamori.core.findings import Alert

log = logging.getLogger("mamori.audit")

Detect = Callable[[Sequence[Event]], list[Alert]]
Sink = Callable[[list[Alert]], object]
Commit = Callable[[], object]


@dataclass(frozen=True, slots=True)
class Batch:
    path: Path
    cluster: str | None
    items: Sequence[Mapping[str, Any]] | None  # None: read it from the journal file


@dataclass(slots=True)
class WorkerStats:
    batches: int = 0
    events: int = 0
    alerts: int = 0
    sink_failures: int = 0
    quarantined: int = 0


def evaluate(
    items: Sequence[Mapping[str, Any]], cluster: str | None, detect: Detect
) -> list[Alert]:
    return detect([to_event(raw, cluster) for raw in items])


class JournalWorker:
    def __init__(
        self,
        journal: Journal,
        detect: Detect,
        sink: Sink,
        *,
        commit: Commit | None = None,
        retry_s: float = 0.5,
        max_retry_s: float = 30.0,
    ) -> None:
        self.journal = journal
        self.detect = detect
        self.sink = sink
        self.commit = commit  # saves detector state; called once a batch's alerts are stored
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self.stats = WorkerStats()
        self._queue: queue.Queue[Batch | None] = queue.Queue()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._open = 0  # batches submitted and not yet finished
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Queue what an earlier run left in the journal, then start the thread."""
        for path in self.journal.pending():
            self.submit(Batch(path, None, None))
        self._thread = threading.Thread(target=self._run, name="mamori-audit", daemon=True)
        self._thread.start()

    def submit(self, batch: Batch) -> None:
        with self._idle:
            self._open += 1
        self._queue.put(batch)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in hand and stop; what is left stays in the journal."""
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every submitted batch is processed; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._open == 0, timeout)

    @property
    def backlog(self) -> int:
        return self._open

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._queue.get()
            if batch is None:
                break
            if self._process(batch):
                with self._idle:
                    self._open -= 1
                    self._idle.notify_all()

    def _process(self, batch: Batch) -> bool:
        """Evaluate and store one batch, retrying the sink; False if stopped first."""
        with self.journal.claim(batch.path) as mine:
            if not mine:
                return True  # done already, or another server process has it
            alerts = self._alerts(batch)
            if alerts is None:
                return True
            delay = self.retry_s
            while not self._store(alerts):
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, self.max_retry_s)
            self._commit()
            self.journal.remove(batch.path)
        return True

    def _commit(self) -> None:
        if self.commit is None:
            return
        try:
            self.commit()
        except OSError:  # the alerts are stored; only the state of this batch may be lost
            log.exception("audit: saving the detector state failed")

    def _alerts(self, batch: Batch) -> list[Alert] | None:
        items, cluster = batch.items, batch.cluster
        try:
            if items is None:
                entry = self.journal.read(batch.path)
                items, cluster = parse_event_list(entry.body), entry.cluster
            alerts = evaluate(items, cluster, self.detect)
        except (AuditFormatError, ValueError, OSError) as exc:
            self.stats.quarantined += 1
            self.journal.quarantine(batch.path, str(exc))
            return None
        self.stats.batches += 1
        self.stats.events += len(items)
        return alerts

    def _store(self, alerts: list[Alert]) -> bool:
        if not alerts:
            return True
        try:
            self.sink(alerts)
        except Exception:  # the sink is a database or a network: any failure means retry
            self.stats.sink_failures += 1
            log.exception("audit: storing %d alerts failed; will retry", len(alerts))
            return False
        self.stats.alerts += len(alerts)
        return True
