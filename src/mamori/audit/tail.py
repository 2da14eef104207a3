"""Follow an audit log file (JSON lines) across rotations, resuming where it stopped.

The state file holds the file's inode, the offset after the last line consumed, and that
line's length and SHA-256. At start the tailer finds the file with that inode (the live file, or
a rotated one beside it such as ``audit.log.1`` or ``audit-2025-03-01T12-00-00.000.log``),
checks the hash of the line before the offset, and carries on from there; a rotated file is
read to its end before the live file is opened from its start. ``commit`` writes the state
atomically (temporary file, fsync, rename) after a batch has been handled, so a crash
replays at most that batch (alert ids are stable: the store keeps one copy).

Rotation by rename is followed; a file truncated in place (copytruncate) is read again from
its start. Only complete lines (ending in a newline) are consumed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from mamori.core.atomicfile import write_atomic

log = logging.getLogger("mamori.audit")
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class TailState:
    inode: int
    offset: int
    line_len: int
    line_sha256: str

    @classmethod
    def load(cls, path: Path) -> TailState | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: data[k] for k in ("inode", "offset", "line_len", "line_sha256")})
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("audit tail: ignoring unreadable state file %s (%s)", path, exc)
            return None

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(asdict(self)), durable=True)


@dataclass(frozen=True, slots=True)
class Line:
    data: bytes
    where: str  # file@offset, for error messages


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Tailer:
    def __init__(self, path: Path, state_file: Path, *, batch_lines: int = 1000) -> None:
        self.path = path
        self.state_file = state_file
        self.batch_lines = batch_lines
        self._fd: int | None = None
        self._name = path  # the name the open file had when opened
        self._inode = 0
        self._offset = 0  # after the last line handed out
        self._buf = b""
        self._last = b""
        self._draining = False  # reading a rotated file to its end

    # opening ---------------------------------------------------------------------------

    def open(self) -> None:
        """Open where the state file says, or the live file from its start."""
        state = TailState.load(self.state_file)
        if state is not None and self._resume(state):
            return
        self._open_live(0)

    def _resume(self, state: TailState) -> bool:
        found = self._find_inode(state.inode)
        if found is None:
            log.warning("audit tail: the file last read (inode %d) is gone; lines written to "
                        "it after the last commit are lost", state.inode)  # fmt: skip
            return False
        fd = os.open(found, os.O_RDONLY)
        start = state.offset - state.line_len
        ok = start >= 0 and _sha(os.pread(fd, state.line_len, start)) == state.line_sha256
        if not ok and state.offset > 0:
            os.close(fd)
            log.warning("audit tail: %s changed under the saved offset; reading it again from "
                        "its start", found)  # fmt: skip
            return False
        self._adopt(fd, found, state.offset)
        self._draining = found != self.path
        return True

    def _find_inode(self, inode: int) -> Path | None:
        candidates = [self.path, *sorted(self.path.parent.iterdir())]
        for p in candidates:
            try:
                if p.is_file() and p.stat().st_ino == inode:
                    return p
            except OSError:
                continue
        return None

    def _open_live(self, offset: int) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        self._adopt(fd, self.path, offset)
        self._draining = False
        return True

    def _adopt(self, fd: int, name: Path, offset: int) -> None:
        self.close()
        self._fd, self._name, self._inode = fd, name, os.fstat(fd).st_ino
        self._offset, self._buf, self._last = offset, b"", b""
        os.lseek(fd, offset, os.SEEK_SET)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # reading ---------------------------------------------------------------------------

    def read_batch(self) -> list[Line]:
        """Up to ``batch_lines`` complete lines from one file; [] when there is nothing new."""
        if self._fd is None and not self._open_live(0):
            return []
        lines = self._take()
        while len(lines) < self.batch_lines:
            chunk = os.read(self._fd, _CHUNK) if self._fd is not None else b""
            if not chunk:
                break
            self._buf += chunk
            lines += self._take(self.batch_lines - len(lines))
        if not lines:
            self._check_rotation()
        return lines

    def _take(self, limit: int | None = None) -> list[Line]:
        out: list[Line] = []
        limit = self.batch_lines if limit is None else limit
        while len(out) < limit:
            end = self._buf.find(b"\n")
            if end < 0:
                break
            data, self._buf = self._buf[: end + 1], self._buf[end + 1 :]
            out.append(Line(data, f"{self._name}@{self._offset}"))
            self._offset += len(data)
            self._last = data
        return out

    def _check_rotation(self) -> None:
        """At the end of the open file: move on if the live file is another one."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return  # rotated, the new file not created yet
        if st.st_ino == self._inode and not self._draining:
            if st.st_size < self._offset:
                log.warning("audit tail: %s was truncated; reading from its start", self.path)
                self._open_live(0)
            return
        if self._buf:
            log.warning("audit tail: %s ended without a newline; %d bytes ignored",
                        self._name, len(self._buf))  # fmt: skip
        self._open_live(0)

    # committing ------------------------------------------------------------------------

    def commit(self) -> None:
        """Persist the position after the lines handed out so far."""
        if self._fd is None or not self._last:
            return
        TailState(self._inode, self._offset, len(self._last), _sha(self._last)).save(
            self.state_file
        )


def follow(
    tailer: Tailer,
    handle: Callable[[list[Line]], None],
    stopped: Callable[[], bool],
    poll_s: float = 0.2,
) -> None:
    """Hand each batch of new lines to ``handle``, then commit; until ``stopped()``.

    When ``handle`` raises, nothing is committed: the batch is read again at the next start.
    """
    tailer.open()
    try:
        while not stopped():
            lines = tailer.read_batch()
            if not lines:
                time.sleep(poll_s)
                continue
            handle(lines)
            tailer.commit()
    finally:
        tailer.close()
