"""Exposure detections (CP-001, 002, 009-012): a Service joined with the pods it selects."""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

import pytest
import yaml

from mamori.audit.exposure import DETECTIONS
from mamori.core.findings import Mitre
from tests.audit.corpus_util import run_stateful, sequence
from tests.conftest import SHARED

# (MAM id, positive sequence, the reasons it raises, a close sequence that raises nothing)
EXPOSURE = [
    ("MAM-CP-001", "exposure-postgres-trust-env", {"POSTGRES_HOST_AUTH_METHOD=trust"},
     "exposure-postgres-restricted"),
    ("MAM-CP-001", "exposure-postgres-trust-hba",
     {"pg_hba ConfigMap pg-hba trusts host connections"}, "exposure-postgres-restricted"),
    ("MAM-CP-002", "exposure-postgres-trust-env", {"no loadBalancerSourceRanges"},
     "exposure-postgres-restricted"),
    ("MAM-CP-002", "exposure-postgres-trust-hba", {"source range 10.0.0.0/8 wider than /16"},
     "exposure-postgres-restricted"),
    ("MAM-CP-009", "exposure-kubeflow", {"istio ingress gateway with namespace kubeflow"},
     "exposure-istio-without-kubeflow"),
    ("MAM-CP-010", "exposure-dashboard-nodeport", {"NodePort selecting the Kubernetes dashboard"},
     "exposure-dashboard-clusterip"),
    ("MAM-CP-011", "exposure-jupyter", {"jupyter image", "jupyter port 8888"},
     "exposure-jupyter-internal-lb"),
    ("MAM-CP-011", "exposure-docker-api", {"docker-api port 2375"}, "exposure-web"),
    ("MAM-CP-012", "exposure-redis-port", {"port 6379"}, "exposure-redis-internal-lb"),
    ("MAM-CP-012", "exposure-redis-port", {"port 6379"}, "exposure-redis-clusterip"),
    ("MAM-CP-012", "exposure-redis-service-first", {"redis image"}, "exposure-web"),
]  # fmt: skip


def reasons(name: str, mam_id: str) -> set[str]:
    return {
        a.fields["mamori.reason"]
        for _, a in run_stateful(sequence(name))
        if a.fields["mamori.detection"] == mam_id
    }


@pytest.mark.parametrize(
    ("mam_id", "positive", "why", "negative"), EXPOSURE, ids=[f"{r[0]}:{r[1]}" for r in EXPOSURE]
)
def test_exposure_fires_on_its_sequence_only(
    mam_id: str, positive: str, why: set[str], negative: str
) -> None:
    assert reasons(positive, mam_id) == why
    assert run_stateful(sequence(negative)) == []


def test_every_exposure_detection_has_a_positive_and_a_negative_row() -> None:
    assert {d.id for d in DETECTIONS} == {row[0] for row in EXPOSURE}


def test_an_exposure_alert_says_who_which_service_and_which_pods() -> None:
    raws = sequence("exposure-postgres-trust-env")
    [(i, trust), (_, broad)] = run_stateful(raws)
    assert i == 1  # the Service create: the Deployment came first
    assert trust.source == "k8s_audit"
    assert trust.rule == "mamori exposed postgres with trust authentication"
    assert trust.mitre == Mitre("Initial Access", "T1133")
    assert {"mamori.MAM-CP-001", "defender.K8S_ExposedPostgresTrustAuth"} <= set(trust.tags)
    [svc] = trust.resources
    assert (svc.kind, svc.name, svc.namespace, svc.cluster) == ("services", "pg", "db", "test")
    assert svc.uid == raws[1]["responseObject"]["metadata"]["uid"]
    assert trust.namespace == "db"
    assert trust.fields["ka.user.name"] == "kubernetes-admin"
    assert trust.fields["ka.useragent"].startswith("kubectl/")
    assert trust.fields["ka.sourceips"] == ["172.18.0.1"]
    assert trust.fields["ka.auditid"] == raws[1]["auditID"]
    assert trust.fields["mamori.pods"] == ["deployments/pg"]
    assert trust.fields["mamori.images"] == ["postgres:16"]
    assert trust.severity.ui.value == "Medium"
    assert broad.fields["mamori.detection"] == "MAM-CP-002"
    assert trust.id != broad.id


def test_pods_arriving_after_the_service_trigger_it_once() -> None:
    raws = sequence("exposure-redis-service-first")
    [(i, alert)] = run_stateful(raws)
    assert i == 1  # the first redis pod, created by the ReplicaSet controller
    assert alert.fields["ka.user.name"] == "system:serviceaccount:kube-system:replicaset-controller"
    assert alert.fields["mamori.pods"] == ["cache-5d9c7b8f4-abcde"]
    assert alert.fields["mamori.images"] == ["redis:7.2"]
    # a second replica, a rolling update and a label patch of the Service: nothing more
    assert [r["verb"] for r in raws[2:]] == ["create", "delete", "create", "patch"]


def test_alert_ids_are_stable_across_runs() -> None:
    raws = sequence("exposure-jupyter")
    first = [a.id for _, a in run_stateful(raws)]
    assert first == [a.id for _, a in run_stateful(raws)]
    assert len(set(first)) == 2


def _with(raw: dict[str, Any], n: int, **spec: Any) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    out["auditID"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"test/{n}"))
    out["verb"] = "update"
    out["objectRef"]["name"] = out["responseObject"]["metadata"]["name"]
    for key, value in spec.items():
        out["responseObject"]["spec"][key] = value
    return out


def test_a_service_fixed_then_exposed_again_fires_again_and_deleting_it_forgets_it() -> None:
    [create] = sequence("exposure-redis-port")
    internal = _with(create, 1, type="ClusterIP")
    public = _with(create, 2)
    delete = copy.deepcopy(public)
    delete.update(verb="delete", auditID=str(uuid.uuid5(uuid.NAMESPACE_URL, "test/3")))
    delete.pop("responseObject")
    recreate = _with(create, 4)
    recreate["verb"] = "create"
    fired = run_stateful([create, internal, public, public, delete, recreate])
    assert [i for i, _ in fired] == [0, 2, 5]
    assert len({a.id for _, a in fired}) == 3


def test_source_ranges_within_a_16_do_not_raise_cp002() -> None:
    [deployment, svc] = sequence("exposure-postgres-trust-env")
    narrow = _with(svc, 1, loadBalancerSourceRanges=["198.51.100.0/24", "10.20.0.0/16"])
    wide_v6 = _with(svc, 2, loadBalancerSourceRanges=["2001:db8::/32"])
    fired = run_stateful([deployment, narrow])
    assert {a.fields["mamori.detection"] for _, a in fired} == {"MAM-CP-001"}
    assert {a.fields["mamori.reason"] for _, a in run_stateful([wide_v6])} == {
        "source range 2001:db8::/32 wider than /48"
    }


# S9: the two reference samples of posture-checks.md, applied into mamori-sim.


def reference_samples() -> list[dict[str, Any]]:
    text = (SHARED / "design" / "posture-checks.md").read_text(encoding="utf-8")
    section = text[text.index("## 8. Reference samples") :]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)[:2]
    return [doc for block in blocks for doc in yaml.safe_load_all(block) if doc]


def applied(obj: dict[str, Any], n: int, ns: str = "mamori-sim") -> dict[str, Any]:
    """The audit event kube-apiserver writes for ``kubectl apply`` creating ``obj``."""
    kind = obj["kind"]
    resource, group = {"Deployment": ("deployments", "apps"), "Service": ("services", "")}[kind]
    name = obj["metadata"]["name"]
    response = copy.deepcopy(obj)
    response["metadata"].update(namespace=ns, uid=str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                                resourceVersion=str(1000 + n),
                                creationTimestamp="2025-03-01T12:00:00Z")  # fmt: skip
    stamp = f"2025-03-01T12:00:{n:02d}.000000Z"
    prefix = f"/apis/{group}/v1" if group else "/api/v1"
    return {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
        "auditID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"s9/{n}")), "stage": "ResponseComplete",
        "requestURI": f"{prefix}/namespaces/{ns}/{resource}?fieldManager=kubectl-client-side-apply",
        "verb": "create",
        "user": {"username": "mamori-sim-admin", "groups": ["system:masters"]},
        "sourceIPs": ["172.18.0.1"], "userAgent": "kubectl/v1.30.2 (linux/amd64) kubernetes/39683",
        "objectRef": {"resource": resource, "namespace": ns, "name": name,
                      **({"apiGroup": group} if group else {}), "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 201},
        "requestObject": obj, "responseObject": response,
        "requestReceivedTimestamp": stamp, "stageTimestamp": stamp,
        "annotations": {"authorization.k8s.io/decision": "allow"},
    }  # fmt: skip


def test_s9_the_reference_samples_raise_cp012_for_both_services() -> None:
    docs = reference_samples()
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "Deployment", "Service"]
    fired = run_stateful([applied(d, n) for n, d in enumerate(docs)])
    by_service = {a.fields["mamori.service"]: a for _, a in fired}
    assert set(by_service) == {
        "mamori-sim/redis-healthy-service",
        "mamori-sim/redis-unhealthy-service",
    }
    for alert in by_service.values():
        assert alert.fields["mamori.detection"] == "MAM-CP-012"
        assert alert.fields["mamori.reason"] == "redis image"
        assert alert.namespace == "mamori-sim"
        assert alert.fields["ka.user.name"] == "mamori-sim-admin"
    # each Service selects app=redis: the pod templates known when it was created
    assert by_service["mamori-sim/redis-healthy-service"].fields["mamori.images"] == [
        "<customer-registry>.azurecr.io/redis:latest"
    ]
    assert set(by_service["mamori-sim/redis-unhealthy-service"].fields["mamori.images"]) == {
        "<customer-registry>.azurecr.io/redis:latest",
        "redis:latest",
    }
    assert [i for i, _ in fired] == [1, 3]  # the second Deployment re-raises nothing
