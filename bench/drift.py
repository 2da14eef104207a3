"""Drift overhead, all against a no-sensor baseline in one run (rounds interleaved):

- added latency per exec in detect and block modes, with ignore marks (cached image binaries:
  the kernel skips them) and without (every exec decided in Python: stat proof, cached lookup);
- "block" without ignore marks stands for first-seen files: each exec of a loop names another
  hard link to /bin/true (``/opt/first/N/true``, with the C timer), so each goes the whole way
  (event, fstat, readlink, lower-layer lookup and lstat of a new path, stat proof, answer);
- the machine's floor: what a no-op fanotify listener in C (``bench/fanotify_floor.c``) adds
  in detect and block mode, and one in Python (``bench/fanotify_floor.py``) in block mode,
  same container and loop;
- drift verdict latency p50/p99 (the sensor's own measurement, from its state file);
- 10,000-exec bursts (detect, block) with every exec decided, then 20 drift execs blocked.

    PYTHONPATH=src python bench/drift.py [--execs 1000] [--rounds 3] [--burst 10000]
        [--source auto|fanotify]   (auto: fanotify + the eBPF observer, as `mamori sensor`)

Needs root, dockerd and busybox-static (as the tests). The sensor is a subprocess
(``mamori sensor --detector none``). Prints figures; never asserts timings (exit 1 only when the
burst misses an exec or a drift exec is not blocked).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from execloop import FIRST_SEEN, Loop, bench_container, floors, image_tar, loop, report  # noqa: E402
from tests.sensor.conftest import docker  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
BLOCK_ALL = "rules: []\ndefault_rule: {action: block}\n"
ALERT_ALL = "rules: []\ndefault_rule: {action: alert}\n"


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


TIMER = False  # bench/execloop.c in the image (main() sets it)
CMD = "/bin/true"  # what the loops exec; main() sets FIRST_SEEN with the timer
SOURCE = "auto"  # --source: what `mamori sensor` runs (fanotify + the eBPF observer's notes)


class SensorProc:
    def __init__(self, tmp: Path, name: str, block: bool, marks: bool, policy: str) -> None:
        env = dict(os.environ, MAMORI_LOG_LEVEL="warning", PYTHONPATH=str(REPO / "src"))
        self.state = tmp / f"{name}.state.json"
        self.out = tmp / f"{name}.jsonl"
        pol = tmp / f"{name}.policy.yaml"
        pol.write_text(policy)
        args = [sys.executable, "-m", "mamori", "sensor", "--source", SOURCE, "--no-connect"]
        args += [
            "--output",
            f"file:{self.out}",
            "--detector",
            "none",
        ]
        args += ["--drift-policy", str(pol), "--drift-state", str(self.state)]
        args += ["--block"] if block else []
        args += ["--ignore-marks"] if marks else ["--no-ignore-marks"]
        self.proc = subprocess.Popen(
            args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        time.sleep(3.0)  # imports, probe, /proc scan, marks

    def stop(self) -> dict[str, object]:
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # by pid: ours; the kernel allows whatever it held
            _, err = self.proc.communicate()
        lines = err.decode().strip().splitlines()
        status: dict[str, object] = json.loads(lines[-1]) if lines else {}
        return status


CONFIGS = (
    ("detect+marks", False, True),
    ("detect", False, False),
    ("block+marks", True, True),
    ("block", True, False),
)


def latency(cid: str, tmp: Path, execs: int, rounds: int) -> None:
    """Each configuration's loop between two loops without a sensor that exec the same files,
    ``rounds`` times over: its added figure per round is its loop minus the mean of its two
    baselines (``execloop.report``). With ignore marks the loop execs /bin/true (a cached image
    binary after its first exec); without, ``CMD`` (first-seen files: overlay gives each hard
    link's path an inode of its own, so an ignore mark would not cover the others either)."""
    pairs: dict[str, list[tuple[Loop, Loop]]] = {name: [] for name, _, _ in CONFIGS}
    on: dict[str, list[Loop]] = {name: [] for name, _, _ in CONFIGS}
    cpu: dict[str, list[float]] = {}
    waits: dict[str, list[int]] = {}  # block mode: the sensor's own answer p50 per round
    for r in range(rounds):
        for name, block, marks in CONFIGS:
            cmd = "/bin/true" if marks else CMD
            before = loop(cid, execs, TIMER, cmd)
            s = SensorProc(tmp, f"{name}{r}", block, marks, ALERT_ALL)
            try:
                c0 = cpu_s(s.proc.pid)
                on[name].append(loop(cid, execs, TIMER, cmd))
                time.sleep(0.5)
                cpu.setdefault(name, []).append((cpu_s(s.proc.pid) - c0) / execs * 1e6)
            finally:
                drift = s.stop().get("drift")
            wait = drift.get("answer_p50_us") if isinstance(drift, dict) else None
            if isinstance(wait, int):
                waits.setdefault(name, []).append(wait)
            pairs[name].append((before, loop(cid, execs, TIMER, cmd)))
    print(f"{execs} execs x {rounds} rounds, each between two baselines (without marks: {CMD})")
    goals = {"detect+marks": "~0", "detect": "<= 20", "block+marks": "~0", "block": "<= 60"}
    for name, _, _ in CONFIGS:
        print(f"  {name}: sensor CPU {statistics.median(cpu[name]):6.1f} us/exec")
        report(pairs[name], on[name], f"goal {goals[name]} us median", indent="    ")
        if waits.get(name):
            print(
                f"    exec waited on the sensor (read to answer): p50 "
                f"{statistics.median(waits[name]):.0f} us (median over rounds)"
            )


def verdicts(image: str, tmp: Path, n: int) -> None:
    """n distinct drift files (new) and a modified image binary, each exec'd once, in a
    container of their own (the others keep an intact /bin/true): the sensor's verdict timings."""
    s = SensorProc(tmp, "verdicts", True, True, ALERT_ALL)
    cid = docker("run", "-d", "--network", "none", image, "sleep", "100000")
    try:
        script = (
            f"for i in $(seq {n}); do mkdir -p /tmp/v$i && cp /bin/true /tmp/v$i/true"
            " && /tmp/v$i/true; done; printf Z >> /bin/true; /bin/true"
        )
        docker("exec", cid, "sh", "-c", script, timeout=900)
        time.sleep(1.0)
    finally:
        s.stop()
        docker("rm", "-f", cid, check=False)
    state = json.loads(s.state.read_text())
    print(
        f"drift verdicts: {state['drift_verdicts']} decided, p50 {state['verdict_p50_us']} us, "
        f"p99 {state['verdict_p99_us']} us (goal p99 < 5,000 us)"
    )


def burst(cid: str, tmp: Path, n: int, block: bool) -> int:
    """n execs with drift as the only detector and no ignore marks: every exec reaches the
    sensor; its decision count must be n + 2 exactly (the loop's sh and seq). Then 20 drift
    execs under a block-all policy must all fail with EPERM (block mode)."""
    mode = "block" if block else "detect"
    s = SensorProc(tmp, f"burst-{mode}", block, False, ALERT_ALL)
    try:
        c0 = cpu_s(s.proc.pid)
        t = time.perf_counter()
        docker("exec", cid, "sh", "-c", f"for i in $(seq {n}); do /bin/true; done", timeout=900)
        took = time.perf_counter() - t
        c_used = cpu_s(s.proc.pid) - c0
        time.sleep(1.0)
    finally:
        status = s.stop()
    drift: dict[str, Any] = status.get("drift") or {}  # type: ignore[assignment]
    decided = sum(
        int(e["decisions"])
        for e in drift.get("top_execs", [])
        if e["container"] == cid[:12] and e["path"] == "/bin/true"
    )
    print(
        f"burst ({mode}, drift only, no ignore marks): {n} execs of /bin/true in {took:.2f} s, "
        f"sensor CPU {c_used:.2f} s; decided {decided}, missed {n - decided}; "
        f"overflows {status.get('fanotify_overflows')}; failed_open {drift.get('failed_open')}"
    )
    missed = n - decided
    if not block:
        return missed
    s = SensorProc(tmp, "burst-drift", True, False, BLOCK_ALL)
    blocked = 0
    try:
        for i in range(20):
            script = f"mkdir -p /tmp/b{i} && cp /bin/sleep /tmp/b{i}/true && /tmp/b{i}/true"
            proc = subprocess.run(
                ["docker", "exec", cid, "sh", "-c", script],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            blocked += proc.returncode == 126
    finally:
        s.stop()
    print(f"drift execs under a block-all policy: {blocked}/20 blocked (EPERM)")
    return missed + 20 - blocked


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--execs", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--burst", type=int, default=10000)
    ap.add_argument("--verdicts", type=int, default=200)
    ap.add_argument("--no-latency", action="store_true", help="skip the latency rounds")
    ap.add_argument("--source", default="auto", help="the sensor's --source (auto, fanotify)")
    a = ap.parse_args()
    global SOURCE, TIMER, CMD
    SOURCE = a.source
    tmp = Path(tempfile.mkdtemp(prefix="mamori-bench-drift-"))
    image = "local/mamori-bench-drift:1"
    tar, TIMER = image_tar(tmp, first_seen=a.execs)
    if TIMER:
        # Each exec of a loop names another hard link to /bin/true: a path the sensor has not
        # decided yet (its verdicts are remembered per path), so the configurations without
        # ignore marks go the first-seen way every time (latency()).
        CMD = FIRST_SEEN
    cid = bench_container(tar, image)
    try:
        loop(cid, 200, TIMER)  # warm up
        if not a.no_latency:
            latency(cid, tmp, a.execs, a.rounds)
            floors(
                cid, tmp, a.execs, a.rounds, TIMER,
                [("C", "detect"), ("C", "block"), ("Python", "block")], CMD,
            )  # fmt: skip
        verdicts(image, tmp, a.verdicts)
        bad = burst(cid, tmp, a.burst, False) + burst(cid, tmp, a.burst, True)
    finally:
        docker("rm", "-f", cid, check=False)
        docker("rmi", "-f", image, check=False)
    if bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
