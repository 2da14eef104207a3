"""The webhook journal: every accepted batch is on disk (fsync'd) before the API server hears 200.

One file per batch, ``<time_ns>-<pid>-<n>.batch``: a JSON header line (``{"v": 1, "cluster":
...}``) then the request body exactly as received. A batch is removed only after its alerts are
stored, so a crash at any point loses nothing: at start every ``*.batch`` file is evaluated
again (alert ids are stable, so a batch evaluated twice stores its alerts once). Files are
written under a temporary name and renamed, so a half-written batch (never acknowledged) is
never read; leftovers are removed at start. A batch that cannot be read is renamed
``*.bad`` and kept for inspection.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("mamori.audit")
_SUFFIX = ".batch"


@dataclass(frozen=True, slots=True)
class JournalEntry:
    path: Path
    cluster: str | None
    body: bytes


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count()
        for tmp in directory.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)  # a write cut short: never acknowledged

    def append(self, body: bytes, cluster: str | None) -> Path:
        """Write one batch durably (file and directory fsync'd); return its path."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._counter):08d}{_SUFFIX}"
        final = self.directory / name
        tmp = self.directory / f".{name}.tmp"
        header = json.dumps({"v": 1, "cluster": cluster}).encode() + b"\n"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, header)
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, final)
        self._sync_directory()
        return final

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def pending(self) -> list[Path]:
        """Batches not yet processed, oldest first."""
        return sorted(self.directory.glob(f"*{_SUFFIX}"))

    def read(self, path: Path) -> JournalEntry:
        """Raise ``ValueError`` when the file is not a journal entry."""
        data = path.read_bytes()
        header, sep, body = data.partition(b"\n")
        if not sep:
            raise ValueError(f"{path}: no header line")
        meta = json.loads(header)
        if not isinstance(meta, dict) or meta.get("v") != 1:
            raise ValueError(f"{path}: unknown header {header[:80]!r}")
        cluster = meta.get("cluster")
        return JournalEntry(path, cluster if isinstance(cluster, str) else None, body)

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def quarantine(self, path: Path, reason: str) -> None:
        bad = path.with_suffix(".bad")
        log.error("audit journal: %s cannot be processed (%s); kept as %s", path, reason, bad)
        path.rename(bad)

    @contextmanager
    def claim(self, path: Path) -> Iterator[bool]:
        """Hold an exclusive lock on an entry (several server processes may share a journal);
        yield False when another process holds it or it is gone."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            yield False
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield path.exists()
        finally:
            os.close(fd)
