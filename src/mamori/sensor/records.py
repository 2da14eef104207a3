"""What sources hand to the pipeline: raw exec records with the /proc snapshot read early.

A source reads ``/proc/<pid>`` as soon as it learns of an exec, because a short-lived process is
gone a few hundred microseconds later (design 3.3: 0 failures read before answering vs ~10 %
after). Everything else (container metadata, ancestry) is added by the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mamori.core.events import FileInfo, NetworkInfo
from mamori.core.fastinit import fast_init

if TYPE_CHECKING:
    from mamori.drift.detector import DriftDecision


@fast_init
@dataclass(frozen=True, slots=True)
class ProcSnapshot:
    """``/proc/<pid>`` as read right after the exec was seen; every field is best effort."""

    pid: int
    ppid: int | None = None
    comm: str | None = None
    exe: str | None = None
    args: tuple[str, ...] = ()
    cwd: str | None = None
    uid: int | None = None
    loginuid: int | None = None
    tty: int | None = None
    cgroup: str | None = None
    start_ticks: int | None = None
    vpid: int | None = None  # the pid in the process's own pid namespace (NSpid, last value)


@fast_init
@dataclass(frozen=True, slots=True)
class ExecRecord:
    """One exec (or, with ``network`` set, one outbound connect) as a source saw it.

    ``path`` is the exec'd file as the source names it (fanotify: the opened inode's path in the
    container; tracefs: the execve argument). ``container_id`` is set when the source knows it
    without /proc (fanotify: the overlay superblock's device names the container).
    A connect record carries the connection in ``network``, an open record the file in
    ``file``; ``path`` is then empty and the snapshot is of a running process (no exec race).
    """

    time_ns: int
    pid: int
    path: str
    source: str
    proc: ProcSnapshot
    container_id: str | None = None
    dev: int | None = None
    ino: int | None = None
    network: NetworkInfo | None = None
    # Set by the fanotify source when drift detection runs: the decision made before answering,
    # and the exe's stat facts Falco's proc.exe_ino* / is_exe_* fields show.
    drift: DriftDecision | None = None
    exe_flags: Mapping[str, bool] | None = None
    ctime_ns: int | None = None
    mtime_ns: int | None = None
    # Added for the eBPF observer: an open of a watched file (``file``; ``raw_path`` as the
    # caller passed it), a syscall result known at the source (``result``: "SUCCESS",
    # "ENETUNREACH"), and ``decision_only``: an exec another source already reported as an
    # event (a direct ld.so exec under fanotify) that only carries a drift decision.
    file: FileInfo | None = None
    raw_path: str | None = None
    result: str | None = None
    decision_only: bool = False
