"""Posture scan speed and memory: mamori vs checkov on 500 generated manifests; webhook p99.

Generates ``--count`` manifests (Deployments, StatefulSets, CronJobs, Pods, Services, Ingresses;
half compliant), scans them with ``mamori scan manifests`` and with checkov (installed with pip
into a throwaway venv under /tmp in the same run), each as its own process, and prints wall time,
peak RSS (``wait4``) and the ratios. Then measures the admission latency (p50/p99): the decision
in process, and whole AdmissionReviews over real HTTPS to ``mamori up --tls-cert/--tls-key``.
Asserts nothing about time.

    .venv/bin/python bench/posture.py [--count 500] [--no-checkov] [--reviews 2000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WORKLOAD = {
    "Deployment": ("apps/v1", ("spec", "template")),
    "StatefulSet": ("apps/v1", ("spec", "template")),
    "DaemonSet": ("apps/v1", ("spec", "template")),
    "CronJob": ("batch/v1", ("spec", "jobTemplate", "spec", "template")),
}


def container(i: int, good: bool) -> dict[str, Any]:
    c: dict[str, Any] = {
        "name": f"app{i % 3}",
        "image": f"registry.example.com/app{i}:1.{i % 7}" if good else f"app{i}:latest",
    }
    if good:
        c["resources"] = {"limits": {"cpu": "500m", "memory": "256Mi"}}
        c["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
            "appArmorProfile": {"type": "RuntimeDefault"},
        }
    else:
        c["securityContext"] = {
            "privileged": i % 2 == 0,
            "capabilities": {"add": ["NET_ADMIN", "SYS_ADMIN"]},
        }
        c["ports"] = [{"containerPort": 8080, "hostPort": 8080}]
    return c


def pod_spec(i: int, good: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [container(i, good), container(i + 1, good)]}
    if good:
        spec["automountServiceAccountToken"] = False
    else:
        spec.update(
            hostNetwork=True,
            hostPID=True,
            volumes=[{"name": "h", "hostPath": {"path": "/var/run"}}],
        )
    return spec


def manifest(i: int) -> list[dict[str, Any]]:
    good = i % 2 == 0
    meta = {"name": f"app-{i}", "namespace": f"team-{i % 10}", "labels": {"app": f"app-{i}"}}
    kind = list(WORKLOAD)[i % len(WORKLOAD)]
    api, path = WORKLOAD[kind]
    template = {"metadata": {"labels": meta["labels"]}, "spec": pod_spec(i, good)}
    obj: dict[str, Any] = {"apiVersion": api, "kind": kind, "metadata": meta, "spec": {}}
    node = obj
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = template
    if kind != "CronJob":
        obj["spec"]["selector"] = {"matchLabels": meta["labels"]}
    else:
        obj["spec"]["schedule"] = "0 * * * *"
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": "ClusterIP" if good else "LoadBalancer",
            "selector": meta["labels"],
            "ports": [{"port": 443 if good else 8080}],
        },
    }
    return [obj, service]


def generate(root: Path, count: int) -> None:
    for i in range(count):
        (root / f"m{i:04d}.yaml").write_text(yaml.safe_dump_all(manifest(i), sort_keys=False))


def measure(
    cmd: list[str], env: dict[str, str] | None = None, repeat: int = 1
) -> tuple[float, float, int, float]:
    """Wall seconds (best of ``repeat``: the machine may be shared), peak RSS in MiB (the
    largest seen; this process only, via wait4), exit status, CPU seconds (user + system, of
    the fastest run: steadier than wall time on a busy machine)."""
    runs = [_measure_once(cmd, env) for _ in range(max(repeat, 1))]
    fastest = min(runs, key=lambda r: r[0])
    return fastest[0], max(r[1] for r in runs), runs[-1][2], fastest[3]


def _measure_once(cmd: list[str], env: dict[str, str] | None) -> tuple[float, float, int, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode, usage.ru_utime + usage.ru_stime


def byte_compile_mamori() -> None:
    """Write mamori's .pyc files before timing it, as installing a wheel does.

    checkov is pip-installed (byte-compiled at install); mamori may run from a source tree with
    PYTHONDONTWRITEBYTECODE set, where every run would compile every module (~0.07 s of a
    0.6 s scan). Not timed; what is measured is unchanged.
    """
    import importlib.util

    spec = importlib.util.find_spec("mamori")
    if spec is None or not spec.submodule_search_locations:
        return
    package = next(iter(spec.submodule_search_locations))
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", package],
        check=False,
        capture_output=True,
        timeout=300,
    )


def install_checkov(venv: Path) -> Path | str:
    """checkov in ``venv``: installed there unless a previous run (``--checkov-venv``) did."""
    if (venv / "bin" / "checkov").is_file():
        return venv / "bin" / "checkov"
    try:
        subprocess.run(
            ["python3", "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300
        )
        pip = venv / "bin" / "pip"
        r = subprocess.run(
            [str(pip), "install", "-q", "checkov"], capture_output=True, text=True, timeout=1200
        )
        if r.returncode != 0:
            return "pip install checkov failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot build a venv for checkov: {exc}"
    return venv / "bin" / "checkov"


def admission_latency(reviews: int) -> None:
    """The decision in process, and whole AdmissionReviews over real HTTPS: ``mamori up`` with a
    certificate from a CA made here, a keep-alive client trusting only that CA, an ingest token
    (as kube-apiserver would present)."""
    import ssl

    import httpx
    from tests.posture.test_admission import _ca_and_server_cert

    from mamori.config import Settings
    from mamori.posture.admission import response
    from mamori.server.routers.admission import posture_context
    from mamori.store.pgtemp import free_port

    obj = manifest(1)[0]
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "1", "operation": "CREATE", "namespace": "team-1", "object": obj},
    }
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        ctx = posture_context(settings)
        inproc = []
        for _ in range(reviews):
            t = time.perf_counter()
            response(review, ctx)
            inproc.append((time.perf_counter() - t) * 1000)
        ca, cert, key = _ca_and_server_cert(Path(tmp))
        port = free_port()
        env = {**os.environ, "MAMORI_DATA_DIR": tmp, "MAMORI_LOG_LEVEL": "warning"}
        env["PYTHONPATH"] = str(REPO / "src")
        mamori = [sys.executable, "-m", "mamori"]
        token = subprocess.run(
            [*mamori, "token", "create", "kube-apiserver", "--scope", "ingest"],
            env=env, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        up = [*mamori, "up", "--no-sensor", "--port", str(port)]
        server = subprocess.Popen(
            [*up, "--tls-cert", str(cert), "--tls-key", str(key)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        tls = ssl.create_default_context(cafile=str(ca))
        https = []
        try:
            with httpx.Client(
                base_url=f"https://127.0.0.1:{port}",
                verify=tls,
                headers={"Authorization": f"Bearer {token}"},
            ) as client:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        client.get("/healthz")
                        break
                    except httpx.HTTPError:
                        if time.monotonic() > deadline or server.poll() is not None:
                            raise SystemExit("mamori up did not serve HTTPS") from None
                        time.sleep(0.1)
                for _ in range(reviews):
                    t = time.perf_counter()
                    r = client.post("/api/v1/admission/validate", json=review)
                    https.append((time.perf_counter() - t) * 1000)
                    if r.status_code != 200:
                        raise SystemExit(f"admission answered {r.status_code}: {r.text[:200]}")
        finally:
            server.terminate()
            server.wait(timeout=30)
    for name, xs in (("decision in process", inproc), ("review over HTTPS (mamori up)", https)):
        q = statistics.quantiles(xs, n=100)
        print(f"admission {name:30s} p50 {q[49]:6.2f} ms  p99 {q[98]:6.2f} ms  ({reviews} reviews)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--no-checkov", action="store_true")
    ap.add_argument("--reviews", type=int, default=2000)
    ap.add_argument(
        "--checkov-venv",
        type=Path,
        help="keep checkov's venv here and reuse it next time (default: a throwaway one)",
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs of each scan; the best is shown")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mamori-bench-posture-"))
    try:
        (work / "m").mkdir()
        generate(work / "m", args.count)
        scan = [
            "scan",
            "manifests",
            str(work / "m"),
            "--checks",
            "all",
            "--format",
            "json",
            "--fail-on",
            "none",
        ]
        byte_compile_mamori()
        entry = "import sys; from mamori.cli.app import main; sys.argv[0] = 'mamori'; main()"
        wall, rss, code, cpu = measure(
            [sys.executable, "-c", entry, *scan], dict(os.environ), args.repeat
        )
        print(
            f"mamori   {args.count} manifests: {wall:7.2f} s  peak {rss:7.1f} MiB  exit {code}"
            f"  (cpu {cpu:.2f} s)"
        )
        # The same scan without the CLI's start-up (it imports every command group: store, server).
        engine = (
            "import sys; from mamori.posture.checks import select; "
            "from mamori.posture.config import load_config; "
            "from mamori.posture.scan import scan_paths; "
            "from mamori.posture.report import jsonfmt; "
            "config = load_config(None, select('all')); "
            "sys.stdout.write(jsonfmt.render(scan_paths([sys.argv[1]], config)))"
        )
        ewall, erss, _, ecpu = measure(
            [sys.executable, "-c", engine, str(work / "m")], dict(os.environ), args.repeat
        )
        print(
            f"mamori   posture engine alone: {ewall:7.2f} s  peak {erss:7.1f} MiB"
            f"  (cpu {ecpu:.2f} s)"
        )
        if not args.no_checkov:
            checkov = install_checkov(args.checkov_venv or work / "checkov-venv")
            if isinstance(checkov, str):
                print(f"checkov: not measured: {checkov}")
            else:
                cwall, crss, ccode, ccpu = measure(
                    [
                        str(checkov),
                        "-d",
                        str(work / "m"),
                        "--framework",
                        "kubernetes",
                        "--quiet",
                        "--compact",
                        "-o",
                        "json",
                    ],
                    repeat=args.repeat,
                )
                print(
                    f"checkov  {args.count} manifests: {cwall:7.2f} s  "
                    f"peak {crss:7.1f} MiB  exit {ccode}  (cpu {ccpu:.2f} s)"
                )
                print(
                    f"ratio: mamori CLI is {cwall / wall:.1f}x faster "
                    f"(engine alone {cwall / ewall:.1f}x; in CPU time {ccpu / cpu:.1f}x), "
                    f"uses {crss / rss:.1f}x less memory"
                )
        admission_latency(args.reviews)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
