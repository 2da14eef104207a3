"""The vulnerabilities page groups open vulnerability findings by image and by advisory."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from mamori.core.findings import Finding, FindingKind, FindingStatus, ResourceRef
from mamori.core.severity import Severity
from mamori.store.database import Database
from tests.server.ui_session import add_user, login


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


def vuln(n: int, image: str, cve: str, sev: Severity, fixed: str | None) -> Finding:
    return Finding(
        id=f"v{n}",
        time=datetime(2026, 11, 22, 8, n, tzinfo=UTC),
        kind=FindingKind.VULNERABILITY,
        check=cve,
        title=f"{cve} in openssl 3.0.1" + (f" (fixed in {fixed})" if fixed else " (no fix yet)"),
        severity=sev,
        resource=ResourceRef("Image", image),
        details={"package": "openssl", "installed": "3.0.1", "fixed": fixed},
        remediation=f"upgrade openssl to {fixed}" if fixed else None,
    )


def rows(html: str) -> dict[str, str]:
    body = html.split('id="vulnerabilities"')[1]
    return {part.split('"')[0]: part.split("</tr>")[0] for part in body.split('data-key="')[1:]}


def test_grouped_by_image_and_by_advisory(client: TestClient, db: Database) -> None:
    db.findings.insert(
        [
            vuln(1, "shop/web:1", "CVE-2026-0001", Severity.CRITICAL, "3.0.9"),
            vuln(2, "shop/web:1", "CVE-2026-0002", Severity.NOTICE, None),
            vuln(3, "shop/api:2", "CVE-2026-0001", Severity.CRITICAL, "3.0.9"),
            vuln(4, "shop/old:0", "CVE-2026-0003", Severity.WARNING, "1.1"),
        ]
    )
    db.findings.set_status("v4", FindingStatus.RESOLVED)  # resolved: not shown
    add_user(db)
    login(client)

    by_image = client.get("/vulnerabilities?by=image")
    assert by_image.status_code == 200
    images = rows(by_image.text)
    assert list(images) == ["shop/web:1", "shop/api:2"]  # two findings first, then one
    assert "CVE-2026-0002" in images["shop/web:1"]
    assert "1 / 2" in images["shop/web:1"]  # one of two is fixable
    assert "shop/old:0" not in by_image.text

    by_cve = rows(client.get("/vulnerabilities?by=cve").text)
    assert list(by_cve) == ["CVE-2026-0001", "CVE-2026-0002"]  # High before Low
    assert "shop/web:1" in by_cve["CVE-2026-0001"]
    assert "shop/api:2" in by_cve["CVE-2026-0001"]
    assert "sev-high" in by_cve["CVE-2026-0001"]
