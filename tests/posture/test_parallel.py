"""A scan split over forked workers gives the same report as one process, in the same order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mamori.posture import parallel
from mamori.posture.checks import select
from mamori.posture.config import load_config
from mamori.posture.model import Status
from mamori.posture.report import jsonfmt
from mamori.posture.scan import Report, scan_paths
from mamori.posture.sources.files import read_sources

ROOT = Path(__file__).resolve().parents[2]

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: team
  annotations: {{{annotations}}}
spec:
  selector: {{matchLabels: {{app: a}}}}
  template:
    metadata: {{labels: {{app: a}}}}
    spec:
      serviceAccountName: quiet
      hostNetwork: {host}
      containers:
      - name: app
        image: {image}
        securityContext: {{privileged: {host}, capabilities: {{add: [NET_ADMIN]}}}}
        ports: [{{containerPort: 80, hostPort: {port}}}]
"""
ACCOUNT = """apiVersion: v1
kind: ServiceAccount
metadata: {name: quiet, namespace: team}
automountServiceAccountToken: false
"""


def _inputs(root: Path, count: int = 80, *, broken: bool = True) -> list[str]:
    """Varied files: findings, exemptions, a JSON list, broken and unknown documents, and the
    ServiceAccount that MAM-K8S-012 looks up from every pod, in the *last* file (another
    worker's chunk)."""
    for i in range(count):
        image = "registry.example.com/app:1" if i % 2 else f"app{i}:latest"
        exempt = '"skip.mamori.io/MAM-K8S-015": "sidecar needs it"' if i % 7 == 0 else ""
        text = DEPLOYMENT.format(
            i=i, annotations=exempt, host=str(i % 3 == 0).lower(), image=image, port=8000 + i
        )
        if i % 11 == 0 and broken:
            text += "---\nkind: [unclosed\n"
        if i % 13 == 0:
            text += "---\napiVersion: x/v1\nkind: Gizmo\nmetadata: {name: g}\n"
        (root / f"m{i:03d}.yaml").write_text(text)
    pods = {
        "apiVersion": "v1",
        "kind": "PodList",
        "items": [
            {"metadata": {"name": f"p{i}"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
            for i in range(3)
        ],
    }
    (root / "pods.json").write_text(json.dumps(pods, indent=1))
    (root / "zz-account.yaml").write_text(ACCOUNT)
    return [str(root), str(root / "missing.yaml")] if broken else [str(root)]


def _same(a: Report, b: Report) -> None:
    assert a.results == b.results
    assert a.diagnostics == b.diagnostics
    assert a.inputs == b.inputs
    assert jsonfmt.render(a, include_passed=True) == jsonfmt.render(b, include_passed=True)


@pytest.mark.parametrize("jobs", [2, 3, 7])
def test_workers_give_the_single_process_report(tmp_path: Path, jobs: int) -> None:
    paths = _inputs(tmp_path)
    config = load_config(None, select("all"))
    single = scan_paths(paths, config, jobs=1)
    _same(scan_paths(paths, config, jobs=jobs), single)
    codes = {d.code for d in single.diagnostics}
    assert {"PST001", "PST003", "PST005"} <= codes
    assert any(r.exemption is not None for r in single.results)
    # The ServiceAccount in the last file reached every worker: no Deployment is flagged.
    automount = [
        r for r in single.results if r.check_id == "MAM-K8S-012" and r.resource.kind == "Deployment"
    ]
    assert len(automount) == 80
    assert all(r.status is Status.PASS for r in automount)


def test_a_failed_worker_is_replaced_by_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _inputs(tmp_path, 30)
    config = load_config(None, select("all"))
    single = scan_paths(paths, config, jobs=1)

    def broken(part: parallel.Part) -> bytes:
        raise RuntimeError("worker cannot send")  # runs in the workers only

    monkeypatch.setattr(parallel, "encode", broken)
    _same(scan_paths(paths, config, jobs=3), single)


def test_encoding_round_trips(tmp_path: Path) -> None:
    items = list(read_sources(_inputs(tmp_path, 20)))
    config = load_config(None, select("all"))
    part = parallel.scan_chunk(items, config, parallel.accounts_in(items, None))
    assert parallel.decode(parallel.encode(part)) == part


def test_workers_for(tmp_path: Path) -> None:
    items = list(read_sources(_inputs(tmp_path, 60)))
    assert parallel.workers_for(items[:10], None) == 1  # a small input stays here
    assert parallel.workers_for(items, 1) == 1
    assert parallel.workers_for(items, 4) == 4
    assert parallel.workers_for(items[:3], 8) == 3  # never more than one per file
    expected = min(parallel.cores(), parallel.MAX_WORKERS, len(items) // 25)
    assert parallel.workers_for(items, None) == max(expected, 1)


def test_split_keeps_order_and_balances(tmp_path: Path) -> None:
    items = list(read_sources(_inputs(tmp_path, 40)))
    chunks = parallel.split(items, 3)
    assert len(chunks) == 3
    assert [i for c in chunks for i in c] == items
    sizes = [sum(len(getattr(i, "text", "")) for i in c) for c in chunks]
    assert max(sizes) < 2 * min(sizes)


@pytest.mark.parametrize(
    ("text", "may"),
    [
        ("kind: ServiceAccount\n", True),
        ('{"kind":"ServiceAccount"}', True),
        ("kind: ServiceAccountList\nitems: []\n", True),
        ('kind: "Service\\u0041ccount"\n', True),  # an escape could spell it
        ("spec:\n  automountServiceAccountToken: false\n", False),
        ("spec:\n  serviceAccountName: web\n", False),
        ("kind: MyServiceAccount\n", False),
    ],
)
def test_only_files_that_can_hold_a_service_account_are_read_first(text: str, may: bool) -> None:
    assert parallel.may_hold_account(text) is may


def test_a_default_scan_does_not_import_pydantic(tmp_path: Path) -> None:
    """Check parameters are plain dataclasses; pydantic is for config files only."""
    _inputs(tmp_path, 3)
    code = (
        "import sys; from mamori.posture.checks import select; "
        "from mamori.posture.config import load_config; "
        "from mamori.posture.scan import scan_paths; "
        "from mamori.posture.report import jsonfmt; "
        "jsonfmt.render(scan_paths([sys.argv[1]], load_config(None, select('all')))); "
        "assert 'pydantic' not in sys.modules, 'pydantic imported'"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env=env)


@pytest.mark.parametrize(
    ("broken", "fail_on", "code"), [(False, "none", 0), (False, "low", 1), (True, "none", 2)]
)
def test_the_command_writes_the_whole_report_then_ends(
    tmp_path: Path, broken: bool, fail_on: str, code: int
) -> None:
    """``mamori scan manifests`` ends its process itself once the output is flushed."""
    paths = _inputs(tmp_path, 60, broken=broken)
    single = scan_paths(paths, load_config(None, select("all")), jobs=1)
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    args = ["scan", "manifests", *paths, "--checks", "all", "--format", "json", "-j", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "mamori", *args, "--fail-on", fail_on],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == code, done.stderr[-2000:]
    assert done.stdout == jsonfmt.render(single) + "\n"
    assert ("PST005" in done.stderr) is broken  # the diagnostics are flushed too
