"""Rules engine benchmark: load + compile the stock syscall rules, then replay an event mix.

Prints load time, events/s of the compiled ruleset (rule matching ``all``) and of a naive
evaluator (every rule's tree walked for every event), the ratio, and whether both found the same
matches on the naive sample. One core, one process. The first pass over the events (which builds
each bucket's code at its first event) is timed separately from the steady state.

Two event mixes (``--mix``), both 40 % opens, 25 % execs, 15 % connects, 20 % other syscalls,
80 % of events in containers:

* ``realistic`` (default): what a node mostly sees. Opens read shared libraries, /proc, app
  and config files and write /tmp, logs and app data; 3 % of opens touch a sensitive path
  (/etc/shadow, /etc/passwd for writing, ~/.ssh, /usr/lib ...). Execs are app and common tool
  binaries under app parents; 3 % are shells (half with a terminal), package managers or network
  tools; 0.2 % of processes are a container's init (vpid 1). Connects come from service processes
  and go to cluster addresses (10.0.0.0/8) on service ports, 10 % to public :443 and 1 % to :22.
* ``legacy``: the first mix (uniform over 8 paths of which 5 are sensitive, 10 process names
  half of them shells, 50 % public connects, other syscalls uniform over
  read/write/close/mmap/setuid/ptrace/dup2): about 26 % of events match, each match evaluates
  the rule's whole exception list. Kept for comparison with earlier figures.

    PYTHONPATH=src python bench/rules.py [--events 200000] [--rounds 5] [--mix realistic|legacy]
        [--rules falco|mamori]
"""

from __future__ import annotations

import argparse
import random
import statistics
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
MAMORI = Path(__file__).resolve().parents[1] / "src" / "mamori" / "rules_data" / "mamori_rules.yaml"

_SHELL = ("bash", "sh", "python3", "nginx", "curl", "node", "java", "cat", "ls", "grep")
_PATHS = ("/etc/passwd", "/etc/shadow", "/var/log/app.log", "/tmp/x", "/usr/lib/libc.so.6",
          "/proc/self/status", "/root/.ssh/id_rsa", "/app/index.js")  # fmt: skip


def make_events(n: int, seed: int = 7) -> list[Event]:
    """The legacy mix: 40% opens, 25% execs, 15% connects, 20% other syscalls (~26% match)."""
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


_CONTAINERS = [
    ContainerInfo(id=f"{i:064x}", name=f"app-{i}", image=f"registry.example/app{i}:1.{i}",
                  image_repository=f"registry.example/app{i}", image_tag=f"1.{i}")
    for i in range(8)
]  # fmt: skip
_APPS = ("node", "java", "python3", "nginx", "postgres", "redis-server", "envoy", "ruby", "php-fpm",
         "gunicorn", "dotnet", "kubelet", "containerd", "dockerd", "sshd", "systemd",
         "cron")  # fmt: skip
_TOOLS = ("ls", "cat", "grep", "sed", "awk", "date", "sleep", "find", "tar", "gzip", "git", "make",
          "cp", "mv", "mkdir", "chmod", "head", "tail", "wc", "sort", "uname",
          "hostname")  # fmt: skip
_PARENTS = ("containerd-shim", "node", "java", "python3", "make", "cron", "systemd", "bash", "sh")
_RARE_EXEC = ("bash", "sh", "apt-get", "pip", "nc", "curl", "wget", "sudo", "crontab", "kubectl")
_READS = ("/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libssl.so.3",
          "/proc/self/stat", "/proc/1234/status", "/sys/fs/cgroup/cpu.max", "/app/index.js",
          "/app/node_modules/express/index.js", "/srv/www/index.html", "/etc/hosts",
          "/etc/resolv.conf", "/etc/ssl/certs/ca-certificates.crt", "/usr/share/zoneinfo/UTC",
          "/etc/nsswitch.conf", "/var/lib/app/data.db", "/dev/urandom",
          "/opt/app/config.yaml")  # fmt: skip
_WRITES = ("/tmp/upload-1234.tmp", "/var/log/app/access.log", "/var/lib/app/data.db",
           "/app/cache/page-17.html", "/dev/null", "/run/app.pid", "/var/tmp/session-9",
           "/data/postgres/base/16384/2619")  # fmt: skip
_SENSITIVE_READS = ("/etc/shadow", "/root/.ssh/id_rsa", "/etc/sudoers", "/home/dev/.ssh/id_ed25519")
_SENSITIVE_WRITES = ("/etc/passwd", "/usr/lib/libevil.so", "/etc/cron.d/job", "/root/.bashrc",
                     "/usr/bin/ls", "/etc/apt/sources.list.d/x.list")  # fmt: skip

_OTHER = ("read", "write", "close", "mmap", "dup2", "setuid", "ptrace")
_OTHER_WEIGHTS = (30, 30, 25, 12, 2, 0.5, 0.5)


def make_realistic_events(n: int, seed: int = 7) -> list[Event]:
    """The default mix (see the module docstring): most events match no rule."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        r = rnd.random()
        if r < 0.25 and rnd.random() < 0.03:
            name = rnd.choice(_RARE_EXEC)
        elif r < 0.25:
            name = rnd.choice(_TOOLS + _APPS)
        elif 0.65 <= r < 0.80:  # connects come from services
            name = rnd.choice(_APPS)
        else:
            name = rnd.choice(_APPS + _APPS + _TOOLS)
        pname = rnd.choice(_PARENTS)
        grand = ProcessInfo(pid=1, name="containerd-shim")
        parent = ProcessInfo(pid=100, name=pname, parent=grand)
        shell_tty = name in ("bash", "sh") and rnd.random() < 0.5
        proc = ProcessInfo(
            pid=1000 + i % 5000, name=name, exepath=f"/usr/bin/{name}",
            args=rnd.choice((("-c", "x"), ("--port", "8080"), ("/app/server.js",), ())),
            ppid=100, pname=pname, anames=(pname, "containerd-shim"), tty=34816 if shell_tty else 0,
            uid=rnd.choice((0, 1000, 1000)), user=rnd.choice(("root", "app", "app")), loginuid=-1,
            vpid=1 if rnd.random() < 0.002 else 42, parent=parent,
            exe_flags=MappingProxyType({"upper_layer": rnd.random() < 0.005}),
        )  # fmt: skip
        c = rnd.choice(_CONTAINERS) if rnd.random() < 0.8 else None
        k8s = K8sInfo(pod_name=f"web-{i % 7}", namespace="shop") if c else None
        kw: dict[str, object] = {}
        if r < 0.25:
            kind, syscall = EventKind.PROCESS_EXEC, "execve"
        elif r < 0.65:
            kind, syscall = EventKind.FILE_OPEN, rnd.choice(("openat", "openat", "open", "openat2"))
            write = rnd.random() < 0.25
            if rnd.random() < 0.03:
                path = rnd.choice(_SENSITIVE_WRITES if write else _SENSITIVE_READS)
            else:
                path = rnd.choice(_WRITES if write else _READS)
            flags = (("O_WRONLY", "O_CREAT") if rnd.random() < 0.5 else ("O_RDWR",)) if write else (
                ("O_RDONLY",))  # fmt: skip
            kw["file"] = FileInfo(path=path, flags=flags, fd=3 + i % 50)
        elif r < 0.80:
            kind, syscall = EventKind.NETWORK_CONNECT, "connect"
            q = rnd.random()
            dst, port = (f"10.{i % 4}.{i % 200}.{i % 250}", rnd.choice((5432, 6379, 8080, 443)))
            if q < 0.01:
                dst, port = "93.184.216.34", 22
            elif q < 0.11:
                dst, port = rnd.choice(("93.184.216.34", "142.250.74.110")), 443
            kw["network"] = NetworkInfo("tcp", dst_ip=dst, dst_port=port, src_ip="10.1.0.9",
                                        src_port=40000 + i % 1000)  # fmt: skip
        else:
            kind = EventKind.FILE_WRITE
            syscall = rnd.choices(_OTHER, _OTHER_WEIGHTS)[0]
        out.append(Event(kind=kind, time_ns=1_700_000_000_000_000_000 + i * 1000,
                         syscall=syscall, result="SUCCESS", node="node-a", process=proc,
                         container=c, k8s=k8s, num=i + 1, **kw))  # type: ignore[arg-type]  # fmt: skip
    return out


def describe(events: list[Event]) -> str:
    kinds: dict[str, int] = {}
    for e in events:
        kinds[e.kind.value] = kinds.get(e.kind.value, 0) + 1
    share = ", ".join(f"{k} {v / len(events):.0%}" for k, v in sorted(kinds.items()))
    inside = sum(1 for e in events if e.container is not None) / len(events)
    return f"{share}; in containers {inside:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--naive-events", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5, help="timed passes; the median counts")
    parser.add_argument("--mix", choices=("realistic", "legacy"), default="realistic")
    parser.add_argument(
        "--rules", choices=("falco", "mamori"), default="falco",
        help="falco: the three stock syscall files; mamori: mamori's default rules",
    )  # fmt: skip
    args = parser.parse_args()

    t0 = time.perf_counter()
    paths = [RULES / f for f in FILES] if args.rules == "falco" else [MAMORI]
    result = load_ruleset(paths, RuleMatching.ALL)
    load_s = time.perf_counter() - t0
    enabled = result.ruleset.rules
    print(f"load + compile: {load_s:.3f} s ({len(result.rules)} rules compiled, "
          f"{len(enabled)} enabled, {len(result.errors)} errors)")  # fmt: skip

    events = (make_realistic_events if args.mix == "realistic" else make_events)(args.events)
    print(f"mix {args.mix}: {describe(events)}")
    match = result.ruleset.match
    t0 = time.perf_counter()
    matched = sum(1 for e in events if match(e))
    first_s = time.perf_counter() - t0
    rates: list[float] = []
    for _ in range(args.rounds):  # this VM's speed swings by ±20 % between runs: the median
        t0 = time.perf_counter()
        hits = sum(len(match(e)) for e in events)
        rates.append(len(events) / (time.perf_counter() - t0))
    fast = statistics.median(rates)
    print(f"first pass (builds each bucket's code at first use): {first_s:.3f} s")
    print(f"compiled ruleset: {fast:,.0f} events/s, median of {args.rounds} passes "
          f"({len(events):,} events, {hits:,} matches, "
          f"{matched / len(events):.1%} of events match a rule)")  # fmt: skip
    print(f"  passes: {', '.join(f'{r:,.0f}' for r in rates)} events/s")

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
