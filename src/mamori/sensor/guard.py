"""The guard process: kills a stopped sensor so the kernel allows what it held (design 3.3).

A sensor in block mode holds every exec on its marked filesystems until it answers. The kernel
fails open when the fanotify group is closed (process death) but not while the process is
stopped (SIGSTOP, a debugger, a frozen cgroup): execs hang. The guard is a child forked before
any thread exists; the sensor writes a heartbeat byte every 100 ms, and after ``silence_s``
without one the guard SIGKILLs it. The guard exits when the pipe closes (the sensor is gone).

The guard never execs: it is a forked copy of the interpreter running this loop only.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading

HEARTBEAT_S = 0.1
SILENCE_S = 1.0


class Guard:
    def __init__(self, silence_s: float = SILENCE_S) -> None:
        self.silence_s = silence_s
        self.pid: int | None = None
        self._w: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Fork the guard (call before the sensor starts any thread), then beat."""
        r, w = os.pipe2(os.O_CLOEXEC)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the guard
            os.close(w)
            code = 0
            try:
                _watch(r, parent, self.silence_s)
            except BaseException:
                code = 1
            os._exit(code)
        os.close(r)
        self.pid, self._w = pid, w
        self._thread = threading.Thread(target=self._beat, name="mamori-guard-beat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            if self._w is None:
                return
            with contextlib.suppress(OSError):
                os.write(self._w, b".")

    def stop(self) -> None:
        """Close the pipe (the guard exits) and reap it."""
        self._stop.set()
        if self._w is not None:
            os.close(self._w)
            self._w = None
        if self.pid is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = None


def _watch(fd: int, parent: int, silence_s: float) -> None:
    # The guard ignores the terminal's SIGINT/SIGTERM: the sensor's own shutdown closes the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        if not poller.poll(silence_s * 1000):
            with contextlib.suppress(ProcessLookupError):
                os.kill(parent, signal.SIGKILL)  # the kernel then allows every pending exec
            return
        if not os.read(fd, 4096):
            return  # EOF: the sensor closed the pipe or died
