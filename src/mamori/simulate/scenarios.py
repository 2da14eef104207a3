"""Simulation scenarios (issue 9): small declarative records the runner plays against a server.

A scenario starts one victim container (``--network none``, kubelet-style labels), runs its steps
(``docker exec`` argv lists, or ``audit.k8s.io/v1`` events posted to the audit webhook) and names
the alert rules that must arrive within ``time_limit_s`` and those that must not.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DRIFT_RULE = "A drift binary detected executing in the container"
SHELL_RULE = "mamori terminal shell in container"
CP_EXEC = "mamori exec into pod"
CP_PRIVILEGED = "mamori privileged container"
CP_CLUSTER_ADMIN = "mamori cluster-admin binding"
ANY = "*"  # in ``must_not``: no alert at all may be raised

SIM_NAMESPACE = "mamori-sim"


@dataclass(frozen=True)
class Exec:
    """``docker exec`` into the victim; ``tty`` gives the process a controlling terminal."""

    argv: tuple[str, ...]
    tty: bool = False
    user: str | None = None
    typed: bytes = b""  # with ``tty``: written to the terminal after a second (a session's input)


@dataclass(frozen=True)
class Audit:
    """Audit events (``Event`` objects, corpus shape) posted as one EventList to the webhook.

    ``auditID`` and timestamps are replaced per run, so replays are new events (alert ids derive
    from the audit id) and fall inside the run's time window.
    """

    events: tuple[Mapping[str, Any], ...]


Step = Exec | Audit


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    steps: tuple[Step, ...]
    expected: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()
    namespace: str = SIM_NAMESPACE
    container: str = "victim"
    labels: Mapping[str, str] = field(default_factory=dict)
    time_limit_s: float = 30.0
    settle_s: float = 0.0  # for scenarios expecting nothing: how long to watch

    @property
    def needs_container(self) -> bool:
        return any(isinstance(s, Exec) for s in self.steps)


@dataclass(frozen=True)
class Unavailable:
    """A catalog scenario whose signals mamori does not collect yet."""

    name: str
    reason: str


# -- audit events (the shape of tests/audit/corpus) ---------------------------------------

_ADMIN = {
    "username": "kubernetes-admin",
    "groups": ["kubeadm:cluster-admins", "system:authenticated"],
}
_AGENT = "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350"
_ALLOW = {
    "authorization.k8s.io/decision": "allow",
    "authorization.k8s.io/reason": 'RBAC: allowed by ClusterRoleBinding "kubeadm:cluster-admins" '
    'of ClusterRole "cluster-admin" to Group "kubeadm:cluster-admins"',
}


def _event(
    stage: str,
    uri: str,
    verb: str,
    object_ref: dict[str, Any],
    code: int,
    level: str = "RequestResponse",
    request: dict[str, Any] | None = None,
) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level,
        "auditID": "",
        "stage": stage,
        "requestURI": uri,
        "verb": verb,
        "user": _ADMIN,
        "sourceIPs": ["172.18.0.1"],
        "userAgent": _AGENT,
        "objectRef": object_ref,
        "responseStatus": {"metadata": {}, "code": code},
        "annotations": _ALLOW,
    }
    if request is not None:
        ev["requestObject"] = request
        ev["responseObject"] = request
    return ev


EXEC_INTO_POD = _event(
    "ResponseStarted",
    f"/api/v1/namespaces/{SIM_NAMESPACE}/pods/mamori-sim-victim/exec"
    "?command=sh&container=victim&stdin=true&stdout=true&tty=true",
    "create",
    {
        "resource": "pods",
        "namespace": SIM_NAMESPACE,
        "name": "mamori-sim-victim",
        "apiVersion": "v1",
        "subresource": "exec",
    },
    101,
    level="Metadata",
)

_PRIV_POD = {
    "kind": "Pod",
    "apiVersion": "v1",
    "metadata": {"name": "mamori-sim-priv", "namespace": SIM_NAMESPACE},
    "spec": {
        "containers": [
            {
                "name": "priv",
                "image": "busybox:1.36",
                "command": ["sleep", "infinity"],
                "securityContext": {"privileged": True},
            }
        ],
        "restartPolicy": "Always",
    },
}
PRIVILEGED_POD = _event(
    "ResponseComplete",
    f"/api/v1/namespaces/{SIM_NAMESPACE}/pods",
    "create",
    {"resource": "pods", "namespace": SIM_NAMESPACE, "name": "mamori-sim-priv", "apiVersion": "v1"},
    201,
    request=_PRIV_POD,
)

_BINDING = {
    "kind": "ClusterRoleBinding",
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "metadata": {"name": "mamori-sim-victim-admin"},
    "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "cluster-admin",
    },
    "subjects": [
        {"kind": "ServiceAccount", "name": "mamori-sim-victim", "namespace": SIM_NAMESPACE}
    ],
}
CLUSTER_ADMIN_BINDING = _event(
    "ResponseComplete",
    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "create",
    {
        "resource": "clusterrolebindings",
        "name": "mamori-sim-victim-admin",
        "apiGroup": "rbac.authorization.k8s.io",
        "apiVersion": "v1",
    },
    201,
    request=_BINDING,
)


def fresh_events(step: Audit, now: datetime) -> list[dict[str, Any]]:
    """The step's events with new audit ids and the given time (RFC 3339, microseconds)."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out = []
    for template in step.events:
        ev = copy.deepcopy(dict(template))
        ev["auditID"] = str(uuid.uuid4())
        ev["requestReceivedTimestamp"] = ev["stageTimestamp"] = stamp
        out.append(ev)
    return out


# -- the scenarios --------------------------------------------------------------------------

SEED = "cp /bin/echo /bin/echod; /bin/echod This is a binary drift execution"

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="binary-drift",
            description="copy a binary into the container and run it (the drift seed)",
            namespace="kube-system",
            steps=(Exec(("/bin/sh", "-c", SEED)),),
            expected=(DRIFT_RULE,),
        ),
        Scenario(
            name="benign",
            description="ordinary image binaries, no terminal: nothing may be raised",
            steps=(
                Exec(("/bin/true",)),
                Exec(("/bin/ls", "/")),
                Exec(("/bin/cat", "/etc/passwd")),
            ),
            must_not=(ANY,),
            settle_s=4.0,
        ),
        Scenario(
            name="terminal-shell",
            description="an interactive shell in the container (docker exec -it)",
            steps=(Exec(("sh",), tty=True, typed=b"exit\n"),),
            expected=(SHELL_RULE,),
            must_not=(DRIFT_RULE,),
        ),
        Scenario(
            name="control-plane",
            description="audit events: exec into a pod, a privileged pod, a cluster-admin binding",
            steps=(Audit((EXEC_INTO_POD, PRIVILEGED_POD, CLUSTER_ADMIN_BINDING)),),
            expected=(CP_EXEC, CP_PRIVILEGED, CP_CLUSTER_ADMIN),
        ),
    )
}

NOT_YET: tuple[Unavailable, ...] = (
    Unavailable("reconnaissance", "needs file-open (token read) and API-server connect signals"),
    Unavailable("cloud-lateral-movement", "needs metadata-endpoint connect + HTTP signals"),
    Unavailable("secrets-gathering", "needs file-open events (credential files)"),
    Unavailable("crypto-mining", "needs file-open events (ld.so.preload) and the attacker pod"),
    Unavailable("web-shell", "needs the nginx/php-fpm victim image"),
    Unavailable("ti-domain", "needs DNS events"),
)
