"""``mamori simulate`` without Docker: an unknown target, listing, unknown names, and the audit-only
scenario against a live server, with and without one of its detections."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mamori.cli.app import app
from mamori.config import Settings
from mamori.simulate.scenarios import SCENARIOS
from mamori.store.query import Filters
from tests.conftest import LiveServer


def test_unknown_target_is_an_error() -> None:
    r = CliRunner().invoke(app, ["simulate", "--target", "nomad", "--token-file", "/dev/null"])
    assert r.exit_code == 2
    assert "unknown target 'nomad' (docker, kubernetes)" in r.output


def test_list_names_every_catalog_scenario() -> None:
    r = CliRunner().invoke(app, ["simulate", "--list"])
    assert r.exit_code == 0
    for sc in SCENARIOS.values():
        assert sc.name in r.output
    assert "S7  binary-drift" in r.output
    assert "optional: the union of S1-S4" in r.output


def test_unknown_scenario_is_an_error() -> None:
    r = CliRunner().invoke(app, ["simulate", "nope", "--token-file", "/dev/null"])
    assert r.exit_code == 2
    assert "unknown scenario" in r.output


RULES = Path(__file__).resolve().parents[2] / "src/mamori/rules_data/mamori_k8s_audit_rules.yaml"


def without_rule(text: str, name: str) -> str:
    """The rules file less one rule (its ``- rule:`` block up to the next top-level item)."""
    blocks = text.split("\n- ")
    kept = [b for b in blocks if not b.startswith(f"rule: {name}\n")]
    assert len(kept) == len(blocks) - 1
    return "\n- ".join(kept)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """mamori's audit rules less the cluster-admin binding detection (MAM-CP-019)."""
    rules = tmp_path / "audit-rules.yaml"
    rules.write_text(without_rule(RULES.read_text(), "mamori cluster-admin binding"))
    return Settings(
        data_dir=tmp_path / "data",
        retention_days=0,
        audit_default_rules=False,
        audit_rules=[rules],
    )


def test_a_detection_turned_off_is_a_missing_alert_line(
    live_server: LiveServer, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text(live_server.tokens.all)
    r = CliRunner().invoke(
        app,
        ["simulate", "control-plane", "--server", live_server.url, "--token-file", str(token),
         "--time-limit", "8"],
    )  # fmt: skip
    assert r.exit_code == 1, r.output
    assert (
        "control-plane: missing alert: MAM-CP-019 (Role binding to the cluster-admin role)"
        in r.output
    )
    # the detections still on arrived, so they are not reported missing
    for on in ("MAM-CP-018", "MAM-CP-007", "MAM-CP-014", "MAM-CP-021"):
        assert f"missing alert: {on} " not in r.output
    stored = live_server.db.alerts.list(Filters(), limit=100).items
    assert stored
    assert all(a.simulated for a in stored)  # the replayed events carry the annotation
