"""``mamori rules`` through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mamori.cli.rules import app

RUNNER = CliRunner()
DEFAULT_RULES = Path(__file__).resolve().parents[2] / "src/mamori/rules_data/mamori_rules.yaml"


def test_validate_ok_and_json(tmp_path: Path) -> None:
    res = RUNNER.invoke(app, ["validate", str(DEFAULT_RULES)])
    assert res.exit_code == 0, res.output
    res = RUNNER.invoke(app, ["validate", "--json", str(DEFAULT_RULES)])
    payload = json.loads(res.stdout)
    assert payload["ok"] is True
    assert {r["name"] for r in payload["rules"]} >= {"mamori terminal shell in container"}


def test_validate_errors_exit_1_with_located_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- macro: m\n  condition: proc.nme = x\n")
    res = RUNNER.invoke(app, ["validate", "--json", str(bad)])
    assert res.exit_code == 1
    diags = json.loads(res.stdout)["diagnostics"]
    errors = [d for d in diags if d["level"] == "error"]
    assert [(e["code"], e["line"], e["col"]) for e in errors] == [("R001", 2, 14)]


def test_validate_missing_file_is_one_line() -> None:
    res = RUNNER.invoke(app, ["validate", "/nonexistent/rules.yaml"])
    assert res.exit_code == 1
    assert "R016" in res.output
    assert "Traceback" not in res.output


def test_parse_prints_canonical_form() -> None:
    res = RUNNER.invoke(app, ["parse", "not  a.b=1 and(c)"])
    assert res.exit_code == 0
    assert res.stdout.strip() == "(not a.b = 1) and c"
    res = RUNNER.invoke(app, ["parse", "a and"])
    assert res.exit_code == 1
    assert res.stdout == ""


def test_parse_jsonl() -> None:
    lines = "\n".join(json.dumps(c) for c in ["a or b", "a b", 42]) + "\nnot json\n"
    res = RUNNER.invoke(app, ["parse", "--jsonl"], input=lines)
    assert res.exit_code == 1
    out = [json.loads(line) for line in res.stdout.splitlines()]
    assert [o["ok"] for o in out] == [True, False, False, False]
    assert out[0]["canonical"] == "a or b"
    assert out[1]["col"] == 3


def test_fields_lists_the_catalog() -> None:
    res = RUNNER.invoke(app, ["fields", "--json"])
    names = {f["name"] for f in json.loads(res.stdout)}
    assert {"proc.name", "ka.verb", "jevt.value", "proc.is_exe_upper_layer"} <= names


def test_replay_outputs_falco_json(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    shell = {
        "kind": "process_exec", "time_ns": 1_700_000_000_000_000_000, "syscall": "execve",
        "result": "SUCCESS", "node": "n1",
        "process": {"pid": 9, "name": "bash", "exepath": "/bin/bash", "tty": 34816,
                    "pname": "containerd-shim",
                    "user": "root", "uid": 0},
        "container": {"id": "a" * 64, "name": "web", "image_repository": "nginx",
                      "image_tag": "1.27"},
        "k8s": {"namespace": "shop", "pod_name": "web-0"},
    }  # fmt: skip
    quiet = dict(shell, process=dict(shell["process"], tty=0))  # type: ignore[arg-type]
    events.write_text(json.dumps(shell) + "\n\n" + json.dumps(quiet) + "\n")
    args = ["replay", "--rules", str(DEFAULT_RULES), "--events", str(events)]
    res = RUNNER.invoke(app, args)
    assert res.exit_code == 0, res.output
    (line,) = res.stdout.splitlines()
    out = json.loads(line)
    assert out["rule"] == "mamori terminal shell in container"
    assert out["priority"] == "Notice"
    assert out["output_fields"]["container.id"] == "a" * 12
    assert "<NA>" not in out["output"]
    assert set(out) == {"hostname", "output", "output_fields", "priority", "rule", "source",
                        "tags", "time"}  # fmt: skip


def test_replay_bad_event_is_one_clear_line(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"kind": "process_exec"}\n')
    args = ["replay", "--rules", str(DEFAULT_RULES), "--events", str(events)]
    res = RUNNER.invoke(app, args)
    assert res.exit_code == 2
    assert "events.jsonl:1: event.time_ns" in res.output
    assert "Traceback" not in res.output
