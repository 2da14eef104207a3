"""Rules engine benchmark: load + compile the stock syscall rules, then replay an event mix.

Prints load time, events/s of the compiled ruleset (indexed by evt.type) and of a naive
evaluator (every rule's tree walked for every event), and the ratio. One core, one process.

    PYTHONPATH=src python bench/rules.py [--events 200000]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from types import MappingProxyType

from mamori.core.events import (
    ContainerInfo,
    Event,
    EventKind,
    FileInfo,
    K8sInfo,
    NetworkInfo,
    ProcessInfo,
)
from mamori.rules.engine import load_ruleset
from mamori.rules.interp import evaluate
from mamori.rules.ruleset import RuleMatching

RULES = Path(__file__).resolve().parents[1] / ".." / "shared" / "conformance" / "falco" / "rules"
FILES = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]

_SHELL = ("bash", "sh", "python3", "nginx", "curl", "node", "java", "cat", "ls", "grep")
_PATHS = ("/etc/passwd", "/etc/shadow", "/var/log/app.log", "/tmp/x", "/usr/lib/libc.so.6",
          "/proc/self/status", "/root/.ssh/id_rsa", "/app/index.js")  # fmt: skip


def make_events(n: int, seed: int = 7) -> list[Event]:
    """A realistic mix: 40% opens, 25% execs, 15% connects, 20% other syscalls."""
    rnd = random.Random(seed)
    containers = [
        ContainerInfo(id=f"{i:064x}", name=f"app-{i}", image=f"registry/app{i}:1.0",
                      image_repository=f"registry/app{i}", image_tag="1.0")
        for i in range(5)
    ]  # fmt: skip
    out = []
    for i in range(n):
        name = rnd.choice(_SHELL)
        parent = ProcessInfo(pid=100, name=rnd.choice(("bash", "containerd-shim", "node")))
        proc = ProcessInfo(
            pid=1000 + i % 5000, name=name, exepath=f"/usr/bin/{name}", args=("-c", "x"),
            ppid=100, pname=parent.name, anames=(parent.name, "containerd-shim"),
            tty=rnd.choice((0, 0, 34816)), uid=rnd.choice((0, 1000)), user="root",
            loginuid=-1, parent=parent,
            exe_flags=MappingProxyType({"upper_layer": rnd.random() < 0.02}),
        )  # fmt: skip
        c = rnd.choice(containers) if rnd.random() < 0.8 else None
        k8s = K8sInfo(pod_name="web-0", namespace="shop") if c else None
        r = rnd.random()
        kw: dict[str, object] = {}
        if r < 0.40:
            kind, syscall = EventKind.FILE_OPEN, rnd.choice(("openat", "open", "openat2"))
            flags = rnd.choice((("O_RDONLY",), ("O_WRONLY", "O_CREAT"), ("O_RDWR",)))
            kw["file"] = FileInfo(path=rnd.choice(_PATHS), flags=flags, fd=3)
        elif r < 0.65:
            kind, syscall = EventKind.PROCESS_EXEC, "execve"
        elif r < 0.80:
            kind, syscall = EventKind.NETWORK_CONNECT, "connect"
            kw["network"] = NetworkInfo("tcp", dst_ip=rnd.choice(("10.0.0.5", "93.184.216.34")),
                                        dst_port=rnd.choice((443, 22, 6443)),
                                        src_ip="10.1.0.9", src_port=40000 + i % 1000)  # fmt: skip
        else:
            kind = EventKind.FILE_WRITE
            syscall = rnd.choice(("read", "write", "close", "mmap", "setuid", "ptrace", "dup2"))
        out.append(Event(kind=kind, time_ns=1_700_000_000_000_000_000 + i * 1000,
                         syscall=syscall, result="SUCCESS", node="node-a", process=proc,
                         container=c, k8s=k8s, **kw))  # type: ignore[arg-type]  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--naive-events", type=int, default=5_000)
    args = parser.parse_args()

    t0 = time.perf_counter()
    result = load_ruleset([RULES / f for f in FILES], RuleMatching.ALL)
    load_s = time.perf_counter() - t0
    enabled = result.ruleset.rules
    print(f"load + compile: {load_s:.3f} s ({len(result.rules)} rules compiled, "
          f"{len(enabled)} enabled, {len(result.errors)} errors)")  # fmt: skip

    events = make_events(args.events)
    match = result.ruleset.match
    t0 = time.perf_counter()
    hits = sum(len(match(e)) for e in events)
    fast_s = time.perf_counter() - t0
    fast = len(events) / fast_s
    print(f"compiled ruleset: {fast:,.0f} events/s ({len(events):,} events, {hits:,} matches)")

    sample = events[: args.naive_events]
    t0 = time.perf_counter()
    naive_hits = 0
    for e in sample:
        for rule in enabled:
            if rule.source == e.source and evaluate(rule.expr, e, rule.source):
                naive_hits += 1
    naive_s = time.perf_counter() - t0
    naive = len(sample) / naive_s
    print(
        f"naive AST walk:   {naive:,.0f} events/s ({len(sample):,} events, {naive_hits:,} matches)"
    )
    print(f"ratio: {fast / naive:.1f}x")
    same = sum(len(match(e)) for e in sample)
    print(f"agreement on the naive sample: {'yes' if same == naive_hits else 'NO'}"
          f" ({same} vs {naive_hits})")  # fmt: skip


if __name__ == "__main__":
    main()
