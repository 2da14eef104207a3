"""``mamori simulate [SCENARIO...]``: play attack scenarios and check the alerts arrive."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.markup import escape
from rich.table import Table

from mamori.cli.common import console, err_console
from mamori.core.errors import ConfigError

if TYPE_CHECKING:
    from mamori.simulate.kubectl import KubernetesTarget


def _token(path: Path | None, what: str) -> str:
    if path is None:
        raise ConfigError(f"{what}: --token-file is required")
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc.strerror}") from exc
    if not token:
        raise ConfigError(f"{what}: {path} is empty")
    return token


def _print_manifests() -> None:
    import uuid

    from mamori.simulate import image
    from mamori.simulate.kubernetes import manifests_yaml
    from mamori.simulate.runner import SimulationError, docker

    try:
        victim = image.victim_image(docker)
        attacker = image.attacker_image(docker)
    except (SimulationError, image.ImageError) as exc:
        err_console.print(f"error: {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    typer.echo(manifests_yaml(uuid.uuid4().hex[:10], victim, attacker), nl=False)


def _fail(exc: Exception) -> NoReturn:
    """A run that cannot start (or go on): the message, exit 2."""
    err_console.print(f"error: {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2) from exc


def _report_cleanup(kube: KubernetesTarget, run_id: str) -> None:
    if kube.keep and kube.namespaces:
        names = " ".join(kube.namespaces)
        err_console.print(
            f"kept (--keep): run {run_id}; remove with kubectl delete namespace {names}",
            highlight=False,
            soft_wrap=True,
        )
    for problem in kube.not_removed:
        err_console.print(
            f"warning: not removed: {escape(problem)}", highlight=False, soft_wrap=True
        )


def run(
    scenarios: Annotated[
        list[str] | None, typer.Argument(help="scenario names (default: all but the optional ones)")
    ] = None,
    target: Annotated[
        str,
        typer.Option(
            help="docker (containers next to the local sensor) or kubernetes (pods on the "
            "cluster kubectl points at)"
        ),
    ] = "docker",
    server: Annotated[str, typer.Option(help="mamori server URL")] = "http://127.0.0.1:8080",
    token_file: Annotated[
        Path | None, typer.Option(help="token with the read scope (and ingest, unless given)")
    ] = None,
    ingest_token_file: Annotated[
        Path | None, typer.Option(help="token with the ingest scope (audit webhook)")
    ] = None,
    time_limit: Annotated[
        float | None,
        typer.Option(help="seconds to wait for each scenario's alerts (default: the catalog's)"),
    ] = None,
    list_only: Annotated[bool, typer.Option("--list", help="list the scenarios and exit")] = False,
    print_drift_policy: Annotated[
        bool,
        typer.Option(
            "--print-drift-policy",
            help="print a drift policy with the simulation's rules first (for mamori up "
            "--drift-policy) and exit",
        ),
    ] = False,
    manifests: Annotated[
        bool,
        typer.Option(
            "--manifests",
            help="with --target kubernetes: build the two images locally, print the setup's "
            "manifests (namespace, ServiceAccount, deny-all NetworkPolicy, pods, headless "
            "Services) and exit",
        ),
    ] = False,
    base_policy: Annotated[
        Path | None,
        typer.Option(help="with --print-drift-policy: the policy to extend (default: shipped)"),
    ] = None,
    kubectl: Annotated[
        Path | None, typer.Option(help="kubernetes: the kubectl binary (default: on PATH)")
    ] = None,
    kubeconfig: Annotated[
        Path | None, typer.Option(help="kubernetes: passed to kubectl --kubeconfig")
    ] = None,
    context: Annotated[
        str | None, typer.Option(help="kubernetes: passed to kubectl --context")
    ] = None,
    image_prefix: Annotated[
        str | None,
        typer.Option(
            help="kubernetes: registry prefix of the pushed images "
            "(<prefix>/mamori-sim-victim:<digest>; default: local, loaded into the nodes)"
        ),
    ] = None,
    victim_image: Annotated[
        str | None, typer.Option(help="kubernetes: the victim image, by full name")
    ] = None,
    attacker_image: Annotated[
        str | None, typer.Option(help="kubernetes: the attacker image, by full name")
    ] = None,
    ready_timeout: Annotated[
        float, typer.Option(help="kubernetes: seconds for each victim pod to become Ready")
    ] = 120.0,
    keep: Annotated[
        bool, typer.Option("--keep", help="kubernetes: leave the namespaces for a look")
    ] = False,
    control_plane: Annotated[
        str,
        typer.Option(
            help="synthetic: post the recorded audit events to mamori; real (kubernetes): do "
            "S9 with kubectl (privileged pod, cluster-admin binding, exec, events deleted) and "
            "judge the alerts from the cluster's audit log"
        ),
    ] = "synthetic",
) -> None:
    """Run simulation scenarios against a running mamori and its sensor.

    Each scenario starts a victim (a ``--network none`` container, or with ``--target
    kubernetes`` a pod under a deny-all NetworkPolicy), runs its steps, and waits for the
    alerts it must raise. Exit 0 only when every scenario passes, 1 when one fails, 2 when the
    run cannot start.
    """
    from mamori.simulate.judge import expect
    from mamori.simulate.runner import Client, Runner, SimulationError, Target
    from mamori.simulate.scenarios import CONTROL_PLANE_REAL, SCENARIOS, default_run, title

    if print_drift_policy:
        from mamori.simulate.policy import simulation_policy_text

        base = base_policy.read_text() if base_policy is not None else None
        try:
            text = simulation_policy_text(base)
        except ValueError as exc:
            err_console.print(f"error: {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from exc
        typer.echo(text, nl=False)
        return
    if list_only:
        for s in SCENARIOS.values():
            extra = f" (optional: {s.note})" if s.optional else ""
            console.print(
                f"{s.catalog or '-':<3} {s.name:<23} {escape(s.description)}{escape(extra)}",
                highlight=False,
                soft_wrap=True,
            )
        return
    if target == "kubernetes" and manifests:
        _print_manifests()
        return
    if target not in ("docker", "kubernetes"):
        err_console.print(
            f"error: unknown target {escape(target)!r} (docker, kubernetes)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    if control_plane not in ("synthetic", "real") or (
        control_plane == "real" and target != "kubernetes"
    ):
        err_console.print(
            f"error: --control-plane {escape(control_plane)!r}: synthetic, or real with "
            "--target kubernetes",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    chosen = []
    for name in scenarios or []:
        if name not in SCENARIOS:
            known = ", ".join(SCENARIOS)
            err_console.print(f"error: unknown scenario {escape(name)!r} ({known})")
            raise typer.Exit(2)
        chosen.append(SCENARIOS[name])
    chosen = chosen or default_run()
    if control_plane == "real":
        chosen = [CONTROL_PLANE_REAL if s.name == CONTROL_PLANE_REAL.name else s for s in chosen]
    if time_limit is not None:
        chosen = [dataclasses.replace(s, time_limit_s=time_limit) for s in chosen]
    read = _token(token_file, "alerts")
    ingest = _token(ingest_token_file, "audit webhook") if ingest_token_file else read
    kube = None
    if target == "kubernetes":
        from mamori.simulate.kubectl import Images, Kubectl, KubernetesTarget

        try:
            kube = KubernetesTarget(
                Kubectl(str(kubectl) if kubectl else None, kubeconfig, context),
                Images.pick(image_prefix, victim_image, attacker_image),
                ready_timeout_s=ready_timeout,
                keep=keep,
            )
        except SimulationError as exc:
            _fail(exc)
    to: Target | None = kube
    client = Client(server, read, ingest)
    runner = Runner(client, log=lambda m: err_console.print(escape(m)), target=to)
    try:
        results = runner.run(chosen)
    except SimulationError as exc:
        _fail(exc)
    finally:
        client.close()
        if kube is not None:
            _report_cleanup(kube, runner.run_id)

    table = Table(title="mamori simulate")
    for col in ("scenario", "expected", "raised", "missing", "unexpected", "time to alert"):
        table.add_column(col)
    for r in results:
        status = "[green]pass[/]" if r.passed else "[red]FAIL[/]"
        table.add_row(
            f"{r.scenario} {status}",
            escape("\n".join(expect(w).label for w in r.expected) or "(nothing)"),
            escape("\n".join(r.raised) or "-"),
            escape("\n".join(expect(w).label for w in r.missing) or "-"),
            escape("\n".join(r.unexpected) or "-"),
            "-" if r.time_to_alert_s is None else f"{r.time_to_alert_s:.1f}s",
        )
    console.print(table)
    for r in results:
        if r.error:
            console.print(
                f"{r.scenario}: error: {escape(r.error)}", highlight=False, soft_wrap=True
            )
        for want in r.missing:
            line = f"{r.scenario}: missing alert: {expect(want).label} ({title(want)})"
            console.print(escape(line), highlight=False, soft_wrap=True)
        for label in r.unexpected:
            console.print(
                f"{r.scenario}: unexpected alert: {escape(label)}", highlight=False, soft_wrap=True
            )
    if not all(r.passed for r in results):
        raise typer.Exit(1)
