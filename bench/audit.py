"""Audit webhook throughput, end to end: POST EventList -> journal -> rules -> alerts stored.

Starts ``mamori up`` (one uvicorn worker, SQLite by default) on 127.0.0.1, creates ingest and
read tokens, then posts pre-serialised ``EventList`` batches of ``--batch`` events and waits
until the server's ``mamori_audit_backlog`` gauge is back to 0 and ``mamori_audit_events``
counts every event. events/s = events / (first POST .. last batch evaluated and stored).

Two event mixes (both built from tests/audit/corpus, fresh audit ids per event):
- ``cluster``: routine control-plane traffic at Metadata level (lease renewals, controller
  gets, kubelet status patches, user lists: 85 %) plus the corpus's admin and attack events
  (15 %, with request bodies);
- ``attack``: the corpus only (about a quarter of the events raise an alert): a stress case.

Prints the figures; asserts nothing about time.

    .venv/bin/python bench/audit.py [--events 50000] [--batch 1000] [--mix cluster|attack|both]
        [--stock]   # also load the stock Falco k8s_audit_rules.yaml (../shared/conformance)
        [--no-stateful]   # rules only: what the stateful detectors cost
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mamori.audit.detection import load_detector
from mamori.audit.events import to_event
from mamori.audit.pipeline import AuditPipeline, build_pipeline
from mamori.store.pgtemp import free_port

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "audit" / "corpus"
STOCK = REPO.parent / "shared" / "conformance" / "falco" / "rules" / "k8s_audit_rules.yaml"
GOAL = 5_000


def corpus() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(CORPUS.glob("*.json"))]


def background(base: dict[str, Any], kind: int, n: int) -> dict[str, Any]:
    """Routine control-plane traffic (Metadata level, no bodies)."""
    node = f"node-{n % 20}"
    ev = dict(base)
    ev.pop("requestObject", None)
    ev.pop("responseObject", None)
    ev["level"] = "Metadata"
    kcm = {"username": "system:kube-controller-manager", "groups": ["system:authenticated"]}
    kubelet = {"username": f"system:node:{node}", "groups": ["system:nodes"]}
    if kind < 40:  # lease renewals
        ev.update(verb="update", user=kubelet if kind % 2 else kcm,
                  requestURI=f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}",
                  objectRef={"resource": "leases", "namespace": "kube-node-lease", "name": node,
                             "apiGroup": "coordination.k8s.io", "apiVersion": "v1"},
                  responseStatus={"metadata": {}, "code": 200})  # fmt: skip
    elif kind < 55:  # controller gets
        ev.update(verb="get", user=kcm, requestURI="/api/v1/namespaces/kube-system/configmaps/x",
                  objectRef={"resource": "configmaps", "namespace": "kube-system",
                             "name": "extension-apiserver-authentication", "apiVersion": "v1"},
                  responseStatus={"metadata": {}, "code": 200})  # fmt: skip
    elif kind < 75:  # kubelet status patches
        ev.update(verb="patch", user=kubelet, requestURI=f"/api/v1/nodes/{node}/status",
                  objectRef={"resource": "nodes", "name": node, "subresource": "status",
                             "apiVersion": "v1"},
                  responseStatus={"metadata": {}, "code": 200})  # fmt: skip
    else:  # users and operators listing
        ev.update(verb="list", requestURI="/api/v1/namespaces/default/pods?limit=500",
                  objectRef={"resource": "pods", "namespace": "default", "apiVersion": "v1"},
                  responseStatus={"metadata": {}, "code": 200})  # fmt: skip
    return ev


def make_events(total: int, mix: str, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    cases = corpus()
    out = []
    for i in range(total):
        raw = dict(rng.choice(cases))
        if mix == "cluster":
            kind = rng.randrange(100)
            if kind < 85:
                raw = background(raw, kind, i)
        raw["auditID"] = f"{seed:08x}-0000-4000-8000-{i:012d}"
        out.append(raw)
    return out


def batches_of(events: list[dict[str, Any]], size: int) -> list[bytes]:
    return [
        json.dumps(
            {
                "kind": "EventList",
                "apiVersion": "audit.k8s.io/v1",
                "metadata": {},
                "items": events[i : i + size],
            }
        ).encode()
        for i in range(0, len(events), size)
    ]


def reference_pipeline(stock: bool, stateful: bool) -> AuditPipeline:
    """What the server runs, in this process: the expected alerts, event for event."""
    detector = load_detector([STOCK] if stock else [])
    return build_pipeline(detector, stateful=stateful)


def expected_alerts(pipeline: AuditPipeline, events: list[dict[str, Any]]) -> int:
    return len(pipeline.detect_all(to_event(e, "bench") for e in events))


class Server:
    def __init__(self, env: dict[str, str]) -> None:
        mamori = [sys.executable, "-m", "mamori"]
        subprocess.run([*mamori, "db", "upgrade"], env=env, check=True, capture_output=True)
        self.tokens = {
            scope: subprocess.run(
                [*mamori, "token", "create", f"bench-{scope}", "--scope", scope],
                env=env, check=True, capture_output=True, text=True,
            ).stdout.strip()
            for scope in ("ingest", "read")
        }  # fmt: skip
        self.port = free_port()
        self.proc = subprocess.Popen(
            [*mamori, "up", "--port", str(self.port)],
            env={**env, "MAMORI_LOG_LEVEL": "warning"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.1)

    def request(self, method: str, path: str, body: bytes | None = None,
                token: str | None = None) -> tuple[int, bytes]:  # fmt: skip
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, data

    def metric(self, name: str) -> float:
        _, text = self.request("GET", "/metrics", token=self.tokens["read"])
        m = re.search(rf"^{name} (\S+)$", text.decode(), re.M)
        return float(m.group(1)) if m else 0.0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def run(server: Server, events: list[dict[str, Any]], batch: int) -> dict[str, float]:
    bodies = batches_of(events, batch)
    before = server.metric("mamori_audit_events_total")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    headers = {"Authorization": f"Bearer {server.tokens['ingest']}",
               "Content-Type": "application/json"}  # fmt: skip
    latencies = []
    t0 = time.perf_counter()
    for body in bodies:
        t = time.perf_counter()
        conn.request("POST", "/api/v1/audit/webhook?cluster=bench", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        latencies.append(time.perf_counter() - t)
        if resp.status != 200:
            raise SystemExit(f"POST failed: {resp.status} {data[:200]!r}")
    posted = time.perf_counter() - t0
    conn.close()
    while (server.metric("mamori_audit_events_total") - before < len(events)
           or server.metric("mamori_audit_backlog") > 0):  # fmt: skip
        time.sleep(0.02)
    done = time.perf_counter() - t0
    latencies.sort()
    return {"events/s": len(events) / done, "accepted/s": len(events) / posted,
            "p50_ms": latencies[len(latencies) // 2] * 1000,
            "max_ms": latencies[-1] * 1000}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--mix", choices=["cluster", "attack", "both"], default="both")
    parser.add_argument("--stock", action="store_true", help="also load the stock Falco file")
    parser.add_argument("--no-stateful", action="store_true",
                        help="rules only (MAMORI_AUDIT_STATEFUL=false)")  # fmt: skip
    args = parser.parse_args()
    reference = reference_pipeline(args.stock, not args.no_stateful)
    mixes = ["cluster", "attack"] if args.mix == "both" else [args.mix]
    with tempfile.TemporaryDirectory(prefix="mamori-bench-") as tmp:
        env = {**os.environ, "MAMORI_DATA_DIR": str(Path(tmp) / "data")}
        if args.stock:
            env["MAMORI_AUDIT_RULES"] = json.dumps([str(STOCK)])
        if args.no_stateful:
            env["MAMORI_AUDIT_STATEFUL"] = "false"
        server = Server(env)
        try:
            server_alerts = server.metric("mamori_audit_alerts_total")
            warm_up = make_events(2000, "attack", 0)
            run(server, warm_up, args.batch)
            expected_alerts(reference, warm_up)  # the server's state includes these
            results = {}
            for n, mix in enumerate(mixes, 1):
                events = make_events(args.events, mix, n)
                server_alerts = server.metric("mamori_audit_alerts_total")
                results[mix] = run(server, events, args.batch)
                stored = server.metric("mamori_audit_alerts_total") - server_alerts
                want = expected_alerts(reference, events)
                if stored != want:
                    raise SystemExit(f"{mix}: {stored:.0f} alerts stored, expected {want}")
                results[mix]["alerts"] = stored
        finally:
            server.stop()
    rules = "mamori + stock Falco k8s_audit rules" if args.stock else "mamori k8s_audit rules"
    rules += "" if args.no_stateful else " + stateful detectors"
    print(f"audit webhook end to end (POST -> journal fsync -> {rules} -> SQLite): "
          f"{args.events} events per mix, batches of {args.batch}, one client, one server "
          f"worker, {os.cpu_count()} cores shared by client and server")  # fmt: skip
    print(f"{'mix':<8} {'events/s':>9} {'accepted/s':>11} {'POST p50':>9} {'POST max':>9} "
          f"{'alerts':>7} {'goal':>6}  verdict")  # fmt: skip
    for mix, r in results.items():
        verdict = "meets goal" if r["events/s"] >= GOAL else "below goal"
        print(f"{mix:<8} {r['events/s']:>9,.0f} {r['accepted/s']:>11,.0f} "
              f"{r['p50_ms']:>7.0f}ms {r['max_ms']:>7.0f}ms {r['alerts']:>7,.0f} {GOAL:>6,}  "
              f"{verdict}")  # fmt: skip
    print("peer: Falco's k8saudit plugin is not installed here; no ratio printed")


if __name__ == "__main__":
    main()
