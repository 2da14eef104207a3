"""``mamori scan running`` on real Docker containers, and the "by workload" vulnerabilities page.

A locally built image (busybox + a Debian 12 dpkg status) runs as two containers with
``--network none``: a plain one and one labelled as a Kubernetes pod's container. The image is
scanned once; each container gets its findings; a container stopped is resolved on the next run.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mamori.cli import scan_vulns
from mamori.cli.app import app as root_app
from mamori.config import Settings
from mamori.core.findings import FindingKind
from mamori.store.database import Database
from tests.conftest import unavailable
from tests.server.test_ui_vulnerabilities import rows
from tests.server.ui_session import add_user, login

BUSYBOX = Path("/bin/busybox")
STATUS = b"""Package: zlib1g
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 160
Maintainer: Mark Brown <broonie@debian.org>
Architecture: amd64
Multi-Arch: same
Source: zlib
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime

"""
OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'


def _osv(vid: str, events: list[dict[str, str]], severity: str | None) -> dict[str, object]:
    rec: dict[str, object] = {
        "schema_version": "1.6.0",
        "id": vid,
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "zlib"},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
    }
    if severity:
        rec["database_specific"] = {"severity": severity}
    return rec


RECORDS = [
    _osv("DEBIAN-CVE-2026-0001", [{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-2"}], "HIGH"),
    _osv("DEBIAN-CVE-2026-0002", [{"introduced": "0"}], None),  # no fix yet
    _osv("DEBIAN-CVE-2026-0003", [{"introduced": "0"}, {"fixed": "1:1.2.11-1"}], "HIGH"),  # old
]


def _rootfs() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "var/lib/dpkg"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            t.addfile(info)
        t.add(str(BUSYBOX), "bin/busybox")
        for applet in ("sh", "sleep"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            t.addfile(info)
        for name, data in (("etc/os-release", OS_RELEASE), ("var/lib/dpkg/status", STATUS)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def docker(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode:
        raise AssertionError(f"docker {' '.join(args)}: {proc.stderr}")
    return proc.stdout.strip()


class Run:
    def __init__(self, tag: str, image: str) -> None:
        self.tag = tag
        self.image = image
        self.ids: list[str] = []

    def start(self, name: str, labels: dict[str, str] | None = None) -> str:
        flags = [f"--label=mamori.test={self.tag}"]
        flags += [f"--label={k}={v}" for k, v in (labels or {}).items()]
        cid = docker("run", "-d", "--network", "none", "--name", name, *flags, self.image,
                     "sleep", "600")  # fmt: skip
        self.ids.append(cid)
        return cid


@pytest.fixture
def containers(dockerd: None) -> Iterator[Run]:
    if not BUSYBOX.exists():
        unavailable("busybox-static is not installed")
    tag = uuid.uuid4().hex[:10]
    image = f"local/mamori-running-{tag}:1"
    subprocess.run(
        ["docker", "import", "--change", 'CMD ["/bin/sh"]', "-", image],
        input=_rootfs(),
        check=True,
        capture_output=True,
        timeout=120,
    )
    run = Run(tag, image)
    try:
        yield run
    finally:
        for cid in run.ids:
            docker("rm", "-f", cid, check=False)
        docker("rmi", "-f", image, check=False)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAMORI_DATA_DIR", str(tmp_path / "data"))
    osv = tmp_path / "osv"
    osv.mkdir()
    for rec in RECORDS:
        (osv / f"{rec['id']}.json").write_text(json.dumps(rec))
    result = CliRunner().invoke(root_app, ["vulndb", "import", "osv", str(osv)])
    assert result.exit_code == 0, result.output
    db = Database.connect(Settings(data_dir=tmp_path / "data").resolved_database_url())
    try:
        add_user(db)
    finally:
        db.close()
    return tmp_path


def scan_app() -> typer.Typer:
    app = typer.Typer()
    app.command("image")(scan_vulns.image)
    app.command("running")(scan_vulns.running)
    return app


def scan_running(tag: str) -> list[dict[str, object]]:
    args = ["running", "--label", f"mamori.test={tag}", "--store", "--format", "json"]
    result = CliRunner().invoke(scan_app(), args)
    assert result.exit_code == 0, result.output
    out = result.stdout
    doc: list[dict[str, object]] = json.loads(out[: out.rindex("]") + 1])
    return doc


def page(env: Path, by: str) -> dict[str, str]:
    from mamori.server.app import create_app

    settings = Settings(data_dir=env / "data", retention_days=0)
    db = Database.connect(settings.resolved_database_url())
    try:
        with TestClient(create_app(settings, db)) as client:
            login(client)
            r = client.get(f"/vulnerabilities?by={by}")
            assert r.status_code == 200
            return rows(r.text) if 'id="vulnerabilities"' in r.text else {}
    finally:
        db.close()


@pytest.mark.docker
@pytest.mark.root
def test_scan_running_records_workloads_and_the_page_joins_them(env: Path, containers: Run) -> None:
    plain = f"mamori-run-{containers.tag}"
    plain_id = containers.start(plain)
    pod_id = containers.start(
        f"k8s_app_web-0_shop_{containers.tag}",
        {
            "io.kubernetes.pod.name": "web-0",
            "io.kubernetes.pod.namespace": "shop",
            "io.kubernetes.container.name": "app",
        },
    )
    image_id = docker("image", "inspect", "--format", "{{.Id}}", containers.image)

    doc = scan_running(containers.tag)
    assert len(doc) == 1  # one image, scanned once, for both containers
    scanned = doc[0]
    assert scanned["subject"]["id"] == image_id  # type: ignore[index]
    assert scanned["subject"]["name"] == containers.image  # type: ignore[index]
    workloads = {w["container_id"]: w for w in scanned["workloads"]}  # type: ignore[attr-defined]
    assert set(workloads) == {plain_id, pod_id}
    assert workloads[pod_id]["namespace"] == "shop"
    assert workloads[pod_id]["pod"] == "web-0"
    assert workloads[pod_id]["container"] == "app"
    assert workloads[plain_id]["container"] == plain
    found = scanned["findings"]
    assert len(found) == 4  # type: ignore[arg-type]  # two advisories x two containers
    assert {f["vulnerability"] for f in found} == {  # type: ignore[attr-defined]
        "DEBIAN-CVE-2026-0001",
        "DEBIAN-CVE-2026-0002",
    }
    for f in found:  # type: ignore[attr-defined]
        assert f["evidence"]["image"]["id"] == image_id
        assert f["evidence"]["package"]["name"] == "zlib1g"

    from mamori.cli.common import open_db

    db = open_db()
    try:
        stored = db.findings.open_of_kind(FindingKind.VULNERABILITY)
    finally:
        db.close()
    assert {(f.resource.kind, f.resource.uid) for f in stored} == {
        ("container", plain_id),
        ("container", pod_id),
    }
    assert {f.resource.namespace for f in stored if f.resource.uid == pod_id} == {"shop"}

    by_workload = page(env, "workload")
    assert set(by_workload) == {"shop/web-0/app", plain}
    for row in by_workload.values():
        assert containers.image in row
        assert "1 / 2" in row  # one of the two advisories has a fix
        assert "DEBIAN-CVE-2026-0002" in row
    by_image = page(env, "image")
    assert list(by_image) == [containers.image]
    assert "1 / 2" in by_image[containers.image]  # per advisory, not per container
    by_cve = page(env, "cve")
    assert "shop/web-0/app" in by_cve["DEBIAN-CVE-2026-0001"]

    # the plain container stops: the next run resolves its findings, the pod's stay open
    docker("rm", "-f", plain_id)
    doc = scan_running(containers.tag)
    assert [w["container_id"] for w in doc[0]["workloads"]] == [pod_id]  # type: ignore[index]
    assert set(page(env, "workload")) == {"shop/web-0/app"}
