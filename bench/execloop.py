"""The exec loop the sensor and drift benchmarks time: ``/bin/true`` n times in a container.

Timed inside the container, from /proc/uptime before and after the loop (10 ms resolution:
5 us per exec over 2,000 execs), not around ``docker exec``: its own start-up (tens of ms,
varying from call to call) swung the per-exec figures by up to ±150 us a round here.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.sensor.conftest import docker


def loop_us(cid: str, n: int, cmd: str = "/bin/true") -> float:
    """Wall time per exec of ``n`` runs of ``cmd`` in container ``cid``, in microseconds."""
    script = (
        "read a _ < /proc/uptime; "
        f"for i in $(seq {n}); do {cmd}; done; "
        "read b _ < /proc/uptime; echo $a $b"
    )
    out = docker("exec", cid, "sh", "-c", script, timeout=900)
    start, end = (float(x) for x in out.split())
    return (end - start) / n * 1e6
