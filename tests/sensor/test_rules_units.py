"""Connect-line parsing, NSpid, rules loading errors and the sensor CLI's rule options (no root)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mamori.cli.app import app
from mamori.core.errors import ConfigError
from mamori.core.events import NetworkInfo
from mamori.sensor.rules_detector import DEFAULT_RULES, load_rules
from mamori.sensor.sources.connect import parse_connect, task_comm
from mamori.sensor.sources.procfs import parse_vpid

V4 = (
    b"        nc-1234    (   1200) [001] .....  2976.992213: inet_sock_set_state: family=AF_INET "
    b"protocol=IPPROTO_TCP sport=0 dport=9 saddr=127.0.0.1 daddr=10.1.2.3 "
    b"saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:10.1.2.3 oldstate=TCP_CLOSE newstate=TCP_SYN_SENT"
)
V6 = (
    b"  a-b (1) [x]-77    (-----) [000] .....  1.0: inet_sock_set_state: family=AF_INET6 "
    b"protocol=IPPROTO_TCP sport=4242 dport=443 saddr=0.0.0.0 daddr=0.0.0.0 saddrv6=::1 "
    b"daddrv6=2001:db8::1 oldstate=TCP_CLOSE newstate=TCP_SYN_SENT"
)


def test_parse_connect_v4_uses_tgid_and_drops_unset_port() -> None:
    assert parse_connect(V4) == (
        1200,
        NetworkInfo("tcp", dst_ip="10.1.2.3", dst_port=9, src_ip="127.0.0.1", src_port=None),
    )


def test_parse_connect_v6_odd_comm_and_unknown_tgid() -> None:
    assert parse_connect(V6) == (
        77,
        NetworkInfo("tcp", dst_ip="2001:db8::1", dst_port=443, src_ip="::1", src_port=4242),
    )


def test_the_comm_of_a_trace_line_for_a_process_already_gone() -> None:
    assert task_comm(V4) == "nc"
    assert task_comm(V6) == "a-b (1) [x]"  # the last "-<tid> (<tgid>) [cpu]" group ends it
    assert task_comm(b"CPU:1 [LOST 3 EVENTS]") is None


def test_parse_connect_ignores_other_lines() -> None:
    assert parse_connect(V4.replace(b"newstate=TCP_SYN_SENT", b"newstate=TCP_CLOSE")) is None
    assert parse_connect(b"CPU:1 [LOST 3 EVENTS]") is None
    assert parse_connect(b"x-1 (1) [0] ...: sched_process_exec: filename=/bin/sh") is None


def test_vpid_is_the_innermost_namespace_pid() -> None:
    assert parse_vpid(b"Name:\tsh\nNSpid:\t4242\t7\t1\nNSpgid:\t1\n") == 1
    assert parse_vpid(b"Name:\tsh\nNSpid:\t4242\n") == 4242
    assert parse_vpid(b"Name:\tsh\n") is None


def test_default_rules_load() -> None:
    names = {r.name for r in load_rules([DEFAULT_RULES]).rules}
    assert "mamori terminal shell in container" in names


def test_rules_errors_are_one_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "- rule: bad\n  desc: d\n  condition: proc.nme = x\n  output: o\n  priority: INFO\n"
    )
    with pytest.raises(ConfigError, match=r"bad.yaml:3:\d+: .*unknown field 'proc.nme'"):
        load_rules([bad])
    with pytest.raises(ConfigError, match="does not exist"):
        load_rules([tmp_path / "missing.yaml"])


def test_sensor_cli_invalid_rules_exit_2_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- rule: bad\n  desc: d\n  condition: (\n  output: o\n  priority: INFO\n")
    res = CliRunner().invoke(app, ["sensor", "--rules", str(bad), "--duration", "0"])
    # The typer app raises ConfigError; mamori.cli.app.main turns it into exit 2 + one line.
    assert isinstance(res.exception, ConfigError)
    assert len(str(res.exception).splitlines()) == 1
    assert "bad.yaml:3" in str(res.exception)


def test_sensor_cli_rejects_rules_with_another_detector(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["sensor", "--detector", "none", "--rules", str(DEFAULT_RULES), "--duration", "0"]
    )
    assert isinstance(res.exception, ConfigError)


def test_sensor_command_invalid_rules_exit_status_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- rule: bad\n  desc: d\n  condition: (\n  output: o\n  priority: INFO\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "mamori", "sensor", "--rules", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: invalid rules:")


def test_rules_decide_which_optional_proc_reads_happen() -> None:
    from mamori.sensor.rules_detector import RulesDetector
    from mamori.sensor.sources.procfs import ALL_PARTS, parts_for, read_snapshot

    fields = RulesDetector(load_rules([DEFAULT_RULES])).fields
    assert {"proc.name", "proc.tty", "user.name", "fd.sport"} <= fields
    assert parts_for(fields) == {"status"}  # mamori's rules use neither cwd nor loginuid
    assert parts_for(None) == ALL_PARTS
    snap = read_snapshot(os.getpid(), parts=frozenset({"status"}))
    assert snap.uid == os.getuid()
    assert snap.cwd is None
    assert snap.loginuid is None
    assert read_snapshot(os.getpid()).cwd == os.getcwd()
