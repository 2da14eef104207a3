"""``--target kubernetes``: the manifests (``--manifests`` prints the catalog's setup; the run
applies one victim pod per scenario through ``mamori.simulate.kubectl``).

Namespace ``mamori-sim``; ServiceAccount ``mamori-sim-victim`` with its token automounted; a
NetworkPolicy denying all ingress and egress in the namespace (the cluster's ``--network none``:
nothing a scenario tries may leave, where the network plugin enforces policies); pod
``mamori-sim-victim`` (the victim image, as ``nginx``); pod ``mamori-sim-attacker`` (busybox
``httpd`` serving ``/simulation``, holding ``xmrig``, ``tool``, ``tool2``, on port 80); a headless
Service per pod. The attacker's files reach a victim the way the Docker target's read-only bind
mount does: an init container of the attacker image copies them into an ``emptyDir`` mounted
read-only at ``/attacker`` (the policy stops the download from the attacker pod, as the missing
network does on Docker). Everything carries the label ``mamori.simulation=<run id>``, so its
alerts are marked simulated and ``kubectl delete ns mamori-sim`` removes it all. The images are
the ones ``victim_image``/``attacker_image`` build locally (load them into the cluster's nodes,
e.g. ``kind load docker-image``), hence ``imagePullPolicy: Never`` for ``local/`` names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from mamori.core.simulation import SIM_LABEL
from mamori.simulate.audit_events import SIM_NAMESPACE
from mamori.simulate.image import ATTACKER_FILES, NGINX_UID

VICTIM = "mamori-sim-victim"
ATTACKER = "mamori-sim-attacker"
DENY_ALL = "mamori-sim-deny-all"
ATTACKER_DIR = "/attacker"


def pull_policy(image: str) -> str:
    """``Never`` for the locally built ``local/...`` images (loaded into the nodes), else
    ``IfNotPresent`` (pushed to a registry the nodes pull from)."""
    return "Never" if image.startswith("local/") else "IfNotPresent"


def namespace_docs(namespace: str, run_id: str) -> list[dict[str, Any]]:
    """The namespace, the victim's ServiceAccount and a deny-all NetworkPolicy."""
    labels = {SIM_LABEL: run_id}
    return [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": namespace, "labels": labels}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": VICTIM, "namespace": namespace, "labels": labels},
         "automountServiceAccountToken": True},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": DENY_ALL, "namespace": namespace, "labels": labels},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
    ]  # fmt: skip


def _container(name: str, image: str, command: Sequence[str]) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": pull_policy(image),
        "command": list(command),
        "resources": {"limits": {"cpu": "200m", "memory": "64Mi"}},
    }


def _pod(
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    containers: list[dict[str, Any]],
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "containers": containers,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            **spec,
        },
    }


def victim_pod(
    name: str,
    namespace: str,
    run_id: str,
    victim_image: str,
    attacker_image: str,
    container: str = "victim",
    labels: Mapping[str, str] | None = None,
    command: Sequence[str] = ("sleep", "600"),
    **spec: Any,
) -> dict[str, Any]:
    """A victim: the victim image (root, never privileged) under the ServiceAccount, with the
    attacker's files read-only at ``/attacker`` (copied by an init container)."""
    copy = ["/bin/busybox", "cp", *(f"/simulation/{f}" for f in ATTACKER_FILES), ATTACKER_DIR]
    init = _container("attacker-files", attacker_image, copy)
    init["volumeMounts"] = [{"name": "attacker", "mountPath": ATTACKER_DIR}]
    victim = _container(container, victim_image, command)
    victim["volumeMounts"] = [{"name": "attacker", "mountPath": ATTACKER_DIR, "readOnly": True}]
    return _pod(
        name,
        namespace,
        {"app": name, SIM_LABEL: run_id, **(labels or {})},
        [victim],
        initContainers=[init],
        volumes=[{"name": "attacker", "emptyDir": {"sizeLimit": "16Mi"}}],
        serviceAccountName=VICTIM,
        **spec,
    )


def _headless(name: str, run_id: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": SIM_NAMESPACE, "labels": {SIM_LABEL: run_id}},
        "spec": {
            "clusterIP": "None",
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 80}],
        },
    }


def manifests(run_id: str, victim_image: str, attacker_image: str) -> list[dict[str, Any]]:
    """The catalog's setup (``--manifests``)."""
    attacker = _container(
        ATTACKER.removeprefix("mamori-sim-"),
        attacker_image,
        ["httpd", "-f", "-p", "80", "-h", "/simulation"],
    )
    return [
        *namespace_docs(SIM_NAMESPACE, run_id),
        victim_pod(VICTIM, SIM_NAMESPACE, run_id, victim_image, attacker_image,
                   container="victim", command=("sleep", "3600"),
                   securityContext={"runAsUser": NGINX_UID, "runAsGroup": NGINX_UID}),
        _pod(ATTACKER, SIM_NAMESPACE, {"app": ATTACKER, SIM_LABEL: run_id}, [attacker],
             automountServiceAccountToken=False),
        _headless(VICTIM, run_id),
        _headless(ATTACKER, run_id),
    ]  # fmt: skip


def to_yaml(docs: Sequence[Mapping[str, Any]]) -> str:
    return yaml.safe_dump_all(list(docs), sort_keys=False)


def manifests_yaml(run_id: str, victim_image: str, attacker_image: str) -> str:
    return to_yaml(manifests(run_id, victim_image, attacker_image))


NEVER_SCHEDULED = "mamori.simulation/never-scheduled"


def privileged_pod(name: str, namespace: str, run_id: str, image: str) -> dict[str, Any]:
    """S9's privileged pod, for the API server's audit log only: its node selector matches no
    node, so it stays Pending and never runs."""
    container = _container("priv", image, ["sleep", "600"])
    container["securityContext"] = {"privileged": True}
    return _pod(
        name,
        namespace,
        {SIM_LABEL: run_id},
        [container],
        nodeSelector={NEVER_SCHEDULED: "true"},
        automountServiceAccountToken=False,
    )


def cluster_admin_binding(name: str, namespace: str, run_id: str) -> dict[str, Any]:
    """S9's binding: the victim's ServiceAccount to cluster-admin (labelled: deleted by label)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": {SIM_LABEL: run_id}},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{"kind": "ServiceAccount", "name": VICTIM, "namespace": namespace}],
    }
