"""``--target kubernetes --manifests``: the catalog's setup as manifests, and the attacker image
serving its files (over loopback, inside a ``--network none`` container)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from mamori.simulate import image
from mamori.simulate.kubectl import as_user
from mamori.simulate.kubernetes import (
    ATTACKER,
    DENY_ALL,
    VICTIM,
    manifests,
    manifests_yaml,
    victim_pod,
)
from mamori.simulate.runner import docker
from mamori.simulate.scenarios import PHP_FPM, WEB_USER, Exec
from tests.sensor.conftest import dockerd  # noqa: F401 (fixture)


def test_manifests_follow_the_catalog_setup() -> None:
    docs = manifests("run1", "local/v:1", "local/a:1")
    kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert kinds == [
        ("Namespace", "mamori-sim"),
        ("ServiceAccount", VICTIM),
        ("NetworkPolicy", DENY_ALL),
        ("Pod", VICTIM),
        ("Pod", ATTACKER),
        ("Service", VICTIM),
        ("Service", ATTACKER),
    ]
    for d in docs:
        assert d["metadata"]["labels"]["mamori.simulation"] == "run1"
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == "mamori-sim"
    assert "securityContext" not in docs[3]["spec"]["initContainers"][0]
    sa, policy, victim, attacker = docs[1], docs[2], docs[3], docs[4]
    # the cluster's --network none: every pod of the namespace, no ingress or egress rule
    assert policy["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert sa["automountServiceAccountToken"] is True
    assert victim["spec"]["serviceAccountName"] == VICTIM
    assert victim["spec"]["securityContext"]["runAsUser"] == image.NGINX_UID
    assert attacker["spec"]["automountServiceAccountToken"] is False
    for pod in (victim, attacker):
        (c,) = pod["spec"]["containers"]
        assert c["imagePullPolicy"] == "Never"
        assert "securityContext" not in c  # never privileged
    (init,) = victim["spec"]["initContainers"]  # the attacker's files, read-only at /attacker
    assert init["image"] == "local/a:1"
    assert init["command"] == [
        "/bin/busybox", "cp", "/simulation/xmrig", "/simulation/tool", "/simulation/tool2",
        "/attacker",
    ]  # fmt: skip
    assert victim["spec"]["containers"][0]["volumeMounts"][0]["readOnly"] is True
    for svc in docs[5:]:
        assert svc["spec"]["clusterIP"] == "None"
        assert svc["spec"]["selector"] == {"app": svc["metadata"]["name"]}
    assert list(yaml.safe_load_all(manifests_yaml("run1", "local/v:1", "local/a:1"))) == docs


def test_registry_images_are_pulled_local_ones_never() -> None:
    docs = manifests("run1", "reg.example/mamori/v:1", "local/a:1")
    victim, attacker = docs[3], docs[4]
    assert victim["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert victim["spec"]["initContainers"][0]["imagePullPolicy"] == "Never"
    assert attacker["spec"]["containers"][0]["imagePullPolicy"] == "Never"


@pytest.mark.docker
@pytest.mark.root
def test_attacker_image_serves_its_files(dockerd: None) -> None:  # noqa: F811
    name = image.attacker_image(docker)
    script = (
        "httpd -p 80 -h /simulation && sleep 1 && "
        "busybox wget -q -O - http://127.0.0.1/xmrig | busybox md5sum && "
        "busybox md5sum /simulation/xmrig"
    )
    proc = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", name, "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    served, stored = (line.split()[0] for line in proc.stdout.splitlines())
    assert served == stored


@pytest.mark.docker
@pytest.mark.root
def test_the_pod_commands_work_in_the_images(dockerd: None, tmp_path: Path) -> None:  # noqa: F811
    """What a cluster would run, run by Docker: the init container's copy fills ``/attacker``,
    and a step as ``nginx`` through ``su`` (no ``-u`` in ``kubectl exec``) runs as nginx with
    php-fpm as the web shell's parent."""
    victim_name, attacker_name = image.victim_image(docker), image.attacker_image(docker)
    pod = victim_pod("p", "mamori-sim", "run1", victim_name, attacker_name)
    (init,) = pod["spec"]["initContainers"]
    shared = tmp_path / "attacker"
    shared.mkdir()
    shared.chmod(0o777)
    docker("run", "--rm", "--network", "none", "-v", f"{shared}:/attacker", attacker_name,
           *init["command"])  # fmt: skip
    assert sorted(p.name for p in shared.iterdir()) == sorted(image.ATTACKER_FILES)
    cid = docker("run", "-d", "--network", "none", "-v", f"{shared}:/attacker:ro", victim_name,
                 *pod["spec"]["containers"][0]["command"])  # fmt: skip
    try:
        script = "whoami; cat /proc/$PPID/comm; /attacker/tool >/dev/null && echo ran"
        step = Exec((PHP_FPM, script), user=WEB_USER)  # S5's form: php-fpm -> sh -c SCRIPT
        out = docker("exec", cid, *as_user(step.user, step.argv))
        as_docker_does_it = docker("exec", "-u", WEB_USER, cid, *step.argv)
    finally:
        docker("rm", "-f", cid, check=False)
    assert out.split() == ["nginx", "php-fpm", "ran"]
    assert out == as_docker_does_it
