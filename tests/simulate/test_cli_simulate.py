"""``mamori simulate`` without a cluster: target errors, listing, unknown names."""

from __future__ import annotations

from typer.testing import CliRunner

from mamori.cli.app import app


def test_kubernetes_target_is_not_available_yet() -> None:
    r = CliRunner().invoke(app, ["simulate", "--target", "kubernetes"])
    assert r.exit_code == 2
    assert "not available yet" in r.output


def test_list_names_available_and_not_yet() -> None:
    r = CliRunner().invoke(app, ["simulate", "--list"])
    assert r.exit_code == 0
    assert "binary-drift" in r.output
    assert "ti-domain" in r.output
    assert "not yet available" in r.output


def test_unknown_scenario_is_an_error() -> None:
    r = CliRunner().invoke(app, ["simulate", "nope", "--token-file", "/dev/null"])
    assert r.exit_code == 2
    assert "unknown scenario" in r.output
