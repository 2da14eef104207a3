"""Where a blocked exec waits in block mode, from the kernel's scheduler tracepoints.

For each first-seen exec (``/opt/first/N/true``, as bench/drift.py) answered by a fanotify
permission listener, a private tracefs instance records ``sched_waking`` and ``sched_switch``;
per exec this prints the percentiles of:

- listener wake-up: the exec's event wakes the listener thread -> the listener is on a CPU;
- listener to answer: the listener on a CPU -> it wakes the exec (the answer's write);
- exec's wait for a CPU: the answer -> the exec'ing task runs again;
- blocked in all: the exec'ing task switched out -> switched back in;
- how often the listener ran on the exec'ing task's CPU.

Listeners, one after the other on the same container: ``mamori sensor --block`` (drift only,
fanotify source, no ignore marks: every exec is an event, image files proven from the fstat),
``bench/fanotify_floor.py`` and ``bench/fanotify_floor.c`` (read, answer, close). What the
exec waits after the answer is the listener's own work after its write when the scheduler
put both on one CPU (it keeps a task and the thread it wakes together).

    PYTHONPATH=src python bench/blockwait.py [--execs 600] [--listeners sensor,python,c]

Needs root, dockerd, busybox-static and gcc (as the other exec benchmarks). Prints figures only.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from execloop import FIRST_SEEN, bench_container, image_tar, loop  # noqa: E402
from tests.sensor.conftest import docker  # noqa: E402

from mamori.sensor.sources.tracefs import find_tracefs  # noqa: E402

EVENTS = ("sched/sched_waking", "sched/sched_switch")
LINE = re.compile(r"^\s*.+?-(\d+)\s+\[(\d+)\].*?\s([\d.]+): (sched_waking|sched_switch): (.*)$")
FIELD = re.compile(r"(\w+)=(\S+)")


@dataclass
class Wait:
    """One exec's blocked interval, timestamps in microseconds."""

    woke_listener: float
    cpu: int  # the exec'ing task's CPU when it woke the listener
    listener: int  # the listener thread it woke
    switched_out: float = 0.0
    listener_on: float = 0.0
    listener_cpu: int = -1
    answered: float = 0.0
    back_on: float = 0.0


def records(text: str) -> Iterator[tuple[float, int, int, str, dict[str, str]]]:
    """(time us, current tid, cpu, event, fields) per trace line, in time order."""
    out = []
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            out.append((float(m[3]) * 1e6, int(m[1]), int(m[2]), m[4], dict(FIELD.findall(m[5]))))
    out.sort(key=lambda r: r[0])
    return iter(out)


def waits(text: str, listener_tids: set[int]) -> list[Wait]:
    """Each exec's wait: it wakes a listener thread, blocks, is woken by one, runs again."""
    open_: dict[int, Wait] = {}
    done: list[Wait] = []
    for t, cur, cpu, name, f in records(text):
        if name == "sched_waking":
            pid = int(f["pid"])
            if pid in listener_tids and cur not in listener_tids:
                open_[cur] = Wait(t, cpu, pid)
            elif cur in listener_tids and pid in open_ and open_[pid].switched_out:
                open_[pid].answered = t
            continue
        prev, nxt = int(f["prev_pid"]), int(f["next_pid"])
        w = open_.get(prev)
        if w is not None and not w.switched_out:
            w.switched_out = t
        for w in open_.values():
            if not w.listener_on and nxt == w.listener:
                w.listener_on, w.listener_cpu = t, cpu
        w = open_.get(nxt)
        if w is not None and w.answered:
            del open_[nxt]
            w.back_on = t
            if w.listener_on:
                done.append(w)
    return done


def pct(values: list[float]) -> str:
    v = sorted(values)
    if not v:
        return "no samples"
    at = [v[min(len(v) - 1, int(q * len(v)))] for q in (0.25, 0.5, 0.9)]
    return "p25 {:6.1f}  p50 {:6.1f}  p90 {:6.1f} us".format(*at)


def traced_loop(cid: str, execs: int, timer: bool) -> str:
    """The loop with the scheduler events on, in a tracefs instance of our own."""
    inst = Path(find_tracefs()) / "instances" / f"mamori-blockwait-{os.getpid()}"
    inst.mkdir()
    try:
        (inst / "buffer_size_kb").write_text("16384")
        for e in EVENTS:
            (inst / "events" / e / "enable").write_text("1")
        (inst / "tracing_on").write_text("1")
        loop(cid, execs, timer, FIRST_SEEN)
        (inst / "tracing_on").write_text("0")
        return (inst / "trace").read_text()
    finally:
        for e in EVENTS:
            (inst / "events" / e / "enable").write_text("0")
        inst.rmdir()


def listener_argv(which: str, tmp: Path, merged: str) -> list[str]:
    here = Path(__file__).resolve().parent
    if which == "c":
        binary = tmp / "fanotify_floor"
        subprocess.run(["cc", "-O2", "-o", str(binary), str(here / "fanotify_floor.c")], check=True)
        return [str(binary), "block", merged]
    if which == "python":
        return [sys.executable, str(here / "fanotify_floor.py"), "block", merged]
    policy = tmp / "policy.yaml"
    policy.write_text("rules: []\ndefault_rule: {action: alert}\n")
    return [sys.executable, "-m", "mamori", "sensor", "--source", "fanotify", "--no-connect",
            "--output", f"file:{tmp / 'alerts.jsonl'}", "--detector", "none",
            "--drift-policy", str(policy), "--no-ignore-marks", "--block"]  # fmt: skip


def measure(which: str, cid: str, tmp: Path, merged: str, execs: int, timer: bool) -> None:
    env = dict(os.environ, MAMORI_LOG_LEVEL="warning", PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen(listener_argv(which, tmp, merged), env=env, stderr=subprocess.PIPE)
    try:
        time.sleep(3.0 if which == "sensor" else 0.5)
        loop(cid, execs, timer, FIRST_SEEN)  # the sensor indexes the layers meanwhile
        tids = {int(t) for t in os.listdir(f"/proc/{proc.pid}/task")}
        text = traced_loop(cid, execs, timer)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    got = waits(text, tids)
    shared = sum(1 for w in got if w.listener_cpu == w.cpu) / max(1, len(got))
    print(f"{which}: {len(got)} of {execs} execs matched; listener on the exec's CPU {shared:.0%}")
    print(f"  listener wake-up      {pct([w.listener_on - w.woke_listener for w in got])}")
    print(f"  listener to answer    {pct([w.answered - w.listener_on for w in got])}")
    print(f"  exec's wait for a CPU {pct([w.back_on - w.answered for w in got])}")
    print(f"  blocked in all        {pct([w.back_on - w.switched_out for w in got])}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--execs", type=int, default=600)
    ap.add_argument("--listeners", default="sensor,python,c")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mamori-blockwait-"))
    image = "local/mamori-bench-blockwait:1"
    tar, timer = image_tar(tmp, first_seen=a.execs)
    cid = bench_container(tar, image)
    try:
        merged = docker("inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", cid)
        loop(cid, 200, timer)  # warm up
        for which in a.listeners.split(","):
            measure(which, cid, tmp, merged, a.execs, timer)
    finally:
        docker("rm", "-f", cid, check=False)
        docker("rmi", "-f", image, check=False)


if __name__ == "__main__":
    main()
