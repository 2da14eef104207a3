"""``mamori simulate`` against a real ``mamori up`` (server + local sensor) on Docker."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from mamori.drift.policy import default_policy_text
from mamori.simulate.runner import Client, Runner, docker
from mamori.simulate.scenarios import DRIFT_RULE, SCENARIOS
from tests.simulate.conftest import Up, mamori

pytestmark = [pytest.mark.docker, pytest.mark.root]


def simulate(up: Up, *names: str) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    r = mamori("simulate", *names, "--server", up.url, "--token-file", str(up.token_file), env=env)
    return r.returncode, r.stdout + r.stderr


def test_scenarios_pass_against_mamori_up(mamori_up: Callable[..., Up]) -> None:
    up = mamori_up()
    code, out = simulate(up, "binary-drift", "benign", "terminal-shell", "control-plane")
    assert code == 0, out + up.log.read_text()[-2000:]
    assert "missing alert" not in out
    for name in ("binary-drift", "benign", "terminal-shell", "control-plane"):
        assert name in out


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
    code, out = simulate(up, "binary-drift")
    assert code == 1, out
    assert f"missing alert: {DRIFT_RULE}" in out


class InspectingRunner(Runner):
    """Records each container's network mode before the runner removes it."""

    modes: dict[str, str]

    def cleanup(self) -> None:
        self.modes = {
            cid: json.loads(docker("inspect", cid))[0]["HostConfig"]["NetworkMode"]
            for cid in self.started
        }
        super().cleanup()


def test_every_container_has_no_network(mamori_up: Callable[..., Up]) -> None:
    up = mamori_up()
    token = up.token_file.read_text().strip()
    client = Client(up.url, token, token)
    runner = InspectingRunner(client)
    try:
        results = runner.run([SCENARIOS["binary-drift"], SCENARIOS["benign"]])
    finally:
        client.close()
    assert all(r.passed for r in results), results
    assert len(runner.modes) == 2
    assert set(runner.modes.values()) == {"none"}
    left = docker("ps", "-aq", "--filter", f"label=mamori.simulation={runner.run_id}")
    assert left == ""
