"""``mamori rules``: validate, parse, fields, replay. Thin: parse input, call the engine, render."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mamori.core.errors import ValidationError
from mamori.core.eventjson import from_dict
from mamori.rules import ast
from mamori.rules.engine import load_ruleset
from mamori.rules.errors import ConditionParseError
from mamori.rules.fields import ALL_FIELDS
from mamori.rules.output import falco_json
from mamori.rules.parser import parse as parse_condition
from mamori.rules.ruleset import RuleMatching

app = typer.Typer(help="Falco-compatible rules: validate, parse, list fields, replay events.")

Files = Annotated[list[Path], typer.Argument(help="Rules files, loaded in order.")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@app.command()
def validate(
    files: Files,
    as_json: Annotated[bool, typer.Option("--json", help="Diagnostics as JSON.")] = False,
) -> None:
    """Check rules files; exit 0 when there are no errors (warnings allowed)."""
    result = load_ruleset(files)
    if as_json:
        payload = {
            "ok": result.ok,
            "diagnostics": [d.to_dict() for d in result.diagnostics],
            "rules": [
                {"name": r.name, "source": r.source, "enabled": r.enabled,
                 "evttypes": r.evttypes.describe()}
                for r in result.rules
            ],
        }  # fmt: skip
        typer.echo(json.dumps(payload, indent=2))
    else:
        for d in result.diagnostics:
            typer.echo(str(d), err=True)
        status = "ok" if result.ok else f"{len(result.errors)} error(s)"
        typer.echo(f"{status}: {len(result.rules)} rule(s) compiled from {len(files)} file(s)")
    raise typer.Exit(0 if result.ok else 1)


def _parse_result(condition: Any) -> tuple[bool, dict[str, Any]]:
    if not isinstance(condition, str):
        return False, {"ok": False, "error": "expected a JSON string"}
    try:
        tree = parse_condition(condition)
    except ConditionParseError as exc:
        pos = {"line": exc.pos.line, "col": exc.pos.col}
        return False, {"ok": False, "error": exc.message, **pos}
    return True, {"ok": True, "canonical": ast.to_str(tree)}


@app.command()
def parse(
    condition: Annotated[str | None, typer.Argument(help="A condition.")] = None,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="Read one JSON string per stdin line.")
    ] = False,
) -> None:
    """Print a condition's canonical form; exit 1 if it does not parse."""
    if jsonl:
        all_ok = True
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                ok, out = False, {"ok": False, "error": f"invalid JSON: {exc.msg}"}
            else:
                ok, out = _parse_result(value)
            all_ok = all_ok and ok
            typer.echo(json.dumps(out))
        raise typer.Exit(0 if all_ok else 1)
    if condition is None:
        raise _fail("give a CONDITION or --jsonl")
    ok, out = _parse_result(condition)
    if ok:
        typer.echo(out["canonical"])
        raise typer.Exit(0)
    typer.echo(f"error: {out['line']}:{out['col']}: {out['error']}", err=True)
    raise typer.Exit(1)


@app.command()
def fields(
    as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
) -> None:
    """List every field mamori knows, with its type and whether the sensor fills it."""
    rows = [
        {"name": f.name, "source": f.source, "type": f.type.value, "arg": f.arg.value,
         "sensor": f.sensor, "description": f.desc}
        for f in ALL_FIELDS
    ]  # fmt: skip
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        arg = "[arg]" if r["arg"] != "none" else ""
        sensor = r["sensor"] or "-"
        typer.echo(f"{r['name'] + arg:45} {r['type']:8} {sensor:20} {r['description']}")


@app.command()
def replay(
    rules: Annotated[list[Path], typer.Option("--rules", help="Rules file (repeatable).")],
    events: Annotated[Path, typer.Option("--events", help="Events, one JSON per line.")],
    matching: Annotated[
        RuleMatching, typer.Option("--rule-matching", help="first or all matching rules.")
    ] = RuleMatching.FIRST,
) -> None:
    """Replay mamori event JSON lines through rules; print one Falco JSON line per match."""
    result = load_ruleset(rules, matching)
    if not result.ok:
        for d in result.errors:
            typer.echo(str(d), err=True)
        raise _fail(f"{len(result.errors)} error(s) in the rules")
    try:
        stream = events.open(encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot read {events}: {exc.strerror}") from None
    with stream:
        for n, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                event = from_dict(json.loads(line))
            except (json.JSONDecodeError, ValidationError) as exc:
                raise _fail(f"{events}:{n}: {exc}") from None
            for match in result.ruleset.match(event):
                typer.echo(json.dumps(falco_json(match), sort_keys=True))
