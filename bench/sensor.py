"""Sensor overhead: added latency per exec (detect mode vs none, interleaved in one run), sensor
CPU per 1,000 execs, RSS, and a 10,000-exec burst that must lose nothing; then the machine's
floor in the same run: what a no-op fanotify listener in C and in Python adds (detect mode).

    PYTHONPATH=src python bench/sensor.py [--execs 1000] [--rounds 8] [--burst 10000]
        [--source auto,fanotify,ebpf]   (auto: what `mamori sensor` runs, fanotify + the eBPF
        observer's exec notes; the others alone; ebpf needs `mamori sensor-build-bpf`)

Needs root, dockerd and busybox-static (as the tests). The sensor runs as a subprocess
(``mamori sensor --output file:...``) so its CPU is its own; the workload is ``/bin/true`` run
n times by ``bench/execloop.c`` (each exec timed; built with gcc -static) in a ``--network none``
busybox container. Prints figures; asserts only the burst count.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from execloop import Loop, bench_container, floors, image_tar, loop, report  # noqa: E402
from tests.sensor.conftest import docker  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class SensorProc:
    def __init__(self, out: Path, detector: str, source: str = "fanotify") -> None:
        env = dict(os.environ, MAMORI_LOG_LEVEL="warning")
        env["PYTHONPATH"] = str(REPO / "src")
        self.out = out
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mamori",
                "sensor",
                "--source",
                source,
                "--output",
                f"file:{out}",
                "--detector",
                detector,
            ],
            env=env,
            stderr=subprocess.PIPE,
        )
        time.sleep(3.0)  # imports, probe, /proc scan, first mount scan
        c0 = cpu_s(self.proc.pid)
        time.sleep(1.0)
        self.idle_cpu = cpu_s(self.proc.pid) - c0  # CPU seconds per idle second

    def stop(self) -> dict[str, object]:
        """SIGTERM; returns the final status line the CLI prints on stderr."""
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=120)
        for line in reversed(err.decode(errors="replace").strip().splitlines()):
            try:
                status: dict[str, object] = json.loads(line)
                return status
            except ValueError:
                continue
        print(f"  (no status line from the sensor, exit {self.proc.returncode}; stderr tail:")
        print("   " + err.decode(errors="replace")[-1500:].replace("\n", "\n   ") + ")")
        return {}


def count_true(out: Path, cid: str) -> int:
    n = 0
    with open(out) as f:
        for line in f:
            fields = json.loads(line)["fields"]
            if fields.get("container.full_id") == cid and fields["proc.exepath"] == "/bin/true":
                n += 1
    return n


def rounds(
    cid: str, tmp: Path, detector: str, execs: int, n: int, source: str, timer: bool
) -> dict[str, float]:
    """n rounds, each a loop with the sensor between two loops without it (the previous
    round's second baseline is the next one's first): a round's added figure is the loop with
    the sensor minus the mean of its two neighbours, so a machine that slows down or speeds up
    over seconds (other tenants of this VM) cancels out. The median over rounds is reported."""
    base: list[Loop] = [loop(cid, execs, timer)]
    on: list[Loop] = []
    cpu: list[float] = []
    idle: list[float] = []
    rss = 0.0
    for r in range(n):
        sensor = SensorProc(tmp / f"{source}-{detector}{r}.jsonl", detector, source)
        c0 = cpu_s(sensor.proc.pid)
        on.append(loop(cid, execs, timer))
        time.sleep(1.0)  # let it finish the backlog: its CPU counts
        cpu.append((cpu_s(sensor.proc.pid) - c0) / execs * 1e6)
        rss = max(rss, rss_mb(sensor.proc.pid))
        idle.append(sensor.idle_cpu)
        sensor.stop()
        base.append(loop(cid, execs, timer))
    print(
        f"source={source} detector={detector}: {execs} execs x {n} rounds (/bin/true), "
        "each between two baselines"
    )
    pairs = list(itertools.pairwise(base))
    added = report(pairs, on, "design target <= 20 us median; prototype +27.7 us")
    print(
        f"  sensor CPU      {statistics.median(cpu):8.1f} us/exec = "
        f"{statistics.median(cpu):.0f} ms per 1,000 execs"
    )
    print(f"  sensor RSS      {rss:8.1f} MB (max); idle CPU {max(idle) * 1000:.1f} ms/s")
    return {"added_us": added, "cpu_us": statistics.median(cpu), "rss_mb": rss}


def burst(cid: str, tmp: Path, n: int, source: str, timer: bool) -> int:
    """Counted through the exec-log detector: one alert per exec, so a miss shows."""
    out = tmp / f"burst-{source}.jsonl"
    sensor = SensorProc(out, "exec-log", source)
    c0 = cpu_s(sensor.proc.pid)
    t = time.perf_counter()
    loop(cid, n, timer)
    took = time.perf_counter() - t
    time.sleep(2)
    used = cpu_s(sensor.proc.pid) - c0
    status = sensor.stop()
    seen = count_true(out, cid)
    print(
        f"burst ({source}): {n} execs in {took:.2f} s; sensor CPU {used:.2f} s; "
        f"alerts for /bin/true {seen}, missed {n - seen}; final stats {status.get('stats')}"
    )
    return n - seen


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--execs", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--burst", type=int, default=10000)
    ap.add_argument(
        "--detectors", default="none,rules,exec-log", help="comma-separated --detector values"
    )
    ap.add_argument("--source", default="auto", help="comma-separated: auto, fanotify, ebpf")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mamori-bench-"))
    image = "local/mamori-bench-sensor:1"
    tar, timer = image_tar(tmp)
    cid = bench_container(tar, image)
    try:
        loop(cid, 200, timer)  # warm up
        missed = 0
        for source in a.source.split(","):
            for detector in a.detectors.split(","):
                rounds(cid, tmp, detector, a.execs, a.rounds, source, timer)
            missed += burst(cid, tmp, a.burst, source, timer)
        # What any detect-mode listener adds here, for the figures above to be read against.
        floors(cid, tmp, a.execs, a.rounds, timer, [("C", "detect"), ("Python", "detect")])
    finally:
        docker("rm", "-f", cid, check=False)
        docker("rmi", "-f", image, check=False)
    if missed:
        sys.exit(1)


if __name__ == "__main__":
    main()
