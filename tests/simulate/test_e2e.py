"""``mamori simulate`` against a real ``mamori up`` (server + local sensor) on Docker."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mamori.drift.policy import default_policy_text
from mamori.simulate import image
from mamori.simulate.runner import Client, Runner, docker
from mamori.simulate.scenarios import DRIFT_RULE, SCENARIOS, default_run
from tests.simulate.conftest import Up, mamori

pytestmark = [pytest.mark.docker, pytest.mark.root]


def simulate(up: Up, *args: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
        "COLUMNS": "200",
    }
    r = mamori("simulate", *args, "--server", up.url, "--token-file", str(up.token_file), env=env)
    return r.returncode, r.stdout + r.stderr


def test_every_scenario_passes_against_mamori_up(mamori_up: Callable[..., Up]) -> None:
    """The acceptance run: ``mamori simulate`` (all but the optional scenarios)."""
    up = mamori_up()
    code, out = simulate(up)
    assert code == 0, out + up.log.read_text()[-2000:]
    assert "missing alert" not in out
    assert "unexpected alert" not in out
    for sc in default_run():
        assert sc.name in out


def test_drift_and_shell_scenarios_pass_with_todays_sensor(mamori_up: Callable[..., Up]) -> None:
    """S7 (drift-new, image-copyup raising nothing, drift-modified, drift-deleted), the
    terminal shell and the benign workload need no signal beyond exec events."""
    up = mamori_up()
    code, out = simulate(up, "binary-drift", "terminal-shell", "benign")
    assert code == 0, out + up.log.read_text()[-2000:]
    assert "missing alert" not in out


def test_drift_ignored_by_policy_is_a_missing_alert(
    mamori_up: Callable[..., Up], tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        default_policy_text("ignore").replace("    action: alert\n", "    action: ignore\n")
    )
    assert "action: alert" not in policy.read_text()
    up = mamori_up("--drift-policy", str(policy))
    assert f"drift policy {policy}" in up.log.read_text().replace("\n", "")
    code, out = simulate(up, "binary-drift", "--time-limit", "10")
    assert code == 1, out
    for verdict in ("drift-new", "drift-modified", "drift-deleted"):
        line = f"binary-drift: missing alert: MAM-RT-040 [drift.verdict={verdict}] ({DRIFT_RULE})"
        assert line in out


class InspectingRunner(Runner):
    """Records each container's network mode, and what a connect attempt from it gives,
    before the runner removes it."""

    modes: dict[str, str]
    connects: dict[str, subprocess.CompletedProcess[str]]

    def cleanup(self) -> None:
        self.modes = {
            cid: json.loads(docker("inspect", cid))[0]["HostConfig"]["NetworkMode"]
            for cid in self.started
        }
        self.connects = {
            cid: subprocess.run(
                ["docker", "exec", cid, "nc", "-w", "1", "169.254.169.254", "80"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            for cid in self.started
        }
        super().cleanup()


def test_every_container_has_no_network(mamori_up: Callable[..., Up]) -> None:
    up = mamori_up()
    token = up.token_file.read_text().strip()
    client = Client(up.url, token, token)
    runner = InspectingRunner(client)
    with_containers = [
        dataclasses.replace(s, time_limit_s=1.0, settle_s=0.0)
        for s in SCENARIOS.values()
        if s.needs_container
    ]
    try:
        results = runner.run(with_containers)
    finally:
        client.close()
    assert [r.error for r in results] == [None] * len(results)
    assert len(runner.modes) == len(with_containers)
    assert set(runner.modes.values()) == {"none"}
    for proc in runner.connects.values():
        assert proc.returncode != 0
        assert "Network is unreachable" in proc.stderr
    left = docker("ps", "-aq", "--filter", f"label=mamori.simulation={runner.run_id}")
    assert left == ""


def test_drift_policy_parts_with_the_simulation_policy(
    mamori_up: Callable[..., Up], tmp_path: Path
) -> None:
    """S7 f (allow-listed path: nothing, another path alerts) and h (ignore rule: nothing),
    under ``mamori up --drift-policy`` made by ``mamori simulate --print-drift-policy``."""
    made = mamori(
        "simulate",
        "--print-drift-policy",
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")},
    )
    assert made.returncode == 0, made.stderr
    policy = tmp_path / "sim-policy.yaml"
    policy.write_text(made.stdout)
    up = mamori_up("--drift-policy", str(policy))
    code, out = simulate(up, "drift-allowlist", "drift-ignored", "binary-drift")
    assert code == 0, out + up.log.read_text()[-2000:]
    assert "missing alert" not in out
    assert "unexpected alert" not in out


def test_kubernetes_target_over_docker_passes(
    mamori_up: Callable[..., Up], docker_kubectl: Path
) -> None:
    """The Kubernetes target's pods, exec steps (``su`` for nginx, ``-i -t`` for the terminal)
    and init-container copy, on a "cluster" whose kubelet is Docker (``docker_kubectl``): the
    same alerts arrive as in Docker mode."""
    image.victim_image(docker)
    image.attacker_image(docker)
    up = mamori_up()
    code, out = simulate(
        up, "--target", "kubernetes", "--kubectl", str(docker_kubectl),
        "benign", "web-shell", "crypto-mining", "binary-drift", "terminal-shell",
    )  # fmt: skip
    assert code == 0, out + up.log.read_text()[-2000:]
    assert "missing alert" not in out
    assert "unexpected alert" not in out
    assert docker("ps", "-aq", "--filter", "label=io.kubernetes.pod.namespace=mamori-sim") == ""
