"""Scenario definitions: control-plane events fire the expected detections, payloads decode to
their scripts, the victim image holds what the scripts use, containers get no network."""

from __future__ import annotations

import base64
import re
import shutil
import tarfile
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from mamori.audit.events import to_event
from mamori.simulate import image
from mamori.simulate.audit_events import SIM_ANNOTATION, fresh_events
from mamori.simulate.judge import Expect, expect
from mamori.simulate.runner import DockerTarget
from mamori.simulate.scenarios import (
    PHP_FPM,
    SCENARIOS,
    TITLES,
    WEB_USER,
    Audit,
    Exec,
    default_run,
)
from tests.audit.corpus_util import mamori_detector
from tests.conftest import unavailable


def fired_ids(step: Audit) -> set[str]:
    detector = mamori_detector()
    out: set[str] = set()
    for ev in fresh_events(step.events, datetime.now(UTC), "run"):
        for m in detector.matches(to_event(ev)):
            out |= {t.removeprefix("mamori.") for t in m.rule.tags if t.startswith("mamori.")}
    return out


def shipped_cp_ids() -> set[str]:
    text = (resources.files("mamori") / "rules_data" / "mamori_k8s_audit_rules.yaml").read_text()
    return set(re.findall(r"mamori\.(MAM-CP-\d{3})", text))


def test_control_plane_events_fire_the_expected_detections() -> None:
    sc = SCENARIOS["control-plane"]
    (step,) = sc.steps
    assert isinstance(step, Audit)
    fired = fired_ids(step)
    wanted = {expect(w).id for w in sc.expected}
    # CP-012 is an exposure detection (Service joined with the inventory), not an audit rule.
    assert wanted & shipped_cp_ids() <= fired, fired
    assert {"MAM-CP-018", "MAM-CP-019", "MAM-CP-007", "MAM-CP-014", "MAM-CP-021"} <= fired
    assert "MAM-CP-005" not in fired  # the unhealthy sample mounts /tmp: not sensitive
    assert "MAM-CP-020" not in fired  # the replicaset controller is no stolen token
    assert [expect(w).id for w in sc.must_not] == ["MAM-CP-005"]


def test_reconnaissance_replays_the_service_account_review() -> None:
    steps = [s for s in SCENARIOS["reconnaissance"].steps if isinstance(s, Audit)]
    assert fired_ids(steps[0]) == {"MAM-CP-020"}


def test_fresh_events_are_new_each_time_and_marked() -> None:
    (step,) = SCENARIOS["control-plane"].steps
    assert isinstance(step, Audit)
    now = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    a, b = fresh_events(step.events, now, "r1"), fresh_events(step.events, now)
    assert len({e["auditID"] for e in a + b}) == 2 * len(step.events)
    assert {e["stageTimestamp"] for e in a} == {"2026-01-02T03:04:05.000006Z"}
    assert {e["annotations"][SIM_ANNOTATION] for e in a} == {"r1"}
    assert not any(SIM_ANNOTATION in e["annotations"] for e in b)
    assert all(e["auditID"] == "" for e in step.events)  # templates untouched
    assert not any(SIM_ANNOTATION in e["annotations"] for e in step.events)


def test_web_shell_steps_run_base64_scripts_under_php_fpm_as_nginx() -> None:
    web = [
        s
        for sc in SCENARIOS.values()
        for s in sc.steps
        if isinstance(s, Exec) and s.argv[0] == PHP_FPM
    ]
    assert len(web) >= 6
    for step in web:
        assert step.user == WEB_USER
        assert len(step.argv) == 2
        m = re.fullmatch(r"echo (\S+) \| base64 -d \| sh", step.argv[1])
        if m is None:  # S5: one plain request
            assert step.argv[1] == "whoami"
            continue
        script = base64.b64decode(m.group(1)).decode()
        assert script.strip()


def test_network_steps_only_aim_at_addresses_that_fail_locally() -> None:
    """Every address a script names is the API server's Service address or the metadata
    endpoint; the container has no network, so each attempt fails inside it."""
    texts = []
    for sc in SCENARIOS.values():
        for s in sc.steps:
            if isinstance(s, Exec):
                m = re.fullmatch(r"echo (\S+) \| base64 -d \| sh", s.argv[-1])
                texts.append(base64.b64decode(m.group(1)).decode() if m else " ".join(s.argv))
    ips = set(re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", "\n".join(texts)))
    assert ips == {"10.96.0.1", "169.254.169.254"}


def test_every_expected_detection_has_a_title_and_the_default_run_skips_optional() -> None:
    for sc in SCENARIOS.values():
        for w in (*sc.expected, *sc.may_raise, *sc.must_not):
            e = expect(w)
            if e.id.startswith("MAM-"):
                assert e.id in TITLES, (sc.name, e.id)
    names = [s.name for s in default_run()]
    assert "ti-domain" in names  # detected on the attempt's command line
    assert "all" not in names
    assert {"test-alert", "binary-drift", "control-plane", "benign"} <= set(names)
    cat = {s.catalog for s in SCENARIOS.values() if s.catalog}
    assert cat == {f"S{n}" for n in range(10)} | {"S7f", "S7h"}


def test_drift_scenario_expects_three_verdicts_and_forbids_the_copyup() -> None:
    sc = SCENARIOS["binary-drift"]
    verdicts = {dict(expect(w).where)["drift.verdict"] for w in sc.expected}
    assert verdicts == {"drift-new", "drift-modified", "drift-deleted"}
    assert Expect("MAM-RT-040", (("proc.exepath", "/usr/bin/id"),)) in sc.must_not


@pytest.fixture(scope="module")
def simtool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        unavailable("gcc not installed (apt-get install -y gcc libc6-dev)")
    if not image.BUSYBOX.exists():
        unavailable("busybox-static not installed")
    return image.build_simtool(tmp_path_factory.mktemp("sim") / "simtool", "victim")


def test_victim_root_file_system_holds_what_the_scripts_use(simtool: Path, tmp_path: Path) -> None:
    tar = tmp_path / "rootfs.tar"
    image.rootfs_tar(tar, simtool)
    with tarfile.open(tar) as t:
        members = {m.name: m for m in t.getmembers()}
        passwd = t.extractfile("etc/passwd").read().decode()  # type: ignore[union-attr]
        token = t.extractfile(image.TOKEN_PATH).read()  # type: ignore[union-attr]
    for path in ("usr/sbin/php-fpm", "usr/bin/nmap", "usr/local/bin/fdexec", "bin/sh",
                 "bin/wget", "bin/nc", "bin/base64", "sbin/modprobe", "usr/bin/whoami",
                 "usr/bin/id", image.GIT_CREDENTIALS, image.TOKEN_PATH):  # fmt: skip
        assert path in members, path
    assert members["usr/sbin/php-fpm"].mode & 0o111
    assert not members["usr/bin/id"].mode & 0o111  # S7 b makes it executable
    assert members["etc"].mode == 0o777  # nginx creates /etc/ld.so.preload (S4)
    assert "etc/ld.so.preload" not in members
    assert "\nnginx:x:101:101:" in passwd
    assert token == image.DUMMY_TOKEN


def test_attacker_files_are_found_nowhere_in_the_victim(simtool: Path, tmp_path: Path) -> None:
    out = image.attacker_dir(tmp_path / "attacker")
    assert sorted(p.name for p in out.iterdir()) == sorted(image.ATTACKER_FILES)
    xmrig = (out / "xmrig").read_bytes()
    assert xmrig != simtool.read_bytes()
    assert xmrig != image.BUSYBOX.read_bytes()
    assert (out / "xmrig").stat().st_mode & 0o111


def test_containers_get_no_network_and_kubelet_labels(simtool: Path) -> None:
    target = DockerTarget()
    target.prepare("run1", [])
    try:
        args = target.container_args(SCENARIOS["crypto-mining"], "mamori-sim-x")
    finally:
        target.cleanup()
    assert args[:4] == ["run", "-d", "--network", "none"]
    assert "io.kubernetes.pod.namespace=mamori-sim" in args
    assert "mamori.simulation=run1" in args
    mount = args[args.index("--volume") + 1]
    assert mount.endswith(":/attacker:ro")


def test_simulation_policy_puts_its_rules_first_and_keeps_the_base() -> None:
    from mamori.drift.policy import default_policy_text, parse_policy
    from mamori.simulate.policy import simulation_policy_text

    base = default_policy_text("ignore")
    policy, diags = parse_policy(simulation_policy_text(base))
    assert policy is not None, diags
    assert [r.name for r in policy.rules] == [
        "mamori-simulate-quiet",
        "mamori-simulate",
        "alert-on-kube-system",
    ]
    assert policy.default.action == "ignore"  # the base's default stays
    assert simulation_policy_text(simulation_policy_text(base)) == simulation_policy_text(base)
