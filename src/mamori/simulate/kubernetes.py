"""``--target kubernetes``: the catalog's setup as manifests (the run itself is not there yet).

Namespace ``mamori-sim``; ServiceAccount ``mamori-sim-victim`` with its token automounted; pod
``mamori-sim-victim`` (the victim image, as ``nginx``); pod ``mamori-sim-attacker`` (busybox
``httpd`` serving ``/simulation``, holding ``xmrig``, ``tool``, ``tool2``, on port 80); a headless
Service per pod. Everything carries the label ``mamori.simulation=<run id>``, so its alerts are
marked simulated and ``kubectl delete ns mamori-sim`` removes it all. The images are the ones
``victim_image``/``attacker_image`` build locally (load them into the cluster's nodes, e.g.
``kind load docker-image``), hence ``imagePullPolicy: Never``.
"""

from __future__ import annotations

from typing import Any

import yaml

from mamori.core.simulation import SIM_LABEL
from mamori.simulate.audit_events import SIM_NAMESPACE
from mamori.simulate.image import NGINX_UID

VICTIM = "mamori-sim-victim"
ATTACKER = "mamori-sim-attacker"


def _pod(name: str, image: str, run_id: str, command: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": SIM_NAMESPACE,
            "labels": {"app": name, SIM_LABEL: run_id},
        },
        "spec": {
            "containers": [
                {
                    "name": name.removeprefix("mamori-sim-"),
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": command,
                    "resources": {"limits": {"cpu": "200m", "memory": "64Mi"}},
                }
            ],
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            **spec,
        },
    }


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
    labels = {SIM_LABEL: run_id}
    return [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": SIM_NAMESPACE, "labels": labels}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": VICTIM, "namespace": SIM_NAMESPACE, "labels": labels},
         "automountServiceAccountToken": True},
        _pod(VICTIM, victim_image, run_id, ["sleep", "3600"], serviceAccountName=VICTIM,
             securityContext={"runAsUser": NGINX_UID, "runAsGroup": NGINX_UID}),
        _pod(ATTACKER, attacker_image, run_id,
             ["httpd", "-f", "-p", "80", "-h", "/simulation"],
             automountServiceAccountToken=False),
        _headless(VICTIM, run_id),
        _headless(ATTACKER, run_id),
    ]  # fmt: skip


def manifests_yaml(run_id: str, victim_image: str, attacker_image: str) -> str:
    docs = manifests(run_id, victim_image, attacker_image)
    return yaml.safe_dump_all(docs, sort_keys=False)
