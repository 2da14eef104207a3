"""The exec loop the sensor and drift benchmarks time: ``/bin/true`` n times in a container.

Two timers, both inside the container (not around ``docker exec``, whose own start-up of tens of
ms swung per-exec figures by up to ±150 us a round here):

- ``bench/execloop.c`` (built static with gcc, put in the bench image as ``/bin/execloop``):
  vfork + execv + waitpid, each exec timed on its own; gives p25/median/mean/p99. The design's
  targets are medians of single execs: one scheduler hiccup moves a round's mean, not its median.
- without a C compiler, a busybox ``sh`` loop timed from /proc/uptime (10 ms resolution, 5 us
  per exec over 2,000 execs): the mean only.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.sensor.conftest import _rootfs_tar, docker

TIMER = "/bin/execloop"


@dataclass(frozen=True)
class Loop:
    """Microseconds per exec of one timed loop."""

    mean: float
    p25: float
    p50: float
    p99: float
    cpu50: float = 0.0  # CPU time of the exec'd process (wait4 rusage): steal-free
    cpu_mean: float = 0.0

    @classmethod
    def parse(cls, line: str) -> Loop:
        kv = dict(part.split("=", 1) for part in line.split())
        if int(kv["fail"]):
            raise RuntimeError(f"execloop: {kv['fail']} of {kv['n']} execs failed")
        return cls(*(float(kv[k]) for k in ("mean", "p25", "p50", "p99", "cpu50", "cpu_mean")))


# execloop's numbered path: hard links to /bin/true, each in a directory of its own, so that
# busybox, which picks its applet by argv[0]'s base name, still runs "true"
FIRST_SEEN = "/opt/first/%ld/true"


def image_tar(dest: Path, first_seen: int = 0) -> tuple[Path, bool]:
    """The busybox rootfs of the tests plus ``/bin/execloop`` when gcc can build it static,
    and ``first_seen`` hard links to /bin/true (``FIRST_SEEN`` with 0 .. n-1): a file name the
    sensor has not decided yet on every exec of a loop. Returns the tar and whether the
    per-exec timer is in it."""
    tar = _rootfs_tar(dest)
    if first_seen:
        with tarfile.open(tar, "a") as t:
            for d in ("opt", "opt/first"):
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            for i in range(first_seen):
                folder = tarfile.TarInfo(os.path.dirname(FIRST_SEEN % i).lstrip("/"))
                folder.type, folder.mode = tarfile.DIRTYPE, 0o755
                t.addfile(folder)
                info = tarfile.TarInfo((FIRST_SEEN % i).lstrip("/"))
                # a hard link entry's mode becomes the shared inode's: keep /bin/true's
                info.type, info.linkname = tarfile.LNKTYPE, "bin/true"
                info.mode = t.getmember("bin/true").mode
                t.addfile(info)
    binary = dest / "execloop"
    cc = shutil.which("gcc")
    built = cc is not None and (
        subprocess.run(
            [cc, "-static", "-O2", "-o", str(binary), str(Path(__file__).with_suffix(".c"))],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    if not built:
        print("(no static gcc build of bench/execloop.c: timing a sh loop, mean only)")
        return tar, False
    data = binary.read_bytes()
    with tarfile.open(tar, "a") as t:
        info = tarfile.TarInfo(TIMER.lstrip("/"))
        info.size, info.mode = len(data), 0o755
        t.addfile(info, io.BytesIO(data))
    return tar, True


def bench_container(tar: Path, image: str) -> str:
    """Import the rootfs ``tar`` as ``image`` and start a ``--network none`` container idling
    in it; returns its id (the caller removes both)."""
    subprocess.run(
        ["docker", "import", "--change", 'CMD ["/bin/sh"]', str(tar), image],
        check=True,
        capture_output=True,
    )
    return docker("run", "-d", "--network", "none", image, "sleep", "100000")


def loop(cid: str, n: int, timer: bool, cmd: str = "/bin/true") -> Loop:
    """Per-exec figures of ``n`` runs of ``cmd`` in container ``cid``."""
    if timer:
        return Loop.parse(docker("exec", cid, TIMER, str(n), cmd, timeout=900))
    us = loop_us(cid, n, cmd)
    return Loop(us, us, us, us)


def loop_us(cid: str, n: int, cmd: str = "/bin/true") -> float:
    """Wall time per exec of ``n`` runs of ``cmd`` in a busybox sh loop, in microseconds."""
    script = (
        "read a _ < /proc/uptime; "
        f"for i in $(seq {n}); do {cmd}; done; "
        "read b _ < /proc/uptime; echo $a $b"
    )
    out = docker("exec", cid, "sh", "-c", script, timeout=900)
    start, end = (float(x) for x in out.split())
    return (end - start) / n * 1e6


def report(pairs: list[tuple[Loop, Loop]], on: list[Loop], goal: str, indent: str = "  ") -> float:
    """Per-exec median (the design's measure), p25, mean and the exec'd process's own CPU
    time: each round's figure minus the mean of its two baselines (``pairs``: the loops without
    a sensor just before and just after it); prints the median over rounds and each round's
    figure; returns the added median."""
    added = {}
    for stat in ("p50", "p25", "mean", "cpu50"):
        per = [
            getattr(w, stat) - (getattr(b0, stat) + getattr(b1, stat)) / 2
            for w, (b0, b1) in zip(on, pairs, strict=True)
        ]
        added[stat] = statistics.median(per)
        b = statistics.median(getattr(x, stat) for pair in pairs for x in pair)
        print(
            f"{indent}{stat:5s} per exec  without {b:7.1f}  added {added[stat]:+7.1f} us"
            f"   rounds {[round(x) for x in per]}"
        )
    print(f"{indent}({goal}; cpu50: the exec'd process's own CPU time, steal-free)")
    return added["p50"]


def floors(
    cid: str,
    tmp: Path,
    execs: int,
    rounds: int,
    timer: bool,
    which: Sequence[tuple[str, str]],
    cmd: str = "/bin/true",
) -> None:
    """The machine's floor, same container and loop, each round between two loops without it:
    a no-op fanotify listener (``bench/fanotify_floor.c`` or ``.py``: read, answer in block
    mode, close; no other work) for each (language, mode) in ``which``. What the C one adds is
    what any userspace listener pays here before its first instruction of real work; the
    Python one, what a Python listener pays."""
    here = Path(__file__).resolve().parent
    binary = tmp / "fanotify_floor"
    cc = next((c for c in ("cc", "clang", "gcc") if shutil.which(c)), None)
    why = "no C compiler"
    if cc is not None:
        built = subprocess.run(
            [cc, "-O2", "-o", str(binary), str(here / "fanotify_floor.c")],
            capture_output=True,
            text=True,
        )
        why = "" if built.returncode == 0 else f"{cc}: {built.stderr.strip()[-200:]}"
    merged = docker("inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", cid)
    for lang, mode in which:
        if lang == "C" and why:
            print(f"  floor: C listener not measured ({why})")
            continue
        argv = (
            [str(binary), mode, merged]
            if lang == "C"
            else [sys.executable, str(here / "fanotify_floor.py"), mode, merged]
        )
        last = loop(cid, execs, timer, cmd)
        pairs: list[tuple[Loop, Loop]] = []
        on: list[Loop] = []
        for _ in range(rounds):
            proc = subprocess.Popen(argv, stderr=subprocess.PIPE)
            time.sleep(0.5)
            on.append(loop(cid, execs, timer, cmd))
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
            after = loop(cid, execs, timer, cmd)
            pairs.append((last, after))
            last = after
        print(f"  floor: no-op {lang} fanotify listener, {mode}")
        report(pairs, on, "what such a listener adds here", indent="    ")
