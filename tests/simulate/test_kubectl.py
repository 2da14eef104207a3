"""``--target kubernetes`` with a fake ``kubectl`` (no cluster here): the exact command
sequence, user switching without a shell, cleanup on every way out, the setup errors, and the
judging loop end to end against a live server."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from mamori.cli.app import app
from mamori.simulate.judge import expect
from mamori.simulate.kubectl import Images, Kubectl, KubernetesTarget
from mamori.simulate.runner import Client, Runner
from mamori.simulate.scenarios import PHP_FPM, SCENARIOS, web_shell
from tests.conftest import LiveServer
from tests.simulate.conftest import FakeKubectl

IMAGES = ["--victim-image", "reg.example/v:1", "--attacker-image", "reg.example/a:1"]
KUBE = ["--kubeconfig", "/tmp/kc", "--context", "kind-sim"]


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """The store is not under test here: SQLite only."""
    return sqlite_url


def simulate(server: LiveServer, tmp_path: Path, *args: str) -> Any:
    token = tmp_path / "token"
    token.write_text(server.tokens.all)
    # A wide terminal: the table's rows are asserted whole (at 80 columns Rich cuts names).
    return CliRunner(env={"COLUMNS": "200"}).invoke(
        app,
        ["simulate", "--target", "kubernetes", "--server", server.url, "--token-file",
         str(token), *IMAGES, *args],
    )  # fmt: skip


def verbs(fake: FakeKubectl) -> list[list[str]]:
    """Each call's argv without the global options."""
    out = []
    for argv in fake.argvs():
        while argv and argv[0] in ("--kubeconfig", "--context"):
            argv = argv[2:]
        out.append(argv)
    return out


def applied(fake: FakeKubectl) -> list[dict[str, Any]]:
    return [
        doc
        for call in fake.calls()
        if call["stdin"]
        for doc in yaml.safe_load_all(str(call["stdin"]))
    ]


def test_the_command_sequence(
    fake_kubectl: FakeKubectl, live_server: LiveServer, tmp_path: Path
) -> None:
    r = simulate(live_server, tmp_path, "web-shell", "terminal-shell", "--time-limit", "0.5", *KUBE)
    assert r.exit_code == 1, r.output  # no sensor here: the web shell's alert is missing
    for argv in fake_kubectl.argvs():
        assert argv[:4] == KUBE  # passed through, before the verb
    docs = applied(fake_kubectl)
    run_id = docs[0]["metadata"]["labels"]["mamori.simulation"]
    shell_pod = f"mamori-sim-web-shell-{run_id}"
    tty_pod = f"mamori-sim-terminal-shell-{run_id}"
    ready = "--for=condition=Ready"
    cid = 'jsonpath={.status.containerStatuses[?(@.name=="victim")].containerID}'
    assert verbs(fake_kubectl) == [
        ["get", "namespace", "mamori-sim", "--ignore-not-found", "-o", "name"],
        ["apply", "-f", "-"],
        ["apply", "-f", "-"],
        ["wait", "-n", "mamori-sim", ready, f"pod/{shell_pod}", "--timeout=10s"],
        ["get", "pod", shell_pod, "-n", "mamori-sim", "-o", cid],
        ["exec", "-n", "mamori-sim", shell_pod, "-c", "victim", "--",
         "su", "-s", "/bin/sh", "nginx", "-c", 'exec "$0" "$@"', PHP_FPM, "whoami"],
        ["apply", "-f", "-"],
        ["wait", "-n", "mamori-sim", ready, f"pod/{tty_pod}", "--timeout=10s"],
        ["get", "pod", tty_pod, "-n", "mamori-sim", "-o", cid],
        ["exec", "-i", "-t", "-n", "mamori-sim", tty_pod, "-c", "victim", "--", "sh"],
        ["delete", "namespace", "mamori-sim", "--wait=false", "--ignore-not-found"],
    ]  # fmt: skip
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Namespace", "mamori-sim"),
        ("ServiceAccount", "mamori-sim-victim"),
        ("NetworkPolicy", "mamori-sim-deny-all"),
        ("Pod", shell_pod),
        ("Pod", tty_pod),
    ]
    for d in docs:
        assert d["metadata"]["labels"]["mamori.simulation"] == run_id
    policy = docs[2]["spec"]
    assert policy == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}  # no rule: deny
    for pod in docs[3:]:
        spec = pod["spec"]
        assert spec["serviceAccountName"] == "mamori-sim-victim"
        (victim,) = spec["containers"]
        (init,) = spec["initContainers"]
        assert (victim["name"], victim["image"]) == ("victim", "reg.example/v:1")
        assert victim["imagePullPolicy"] == "IfNotPresent"  # a registry name: pulled
        assert "securityContext" not in victim
        assert "securityContext" not in spec
        assert victim["volumeMounts"] == [
            {"name": "attacker", "mountPath": "/attacker", "readOnly": True}
        ]
        assert init["image"] == "reg.example/a:1"
        assert init["command"][-1] == "/attacker"
        assert "hostNetwork" not in spec


def test_a_web_shell_payload_is_one_argv_element(
    fake_kubectl: FakeKubectl, live_server: LiveServer
) -> None:
    """The payload (pipes, quotes, base64) reaches kubectl as one argv element: no shell on
    this side splits or expands it."""
    step = web_shell("echo 'a b' | base64 -d | sh; echo $HOME > /tmp/x")
    target = KubernetesTarget(Kubectl(), Images("v:1", "a:1"))
    target.prepare("run1", [SCENARIOS["web-shell"]])
    try:
        victim = target.start(SCENARIOS["web-shell"], "mamori-sim-web-shell-run1")
        target.exec(victim, step)
    finally:
        target.cleanup()
    exec_argv = next(a for a in fake_kubectl.argvs() if a[0] == "exec")
    assert exec_argv[-2:] == list(step.argv)
    assert victim.container_id is not None
    assert len(victim.container_id) == 64


def test_pod_not_ready_is_a_setup_error_with_the_reasons_and_cleans_up(
    fake_kubectl: FakeKubectl,
    live_server: LiveServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_FAIL", "wait")
    r = simulate(live_server, tmp_path, "web-shell", "benign", "--ready-timeout", "5")
    assert r.exit_code == 2, r.output
    assert "(--ready-timeout 5): error: timed out waiting for the condition" in r.output
    assert "waiting: ErrImageNeverPull" in r.output  # not "Completed" (the init container)
    assert "kind load docker-image" in r.output
    assert "Container image is not present with pull policy of Never" in r.output  # describe
    calls = verbs(fake_kubectl)
    assert not [c for c in calls if c[0] == "exec"]
    waits = [c for c in calls if c[0] == "wait"]
    assert len(waits) == 1  # ErrImageNeverPull: no use waiting out the 5 s
    assert waits[0][-1] == "--timeout=5s"
    assert calls[-2][:2] == ["describe", "pod"]
    assert calls[-1] == ["delete", "namespace", "mamori-sim", "--wait=false", "--ignore-not-found"]


def test_a_pod_still_being_created_is_waited_for(
    fake_kubectl: FakeKubectl, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_FAIL", "slow")
    client = Client(live_server.url, live_server.tokens.all, live_server.tokens.all)
    target = KubernetesTarget(Kubectl(), Images("v:1", "a:1"), ready_timeout_s=25)
    scenario = dataclasses.replace(SCENARIOS["benign"], settle_s=0.0)
    try:
        (result,) = Runner(client, target=target).run([scenario])
    finally:
        client.close()
    assert result.error is None
    calls = verbs(fake_kubectl)
    assert [c[-1] for c in calls if c[0] == "wait"] == ["--timeout=10s", "--timeout=10s"]
    assert len([c for c in calls if c[0] == "exec"]) == 3  # the three benign steps ran


def test_a_failed_exec_fails_its_scenario_and_cleans_up(
    fake_kubectl: FakeKubectl,
    live_server: LiveServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_FAIL", "exec")
    r = simulate(live_server, tmp_path, "benign", "--time-limit", "0.5")
    assert r.exit_code == 1, r.output
    assert "benign: error: kubectl exec mamori-sim/mamori-sim-benign-" in r.output
    assert 'pods "x" not found' in r.output
    assert verbs(fake_kubectl)[-1][:3] == ["delete", "namespace", "mamori-sim"]


def test_a_step_failing_in_the_container_is_not_an_error(
    fake_kubectl: FakeKubectl, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``command terminated with exit code N``: the step ran (scripts may fail), as with
    ``docker exec``; only kubectl's own failures are errors."""
    monkeypatch.setenv("FAKE_KUBECTL_FAIL", "remote")
    client = Client(live_server.url, live_server.tokens.all, live_server.tokens.all)
    target = KubernetesTarget(Kubectl(), Images("v:1", "a:1"))
    try:
        scenario = dataclasses.replace(SCENARIOS["web-shell"], time_limit_s=0.5)
        (result,) = Runner(client, target=target).run([scenario])
    finally:
        client.close()
    assert result.error is None
    assert [expect(w).label for w in result.missing] == ["MAM-RT-034"]


def test_ctrl_c_during_a_step_still_deletes_the_namespace(
    fake_kubectl: FakeKubectl, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_FAIL", "sigint")  # the fake interrupts us during exec
    client = Client(live_server.url, live_server.tokens.all, live_server.tokens.all)
    target = KubernetesTarget(Kubectl(), Images("v:1", "a:1"))
    try:
        with pytest.raises(KeyboardInterrupt):
            Runner(client, target=target).run([SCENARIOS["benign"]])
    finally:
        client.close()
    calls = verbs(fake_kubectl)
    assert calls[-1][:3] == ["delete", "namespace", "mamori-sim"]
    assert len([c for c in calls if c[0] == "exec"]) == 1  # stopped at the first step


def test_keep_leaves_the_namespace_and_says_how_to_remove_it(
    fake_kubectl: FakeKubectl, live_server: LiveServer, tmp_path: Path
) -> None:
    r = simulate(live_server, tmp_path, "benign", "--time-limit", "0.5", "--keep")
    assert r.exit_code == 0, r.output
    assert not [c for c in verbs(fake_kubectl) if c[0] == "delete"]
    assert "remove with kubectl delete namespace mamori-sim" in r.output


def test_drift_ignored_gets_its_own_namespace(
    fake_kubectl: FakeKubectl, live_server: LiveServer, tmp_path: Path
) -> None:
    r = simulate(live_server, tmp_path, "drift-ignored", "--time-limit", "0.5")
    assert r.exit_code in (0, 1), r.output
    calls = verbs(fake_kubectl)
    assert calls[0] == [
        "get", "namespace", "mamori-sim", "mamori-sim-quiet", "--ignore-not-found", "-o", "name",
    ]  # fmt: skip
    assert any(c[:3] == ["exec", "-n", "mamori-sim-quiet"] for c in calls)
    deleted = [c[2] for c in calls if c[0] == "delete"]
    assert deleted == ["mamori-sim-quiet", "mamori-sim"]
    kinds = [(d["kind"], d["metadata"].get("namespace")) for d in applied(fake_kubectl)]
    assert ("NetworkPolicy", "mamori-sim-quiet") in kinds


def test_kubectl_missing(
    fake_kubectl: FakeKubectl,
    live_server: LiveServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    r = simulate(live_server, tmp_path, "benign", "--kubectl", str(tmp_path / "nope"))
    assert r.exit_code == 2
    assert f"kubectl not found ({tmp_path / 'nope'})" in r.output
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    r = simulate(live_server, tmp_path, "benign")
    assert r.exit_code == 2
    assert "kubectl not found (on PATH): install it or pass --kubectl PATH" in r.output
    assert fake_kubectl.calls() == []


def test_cluster_unreachable(
    fake_kubectl: FakeKubectl,
    live_server: LiveServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_FAIL", "cluster")
    r = simulate(live_server, tmp_path, "benign", "--kubectl", str(fake_kubectl.path))
    assert r.exit_code == 2
    assert "cannot reach the cluster (kubectl get namespace)" in r.output
    assert "127.0.0.1:6443 was refused" in r.output
    assert [c[0] for c in verbs(fake_kubectl)] == ["get"]  # nothing made, nothing deleted


def test_an_earlier_runs_namespace_is_not_touched(
    fake_kubectl: FakeKubectl,
    live_server: LiveServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_EXISTING", "mamori-sim")
    r = simulate(live_server, tmp_path, "benign")
    assert r.exit_code == 2
    assert "namespace mamori-sim exists (an earlier run, or --keep)" in r.output
    assert [c[0] for c in verbs(fake_kubectl)] == ["get"]


def test_the_loop_runs_end_to_end_and_reports_missing_alerts(
    fake_kubectl: FakeKubectl, live_server: LiveServer, tmp_path: Path
) -> None:
    """No sensor watches the (fake) pods: the runtime scenarios miss their alerts and the
    control-plane one, posted to the live server, passes; exit 1 with the table."""
    r = simulate(live_server, tmp_path, "web-shell", "benign", "control-plane", "--time-limit", "8")
    assert r.exit_code == 1, r.output
    assert "mamori simulate" in r.output  # the table's title
    assert "web-shell: missing alert: MAM-RT-034 (Possible malicious web shell)" in r.output
    assert "benign pass" in r.output
    assert "control-plane pass" in r.output
    assert "control-plane: missing" not in r.output


def test_real_control_plane_actions_and_their_cleanup(
    fake_kubectl: FakeKubectl, live_server: LiveServer, tmp_path: Path
) -> None:
    """S9 with kubectl: privileged pod (never scheduled), cluster-admin binding deleted right
    after the exec, events deleted; the bindings deleted by label again at the end. No audit
    log reaches the live server here: the four detections are missing."""
    r = simulate(
        live_server, tmp_path, "control-plane", "--control-plane", "real", "--time-limit", "0.5"
    )
    assert r.exit_code == 1, r.output
    for want in ("MAM-CP-018", "MAM-CP-019", "MAM-CP-021", "MAM-CP-014"):
        assert f"control-plane: missing alert: {want} " in r.output
    docs = applied(fake_kubectl)
    run_id = docs[0]["metadata"]["labels"]["mamori.simulation"]
    pod = f"mamori-sim-control-plane-{run_id}"
    binding = f"mamori-sim-admin-{run_id}"
    calls = verbs(fake_kubectl)
    assert calls[5:] == [
        ["apply", "-f", "-"],
        ["apply", "-f", "-"],
        ["exec", "-n", "mamori-sim", pod, "-c", "victim", "--", "true"],
        ["delete", "clusterrolebinding", binding, "--ignore-not-found"],
        ["delete", "events", "--all", "-n", "mamori-sim"],
        ["delete", "clusterrolebinding", "-l", f"mamori.simulation={run_id}",
         "--ignore-not-found"],
        ["delete", "namespace", "mamori-sim", "--wait=false", "--ignore-not-found"],
    ]  # fmt: skip
    priv, crb = docs[-2], docs[-1]
    assert priv["metadata"]["name"] == f"mamori-sim-priv-{run_id}"
    assert priv["spec"]["containers"][0]["securityContext"] == {"privileged": True}
    assert priv["spec"]["nodeSelector"] == {"mamori.simulation/never-scheduled": "true"}
    assert crb["kind"] == "ClusterRoleBinding"
    assert crb["metadata"] == {"name": binding, "labels": {"mamori.simulation": run_id}}
    assert crb["roleRef"]["name"] == "cluster-admin"
    assert crb["subjects"] == [
        {"kind": "ServiceAccount", "name": "mamori-sim-victim", "namespace": "mamori-sim"}
    ]


def test_the_binding_is_deleted_when_the_exec_fails(
    fake_kubectl: FakeKubectl,
    live_server: LiveServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_FAIL", "exec")
    r = simulate(live_server, tmp_path, "control-plane", "--control-plane", "real")
    assert r.exit_code == 1, r.output
    assert "control-plane: error: kubectl exec" in r.output
    deletes = [c[:3] for c in verbs(fake_kubectl) if c[0] == "delete"]
    run_id = applied(fake_kubectl)[0]["metadata"]["labels"]["mamori.simulation"]
    assert deletes == [
        ["delete", "clusterrolebinding", f"mamori-sim-admin-{run_id}"],
        ["delete", "clusterrolebinding", "-l"],
        ["delete", "namespace", "mamori-sim"],
    ]


def test_real_control_plane_needs_kubernetes(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("x")
    r = CliRunner().invoke(app, ["simulate", "--control-plane", "real", "--token-file", str(token)])
    assert r.exit_code == 2
    assert "real with --target kubernetes" in r.output
