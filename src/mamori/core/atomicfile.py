"""Replace a small file atomically: readers see the old content or the new, never half."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str, *, durable: bool = False, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory.

    Each call has a temporary file of its own, so writers in two threads or processes never
    rename each other's file (with one fixed ``.tmp`` name, the slower writer's rename failed:
    a sensor stopping while its housekeeping wrote the drift state). The last rename wins.
    ``durable``: fsync before the rename, for state that must survive a power loss.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp makes it 0600; readers such as the web UI need more
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
