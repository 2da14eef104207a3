"""``mamori drift``: simulate a policy on recorded execs, check a policy, show stats/defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mamori.cli.common import settings
from mamori.core.errors import ValidationError
from mamori.core.eventjson import from_dict
from mamori.core.events import Event
from mamori.drift.policy import default_policy_text, load_policy
from mamori.drift.simulate import simulate as run_simulation

app = typer.Typer(help="Binary drift: policy dry runs, checks, counters.")
STATE_FILE = "drift-state.json"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _events(path: Path) -> list[Event]:
    out: list[Event] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(from_dict(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise _fail(f"{path}:{n}: {exc}") from None
    return out


@app.command()
def check(policy: Annotated[Path, typer.Argument(help="Drift policy YAML.")]) -> None:
    """Validate a policy; every mistake is printed as file:line:col (exit 2 on any)."""
    compiled, diags = load_policy(policy)
    for d in diags:
        typer.echo(str(d), err=True)
    if compiled is None:
        raise typer.Exit(2)
    typer.echo(f"{policy}: ok, {len(compiled.rules)} rule(s) + default, {compiled.revision}")


@app.command()
def simulate(
    policy: Annotated[Path, typer.Option("--policy", help="Drift policy YAML to try.")],
    events: Annotated[Path, typer.Option("--events", help="mamori sensor --record output.")],
    mode: Annotated[str, typer.Option(help="block or detect: the sensor mode to assume")] = "block",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Which rule each recorded drift exec hits and the action; per-rule hits and the diff."""
    compiled, diags = load_policy(policy)
    if compiled is None:
        for d in diags:
            typer.echo(str(d), err=True)
        raise _fail(f"{len(diags)} error(s) in {policy}")
    if mode not in ("block", "detect"):
        raise _fail("--mode is block or detect")
    sim = run_simulation(compiled, _events(events), "block" if mode == "block" else "detect")
    if as_json:
        payload = {
            "execs": [_row(e) for e in sim.execs],
            "hits": dict(sim.hits),
            "outcomes": dict(sim.outcomes),
            "changes": dict(sim.changes()),
            "skipped": sim.skipped,
        }
        typer.echo(json.dumps(payload, indent=1, sort_keys=True))
        return
    for e in sim.execs:
        typer.echo(
            f"{e.container or '-'}\t{e.namespace or '-'}\t{e.path}\t{e.verdict}\t"
            f"rule={e.rule}\taction={e.action}\t-> {e.action_taken}"
        )
    typer.echo("hits per rule:")
    for name, count in sim.hits.items():
        typer.echo(f"  {count:6d}  {name}")
    for change, count in sorted(sim.changes().items()):
        typer.echo(f"{count} exec(s) would change: {change}")
    typer.echo(f"{len(sim.execs)} drift exec(s), {sim.skipped} other event(s) skipped")


def _row(e: object) -> dict[str, object]:
    return {name: getattr(e, name) for name in getattr(e, "__slots__", ())}


@app.command()
def stats(
    state: Annotated[
        Path | None, typer.Option(help="sensor state file (default: DATA_DIR/drift-state.json)")
    ] = None,
) -> None:
    """The policy in force on the local sensor, rules in order with their hit counters."""
    path = state or settings().data_dir / STATE_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise _fail(f"no sensor drift state at {path}: {exc}") from None
    typer.echo(json.dumps(data, indent=1, sort_keys=True))


@app.command("default-policy")
def default_policy(
    defender_defaults: Annotated[
        bool, typer.Option(help="Defender's variant: the catch-all rule ignores")
    ] = False,
) -> None:
    """Print the shipped policy (edit it and pass it to mamori sensor --drift-policy)."""
    typer.echo(default_policy_text("ignore" if defender_defaults else "alert"), nl=False)
