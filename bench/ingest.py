"""Ingest throughput through the REST API: alerts/s for SQLite and PostgreSQL.

Starts ``mamori up`` as a separate process (one uvicorn worker, as a user would run it) on
127.0.0.1, creates an ingest token, then sends pre-serialised batches of ``--batch`` alerts from
``--clients`` keep-alive connections, first new alerts and then the same batches again (the
idempotent path). Prints the figures; asserts nothing about time.

    .venv/bin/python bench/ingest.py [--alerts 50000] [--rounds 3] [--batch 500] [--clients 4]
        [--only sqlite]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mamori.store.pgtemp import TempPostgres, free_port

RULES = [
    ("Terminal shell in container", "notice", "Execution", "T1059"),
    ("Drop and execute new binary in container", "critical", "Persistence", "T1554"),
    ("Unexpected outbound connection", "warning", "Command and Control", "T1071"),
    ("Read sensitive file untrusted", "warning", "Credential Access", "T1555"),
]


def make_batches(total: int, size: int, run: str) -> list[bytes]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    batches = []
    for b in range(0, total, size):
        items = []
        for i in range(b, min(b + size, total)):
            rule, prio, tactic, tech = RULES[i % len(RULES)]
            ns = f"team-{i % 7}"
            pod = f"web-{i % 50}-7d9f8"
            items.append(
                {
                    "id": f"bench-{run}-{i}",
                    "time": (start + timedelta(milliseconds=i)).isoformat(),
                    "rule": rule,
                    "severity": prio,
                    "source": "syscall",
                    "output": f"{rule} (user=root proc=sh pid={1000 + i} pod={pod})",
                    "mitre": {"tactic": tactic, "technique": tech},
                    "fields": {
                        "proc.name": "sh",
                        "proc.pid": 1000 + i,
                        "container.id": f"{i:012x}",
                        "k8s.pod.name": pod,
                        "k8s.ns.name": ns,
                    },
                    "resources": [{"kind": "Pod", "name": pod, "namespace": ns}],
                    "tags": ["container", "mitre_execution"],
                    "cluster": "bench",
                    "namespace": ns,
                    "node": "node-1",
                }
            )
        batches.append(json.dumps({"alerts": items}).encode())
    return batches


def send_all(port: int, token: str, batches: list[bytes], clients: int) -> tuple[float, int]:
    """Send every batch once over ``clients`` connections; returns (seconds, inserted)."""
    lock = threading.Lock()
    queue = list(reversed(batches))
    inserted = 0
    errors: list[str] = []

    def worker() -> None:
        nonlocal inserted
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        while True:
            with lock:
                if not queue:
                    break
                body = queue.pop()
            conn.request("POST", "/api/v1/alerts:batch", body=body, headers=headers)
            resp = conn.getresponse()
            data = json.loads(resp.read())
            with lock:
                if resp.status != 200 or data["rejected"]:
                    errors.append(f"{resp.status} {str(data)[:200]}")
                inserted += data.get("inserted", 0)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"ingest errors: {errors[:3]}")
    return elapsed, inserted


TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_by_part(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the server (with its worker processes), of every PostgreSQL
    process, and of this client (all its threads)."""
    parts = {"server": 0.0, "database": 0.0, "client": time.process_time()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        pid = int(entry.name)
        if pid == server_pid or ppid == server_pid:
            parts["server"] += _cpu_seconds(pid)
        elif comm == "postgres":
            parts["database"] += _cpu_seconds(pid)
    return parts


def run_backend(name: str, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    mamori = [sys.executable, "-m", "mamori"]
    subprocess.run([*mamori, "db", "upgrade"], env=env, check=True, capture_output=True)
    token = subprocess.run(
        [*mamori, "token", "create", "bench", "--scope", "ingest"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        # Without the local sensor (on by default as root): this measures the API alone.
        [*mamori, "up", "--port", str(port), "--workers", str(args.workers), "--no-sensor"],
        env={**env, "MAMORI_LOG_LEVEL": "warning"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"{name}: server did not start")
            time.sleep(0.1)
        send_all(port, token, make_batches(2000, args.batch, "warmup"), args.clients)
        new: list[float] = []
        resend: list[float] = []
        cpu = dict.fromkeys(("server", "database", "client"), 0.0)
        for r in range(args.rounds):  # fresh ids each round: the table grows as in use
            batches = make_batches(args.alerts, args.batch, f"{name}-{r}")
            before = cpu_by_part(server.pid)
            new_s, inserted = send_all(port, token, batches, args.clients)
            after = cpu_by_part(server.pid)
            dup_s, again = send_all(port, token, batches, args.clients)
            if inserted != args.alerts or again != 0:
                raise SystemExit(
                    f"{name}: inserted {inserted} then {again}; expected {args.alerts}, 0"
                )
            new.append(args.alerts / new_s)
            resend.append(args.alerts / dup_s)
            for k in cpu:
                cpu[k] += (after[k] - before[k]) / (args.alerts * args.rounds) * 1e6
        return {"new": new, "resend": resend, **cpu}
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of --alerts new alerts; the median counts"
    )
    args = parser.parse_args()
    goals = {"sqlite": 5_000, "postgres": 20_000}
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="mamori-bench-") as tmp:
        base = {**os.environ, "MAMORI_DATA_DIR": str(Path(tmp) / "data")}
        if args.only in (None, "sqlite"):
            results["sqlite"] = run_backend("sqlite", base, args)
        if args.only in (None, "postgres"):
            pg = TempPostgres(durable=True)
            pg.start()
            try:
                env = {**base, "MAMORI_DATABASE_URL": pg.url()}
                results["postgres"] = run_backend("postgres", env, args)
            finally:
                pg.stop()
    print(
        f"ingest through POST /api/v1/alerts:batch: {args.rounds} rounds of {args.alerts} alerts, "
        f"batches of {args.batch}, {args.clients} clients, {args.workers} server worker(s), "
        f"{os.cpu_count()} cores shared by client, server and database"
    )
    print(f"{'backend':<10} {'new alerts/s':>14} {'re-sent/s':>12} {'goal':>8}  verdict (median)")
    for name, r in results.items():
        new, resend = statistics.median(r["new"]), statistics.median(r["resend"])
        verdict = "meets goal" if new >= goals[name] else "below goal"
        print(f"{name:<10} {new:>14,.0f} {resend:>12,.0f} {goals[name]:>8,}  {verdict}")
    for name, r in results.items():
        rounds = ", ".join(f"{x:,.0f}" for x in r["new"])
        print(f"{name}: new alerts/s by round: {rounds}")
    for name, r in results.items():
        print(
            f"{name}: CPU per new alert: server {r['server']:.0f} us, database "
            f"{r['database']:.0f} us, client {r['client']:.0f} us "
            f"(sum {r['server'] + r['database'] + r['client']:.0f} us; 2 cores give "
            f"{2e6 / (r['server'] + r['database'] + r['client']):,.0f} alerts/s at most)"
        )
    print("peer: none runs here (Defender for Containers is a hosted service); no ratio printed")


if __name__ == "__main__":
    main()
