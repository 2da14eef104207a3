from __future__ import annotations

import subprocess

import pytest

from mamori.sensor.identity.docker import DockerClient
from mamori.sensor.response import (
    kill_process,
    pause_container,
    stop_container,
    unpause_container,
)
from mamori.sensor.sources.procfs import read_snapshot
from tests.sensor.conftest import Containers, docker


def test_kill_process_checks_identity() -> None:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        snap = read_snapshot(proc.pid)
        assert snap.start_ticks is not None
        assert not kill_process(proc.pid, start_ticks=snap.start_ticks + 1).ok  # not that one
        result = kill_process(proc.pid, start_ticks=snap.start_ticks)
        assert result.ok
        assert proc.wait(10) == -9
        assert not kill_process(proc.pid).ok  # reaped: no such process
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.docker
@pytest.mark.root
def test_pause_unpause_stop(containers: Containers) -> None:
    cid = containers.run("sleep", "600", detach=True)
    client = DockerClient()
    try:
        assert pause_container(client, cid).ok
        assert docker("inspect", "-f", "{{.State.Status}}", cid) == "paused"
        assert unpause_container(client, cid).ok
        assert stop_container(client, cid).ok
        assert docker("inspect", "-f", "{{.State.Running}}", cid) == "false"
        assert stop_container(client, cid).detail == "already done"
        assert not stop_container(client, "0" * 64).ok
    finally:
        client.close()
