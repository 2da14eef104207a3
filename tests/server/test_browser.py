"""A real browser (Debian's headless Chromium driven by Playwright) against the live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import data
from tests.conftest import LiveServer, bearer, unavailable

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = pytest.mark.browser


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """The browser test needs one backend; the API and store tests cover both."""
    return sqlite_url


@pytest.fixture
def page(live_server: LiveServer) -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            context = browser.new_context(base_url=live_server.url)
            context.set_default_timeout(15_000)
            yield context.new_page()
            context.close()
        finally:
            browser.close()


SEVERITIES = ["critical", "error", "warning", "notice", "informational", "alert"]


def ingest(live_server: LiveServer) -> list[dict[str, Any]]:
    docs = [
        data.alert_doc(n, severity=sev, rule=f"Rule {n} ({sev})")
        for n, sev in enumerate(SEVERITIES)
    ]
    r = httpx.post(
        f"{live_server.url}/api/v1/alerts:batch",
        json={"alerts": docs},
        headers=bearer(live_server.tokens.ingest),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == len(docs)
    return docs


def test_sign_in_filter_open_and_triage_an_alert(
    page: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    from mamori.core.severity import Severity

    docs = ingest(live_server)
    high = {d["id"] for d in docs if Severity.parse(d["severity"]).ui.value == "High"}

    page.goto("/alerts")
    assert "/login" in page.url  # not signed in yet
    page.fill("input[name=username]", live_server.admin_user)
    page.fill("input[name=password]", live_server.admin_password)
    page.click("button[type=submit]")
    page.wait_for_url("**/alerts")
    rows = page.locator("#alerts tbody tr")
    assert rows.count() == len(docs)
    assert {rows.nth(i).get_attribute("data-id") for i in range(rows.count())} == {
        d["id"] for d in docs
    }

    shot = tmp_path / "alerts.png"
    page.screenshot(path=str(shot), full_page=True)
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 1000

    page.select_option("#f-severity", "High")
    page.click("#apply")
    page.wait_for_url("**severity=High**")
    rows = page.locator("#alerts tbody tr")
    shown = {rows.nth(i).get_attribute("data-id") for i in range(rows.count())}
    assert shown == high
    assert {rows.nth(i).get_attribute("data-severity") for i in range(rows.count())} == {"High"}

    target = rows.first.get_attribute("data-id")
    rows.first.locator("a").first.click()
    page.wait_for_url(f"**/alerts/{target}")
    assert page.locator("#current-status").inner_text() == "new"
    page.select_option("#status", "resolved")
    page.fill("#comment", "Checked with the owner: expected maintenance shell.")
    page.click("#save")
    page.wait_for_load_state()
    assert page.locator("#current-status").inner_text() == "resolved"
    assert "expected maintenance shell" in page.locator("ul.comments").inner_text()

    # Persisted: in the database and through the API.
    stored = live_server.db.alerts.get(target)
    assert stored.status == "resolved"
    assert [(c.author, c.text) for c in stored.comments] == [
        ("alice", "Checked with the owner: expected maintenance shell.")
    ]
    api = httpx.get(
        f"{live_server.url}/api/v1/alerts/{target}",
        headers=bearer(live_server.tokens.read),
        timeout=10,
    ).json()
    assert api["status"] == "resolved"
    assert api["comments"][0]["author"] == "alice"
    untouched = [d["id"] for d in docs if d["id"] != target]
    assert all(live_server.db.alerts.get(i).status == "new" for i in untouched)


def test_simulated_alerts_show_a_badge_and_can_be_hidden(
    page: Any, live_server: LiveServer
) -> None:
    docs = [
        data.alert_doc(0, rule="Real alert"),
        data.alert_doc(1, rule="Simulated alert", simulated=True),
    ]
    r = httpx.post(
        f"{live_server.url}/api/v1/alerts:batch",
        json={"alerts": docs},
        headers=bearer(live_server.tokens.ingest),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    page.goto("/alerts")
    page.fill("input[name=username]", live_server.admin_user)
    page.fill("input[name=password]", live_server.admin_password)
    page.click("button[type=submit]")
    page.wait_for_url("**/alerts")
    rows = page.locator("#alerts tbody tr")
    assert rows.count() == 2
    sim = page.locator('#alerts tr[data-id="alert-00001"]')
    badge = sim.locator(".tag.simulated")
    assert badge.inner_text() == "simulated"
    assert badge.is_visible()
    assert page.locator('#alerts tr[data-id="alert-00000"] .tag.simulated').count() == 0

    page.select_option("#f-simulated", "hide")
    page.click("#apply")
    page.wait_for_url("**simulated=hide**")
    rows = page.locator("#alerts tbody tr")
    assert [rows.nth(i).get_attribute("data-id") for i in range(rows.count())] == ["alert-00000"]

    page.goto("/alerts/alert-00001")
    assert page.locator("#simulated").inner_text() == "simulated"
