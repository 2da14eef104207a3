"""The ``mamori`` command line: in-process with CliRunner, and as a real process for errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mamori.cli.app import app
from mamori.core.severity import Severity
from mamori.store.database import Database
from tests import data

PASSWORD = "correct horse battery"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory of our own (and no database URL from the caller's environment)."""
    for name in list(os.environ):
        if name.startswith("MAMORI_"):
            monkeypatch.delenv(name)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("MAMORI_DATA_DIR", str(data_dir))
    return data_dir


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str, stdin: str | None = None) -> tuple[str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.stdout, result.stderr


def store(data_dir: Path) -> Database:
    return Database.connect(f"sqlite:///{data_dir / 'mamori.db'}")


def test_db_upgrade_creates_then_keeps_the_schema(env: Path, runner: CliRunner) -> None:
    _, err = run(runner, "db", "upgrade")
    assert "(empty) -> 0001" in err
    assert (env / "mamori.db").is_file()
    _, err = run(runner, "db", "upgrade")
    assert "0001 -> 0001" in err


def test_user_create_from_stdin(env: Path, runner: CliRunner) -> None:
    run(runner, "user", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    run(runner, "user", "create", "vera", "--role", "viewer", "--password-stdin", stdin=PASSWORD)
    db = store(env)
    try:
        assert db.accounts.authenticate_user("alice", PASSWORD)[1].scopes == {"read", "admin"}
        assert db.accounts.authenticate_user("vera", PASSWORD)[1].scopes == {"read"}
    finally:
        db.close()
    again = runner.invoke(app, ["user", "create", "alice", "--password-stdin"], input=PASSWORD)
    assert again.exit_code != 0
    short = runner.invoke(app, ["user", "create", "bob", "--password-stdin"], input="short\n")
    assert short.exit_code != 0


def test_token_create_json_list_and_revoke(env: Path, runner: CliRunner) -> None:
    out, _ = run(runner, "token", "create", "node-1", "--json")
    created = json.loads(out)
    assert created["name"] == "node-1"
    assert created["scopes"] == ["ingest"]
    out, _ = run(
        runner, "token", "create", "grafana", "--scope", "read", "--scope", "admin", "--json"
    )
    second = json.loads(out)
    assert sorted(second["scopes"]) == ["admin", "read"]
    plain, _ = run(runner, "token", "create", "plain")
    plain_token = plain.strip()

    db = store(env)
    try:
        assert db.accounts.verify_token(created["token"]).scopes == {"ingest"}
    finally:
        db.close()

    listing, _ = run(runner, "token", "list")
    for secret_token in (created["token"], second["token"], plain_token):
        secret = secret_token.split("_", 2)[2]
        assert secret not in listing
        assert secret[:12] not in listing
    assert created["id"] in listing
    assert "node-1" in listing

    run(runner, "token", "revoke", created["id"])
    db = store(env)
    try:
        with pytest.raises(Exception, match="invalid API token"):
            db.accounts.verify_token(created["token"])
    finally:
        db.close()


def test_alerts_list_json_and_show(env: Path, runner: CliRunner) -> None:
    db = store(env)
    try:
        db.alerts.insert(
            [
                data.alert(0, severity=Severity.CRITICAL, namespace="shop"),
                data.alert(1, severity=Severity.NOTICE),
                data.alert(2, severity=Severity.ERROR),
            ]
        )
        db.alerts.add_comment(data.alert(0).id, "alice", "on it")
    finally:
        db.close()
    out, _ = run(runner, "alerts", "list", "--json")
    listed = json.loads(out)
    assert [a["id"] for a in listed["items"]] == [data.alert(n).id for n in (2, 1, 0)]
    assert listed["next_cursor"] is None

    out, _ = run(runner, "alerts", "list", "--json", "--severity", "High", "--limit", "1")
    page = json.loads(out)
    assert [a["id"] for a in page["items"]] == [data.alert(2).id]
    out, _ = run(runner, "alerts", "list", "--json", "-s", "High", "--cursor", page["next_cursor"])
    assert [a["id"] for a in json.loads(out)["items"]] == [data.alert(0).id]
    out, _ = run(runner, "alerts", "list", "--json", "-n", "shop")
    assert [a["id"] for a in json.loads(out)["items"]] == [data.alert(0).id]

    out, _ = run(runner, "alerts", "show", data.alert(0).id, "--json")
    shown = json.loads(out)
    assert (shown["id"], shown["ui_severity"]) == (data.alert(0).id, "High")
    assert shown["comments"][0]["text"] == "on it"
    table, _ = run(runner, "alerts", "show", data.alert(0).id)
    assert data.alert(0).rule in table
    assert "on it" in table
    table, _ = run(runner, "alerts", "list")
    assert data.alert(1).id in table


def test_config_show_masks_the_database_password(
    env: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAMORI_DATABASE_URL", "postgresql://mamori:s3cr3t-pw@db.internal:5432/m")
    monkeypatch.setenv("MAMORI_RETENTION_DAYS", "30")
    out, _ = run(runner, "config", "show", "--json")
    shown = json.loads(out)
    assert "s3cr3t-pw" not in out
    assert shown["database_url"] == "postgresql://mamori:***@db.internal:5432/m"
    assert shown["retention_days"] == 30
    assert shown["data_dir"] == str(env)
    table, _ = run(runner, "config", "show")
    assert "s3cr3t-pw" not in table
    assert "MAMORI_DATABASE_URL" in table


USER_ERRORS = [
    (["alerts", "show", "nope"], {}, "alert 'nope' not found"),
    (["alerts", "show", "[bold]x[/bold]"], {}, "alert '[bold]x[/bold]' not found"),
    (["alerts", "list", "--severity", "loud"], {}, "unknown severity 'loud'"),
    (["alerts", "list", "--cursor", "bogus"], {}, "invalid cursor"),
    (["token", "revoke", "nope"], {}, "token 'nope' not found"),
    (["alerts", "list"], {"MAMORI_DATABASE_URL": "mysql://u@h/db"}, "unsupported database"),
    (["config", "show"], {"MAMORI_PORT": "eighty"}, "MAMORI_PORT"),
    (["alerts", "list"], {"MAMORI_DATABASE_URL": "not a url"}, "database URL is not valid"),
    (
        ["db", "upgrade"],
        {"MAMORI_DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/db?connect_timeout=3"},
        "cannot open the database",
    ),
    (["user", "create", "x"], {}, "--password-stdin"),  # no terminal to ask on
]


@pytest.mark.parametrize(
    ("args", "extra_env", "says"), USER_ERRORS, ids=[" ".join(a) for a, _, _ in USER_ERRORS]
)
def test_user_errors_are_one_line_without_a_traceback(
    tmp_path: Path, args: list[str], extra_env: dict[str, str], says: str
) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MAMORI_")}
    environ.update({"MAMORI_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "60", **extra_env})
    result = subprocess.run(
        [sys.executable, "-m", "mamori", *args],
        capture_output=True,
        text=True,
        env=environ,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert says in lines[0]
    assert "pw@" not in result.stderr


def test_version(runner: CliRunner) -> None:
    import mamori

    out, _ = run(runner, "version")
    assert out.strip() == mamori.__version__
