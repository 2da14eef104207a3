"""The audit webhook backend: validate an ``EventList``, journal it, hand it to the worker.

``accept`` returns once the batch is on disk; evaluation and storage happen in the worker, so
the API server (which blocks its audit buffer on the webhook) gets its answer fast.
"""

from __future__ import annotations

import re
from pathlib import Path

from mamori.audit.events import AuditFormatError, parse_event_list
from mamori.audit.journal import Journal
from mamori.audit.worker import Batch, Commit, Detect, JournalWorker, Sink

_CLUSTER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def check_cluster(name: str | None) -> str | None:
    if name is None or name == "":
        return None
    if not _CLUSTER.match(name):
        raise AuditFormatError(
            "cluster: 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


class WebhookReceiver:
    """Journal + worker. ``start`` before the first ``accept``; ``stop`` at shutdown."""

    def __init__(
        self, journal_dir: Path, detect: Detect, sink: Sink, commit: Commit | None = None
    ) -> None:
        self.journal = Journal(journal_dir)
        self.worker = JournalWorker(self.journal, detect, sink, commit=commit)

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.worker.stop(timeout)

    def accept(self, body: bytes, cluster: str | None = None) -> int:
        """Validate and journal one webhook body; return the number of events accepted.

        Raise ``AuditFormatError`` (nothing journaled) when the body is not an EventList.
        """
        cluster = check_cluster(cluster)
        items = parse_event_list(body)
        if items:
            path = self.journal.append(body, cluster)
            self.worker.submit(Batch(path, cluster, items))
        return len(items)
