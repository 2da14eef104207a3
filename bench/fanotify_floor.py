"""The language floor for bench/drift.py: ``fanotify_floor.c`` in Python. A fanotify exec listener
that does nothing but read events, answer FAN_ALLOW (block) and close the event fds, one thread,
so what it adds per exec over the C one is what Python itself costs a listener here (interpreter
wake-up, ``os.read``, ``struct``, ``os.write``) before any of the sensor's work.

    python bench/fanotify_floor.py detect|block MOUNTPOINT...   (root; stops on SIGTERM)
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import struct
import sys

FAN_CLOEXEC, FAN_NONBLOCK, FAN_CLASS_CONTENT = 0x1, 0x2, 0x4
FAN_MARK_ADD, FAN_MARK_FILESYSTEM = 0x1, 0x100
FAN_OPEN_EXEC, FAN_OPEN_EXEC_PERM, FAN_ALLOW = 0x1000, 0x40000, 0x1
AT_FDCWD = -100
METADATA = struct.Struct("<IBBHQii")  # struct fanotify_event_metadata
RESPONSE = struct.Struct("<iI")  # struct fanotify_response


def main() -> None:
    block = sys.argv[1] == "block"
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fanotify_mark.argtypes = [
        ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p
    ]  # fmt: skip
    flags = FAN_CLOEXEC | FAN_NONBLOCK | (FAN_CLASS_CONTENT if block else 0)
    fd = libc.fanotify_init(flags, os.O_RDONLY | os.O_LARGEFILE | os.O_CLOEXEC)
    if fd < 0:
        sys.exit(f"fanotify_init: {os.strerror(ctypes.get_errno())}")
    mask = FAN_OPEN_EXEC_PERM if block else FAN_OPEN_EXEC
    add = FAN_MARK_ADD | FAN_MARK_FILESYSTEM
    for mount in sys.argv[2:]:
        if libc.fanotify_mark(fd, add, mask, AT_FDCWD, mount.encode()):
            sys.exit(f"fanotify_mark {mount}: {os.strerror(ctypes.get_errno())}")
    stop: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    events = 0
    while not stop:
        try:
            poller.poll(500)
            buf = os.read(fd, 65536)
        except (BlockingIOError, InterruptedError):
            continue
        off = 0
        while off + METADATA.size <= len(buf):
            length, _, _, _, _, efd, _ = METADATA.unpack_from(buf, off)
            off += length or METADATA.size
            if efd >= 0:
                if block:
                    os.write(fd, RESPONSE.pack(efd, FAN_ALLOW))
                os.close(efd)
                events += 1
    print(f"fanotify_floor.py: {events} events", file=sys.stderr)


if __name__ == "__main__":
    main()
