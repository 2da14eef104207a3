"""The stock Falco k8s_audit rules and mamori's control-plane rules on realistic audit events.

One positive and one negative corpus event per rule that can fire (tests/audit/corpus/).
"""

from __future__ import annotations

import re

import pytest

from mamori.audit.detection import default_rules_path
from mamori.audit.events import check_event
from mamori.rules.engine import load_ruleset
from tests.audit.corpus_util import (
    STOCK_RULES,
    all_cases,
    case,
    fired,
    mamori_detector,
    stock_detector,
)

# (stock rule, an event it fires on, a close event it must not fire on)
STOCK = [
    ("Disallowed K8s User", "pods-list-by-dev", "pods-list-kubectl"),
    ("Create Privileged Pod", "pod-create-privileged", "pod-create-privileged-node-agent"),
    ("Create Sensitive Mount Pod", "pod-create-etc-mount", "pod-create-tmp-mount"),
    ("Create HostNetwork Pod", "pod-create-hostnetwork", "pod-create-plain"),
    ("Create HostPid Pod", "pod-create-hostpid", "pod-create-plain"),
    ("Create HostIPC Pod", "pod-create-hostipc", "pod-create-plain"),
    ("Create NodePort Service", "service-create-nodeport", "service-create-clusterip"),
    (
        "Create/Modify Configmap With Private Credentials",
        "configmap-create-password",
        "configmap-create-plain",
    ),
    ("Anonymous Request Allowed", "anonymous-list-pods", "anonymous-healthz"),
    ("Attach/Exec Pod", "pod-exec-started", "pod-exec-complete"),
    ("port-forward", "pod-portforward", "pod-exec-started"),
    ("EphemeralContainers Created", "pod-debug-ephemeral", "pod-patch-labels"),
    ("Create Disallowed Namespace", "namespace-create", "namespace-create-default-exists"),
    (
        "Pod Created in Kube Namespace",
        "pod-create-kube-system-nginx",
        "pod-create-kube-system-apiserver",
    ),
    (
        "Service Account Created in Kube Namespace",
        "serviceaccount-create-kube-system",
        "serviceaccount-create-coredns",
    ),
    (
        "System ClusterRole Modified/Deleted",
        "clusterrole-patch-system-node",
        "clusterrole-patch-system-coredns",
    ),
    (
        "Attach to cluster-admin Role",
        "clusterrolebinding-create-cluster-admin",
        "clusterrolebinding-create-view",
    ),
    (
        "ClusterRole With Wildcard Created",
        "clusterrole-create-wildcard",
        "clusterrole-create-writer",
    ),
    (
        "ClusterRole With Write Privileges Created",
        "clusterrole-create-writer",
        "clusterrole-create-readonly",
    ),
    ("ClusterRole With Pod Exec Created", "role-create-pod-exec", "role-create-readonly"),
    ("K8s Deployment Created", "deployment-create", "deployment-create-exists"),
    ("K8s Deployment Deleted", "deployment-delete", "deployment-delete-missing"),
    ("K8s Service Created", "service-create-clusterip", "service-create-forbidden"),
    ("K8s Service Deleted", "service-delete", "service-delete-missing"),
    ("K8s ConfigMap Created", "configmap-create-plain", "configmap-create-exists"),
    ("K8s ConfigMap Deleted", "configmap-delete", "configmap-delete-forbidden"),
    ("K8s Namespace Created", "namespace-create", "namespace-create-default-exists"),
    ("K8s Namespace Deleted", "namespace-delete", "namespace-delete-by-controller"),
    ("K8s Serviceaccount Created", "serviceaccount-create-coredns", "serviceaccount-create-exists"),
    ("K8s Serviceaccount Deleted", "serviceaccount-delete", "serviceaccount-delete-missing"),
    ("K8s Role Created", "role-create-readonly", "role-create-exists"),
    ("K8s Role Deleted", "role-delete", "role-delete-missing"),
    ("K8s ClusterRole Created", "clusterrole-create-readonly", "clusterrole-create-exists"),
    ("K8s ClusterRole Deleted", "clusterrole-delete", "clusterrole-delete-forbidden"),
    ("K8s RoleBinding Created", "rolebinding-create-view", "rolebinding-create-exists"),
    ("K8s RoleBinding Deleted", "rolebinding-delete", "rolebinding-delete-forbidden"),
    (
        "K8s ClusterRoleBinding Created",
        "clusterrolebinding-create-view",
        "clusterrolebinding-create-exists",
    ),
    (
        "K8s ClusterRoleBinding Deleted",
        "clusterrolebinding-delete",
        "clusterrolebinding-delete-missing",
    ),
    ("K8s Secret Created", "secret-create", "secret-create-kube-system"),
    ("K8s Secret Deleted", "secret-delete", "secret-delete-forbidden"),
    ("K8s Secret Get Successfully", "secret-get", "secret-get-forbidden"),
    ("K8s Secret Get Unsuccessfully Tried", "secret-get-forbidden", "secret-get"),
    ("Ingress Object without TLS Certificate Created", "ingress-create", "ingress-create-tls"),
]

# Stock rules that cannot fire as shipped: their condition includes `not <always-true macro>`
# or is `<never-true macro>`, for users to override.
STOCK_DISABLED_BY_DESIGN = {
    "Create Disallowed Pod",
    "All K8s Audit Events",
    "Full K8s Administrative Access",
    "Untrusted Node Successfully Joined the Cluster",
    "Untrusted Node Unsuccessfully Tried to Join the Cluster",
}

# (mamori rule, MAM id, positive event, negative event)
MAMORI = [
    ("mamori sensitive mount pod", "MAM-CP-005", "pod-create-etc-mount", "pod-create-tmp-mount"),
    (
        "mamori sensitive mount pod",
        "MAM-CP-005",
        "pod-create-runtime-socket",
        "pod-create-privileged-node-agent",
    ),
    ("mamori coredns modification", "MAM-CP-006", "coredns-patch", "coredns-update-addon-manager"),
    (
        "mamori admission webhook configuration",
        "MAM-CP-007",
        "webhook-create",
        "webhook-patch-cainjector",
    ),
    (
        "mamori admission webhook configuration",
        "MAM-CP-007",
        "webhook-create",
        "webhook-patch-labels",
    ),
    ("mamori miner image pod", "MAM-CP-008", "pod-create-miner", "pod-create-plain"),
    ("mamori miner image workload", "MAM-CP-008", "deployment-create-miner", "deployment-create"),
    (
        "mamori request from proxy address",
        "MAM-CP-013",
        "pods-list-from-proxy",
        "pods-list-kubectl",
    ),
    (
        "mamori kubernetes events deleted",
        "MAM-CP-014",
        "events-deletecollection",
        "events-deletecollection-controller",
    ),
    (
        "mamori kubernetes events deleted",
        "MAM-CP-014",
        "events-delete-new-api",
        "pods-list-kubectl",
    ),
    ("mamori penetration testing tool", "MAM-CP-015", "pods-list-kube-hunter", "pods-list-kubectl"),
    (
        "mamori new container in kube-system",
        "MAM-CP-016",
        "pod-create-kube-system-nginx",
        "pod-create-kube-system-proxy",
    ),
    (
        "mamori high privileges role",
        "MAM-CP-017",
        "clusterrole-create-wildcard",
        "clusterrole-create-writer",
    ),
    (
        "mamori high privileges role",
        "MAM-CP-017",
        "role-create-pod-exec",
        "clusterrole-update-aggregation",
    ),
    (
        "mamori high privileges role",
        "MAM-CP-017",
        "clusterrole-create-secrets-reader",
        "clusterrole-create-readonly",
    ),
    ("mamori privileged container", "MAM-CP-018", "pod-create-privileged", "pod-create-plain"),
    (
        "mamori privileged container",
        "MAM-CP-018",
        "pod-create-privileged-init",
        "pod-create-privileged-node-agent",
    ),
    (
        "mamori privileged container",
        "MAM-CP-018",
        "pod-debug-ephemeral-privileged",
        "pod-debug-ephemeral",
    ),
    (
        "mamori cluster-admin binding",
        "MAM-CP-019",
        "clusterrolebinding-create-cluster-admin",
        "clusterrolebinding-create-view",
    ),
    (
        "mamori cluster-admin binding",
        "MAM-CP-019",
        "rolebinding-create-cluster-admin",
        "rolebinding-create-view",
    ),
    (
        "mamori service account access review",
        "MAM-CP-020",
        "ssar-by-serviceaccount",
        "ssar-by-admin",
    ),
    (
        "mamori service account access review",
        "MAM-CP-020",
        "ssar-by-serviceaccount",
        "namespace-delete-by-controller",
    ),
    ("mamori exec into pod", "MAM-CP-021", "pod-exec-started", "pod-exec-complete"),
    (
        "mamori anonymous request allowed",
        "MAM-CP-022",
        "anonymous-list-pods",
        "anonymous-healthz",
    ),
    (
        "mamori anonymous request allowed",
        "MAM-CP-022",
        "anonymous-list-pods",
        "pods-list-kube-hunter",
    ),
    (
        "mamori secrets enumeration by service account",
        "MAM-CP-023",
        "secret-list-by-serviceaccount",
        "secret-list-by-serviceaccount-forbidden",
    ),
    (
        "mamori secrets enumeration by service account",
        "MAM-CP-023",
        "secret-list-by-serviceaccount",
        "secret-list-by-controller",
    ),
]


def test_the_stock_file_loads_with_zero_errors() -> None:
    result = load_ruleset([STOCK_RULES])
    assert result.ok, [str(d) for d in result.errors]
    assert {r.source for r in result.rules} == {"k8s_audit"}


def test_mamori_rules_load_with_no_diagnostics_at_all() -> None:
    result = load_ruleset([default_rules_path()])
    assert result.diagnostics == []
    # and they layer cleanly with the stock file, in either order
    for files in ([default_rules_path(), STOCK_RULES], [STOCK_RULES, default_rules_path()]):
        assert load_ruleset(files).ok


def test_every_stock_rule_is_covered_or_disabled_by_design() -> None:
    names = {r.name for r in load_ruleset([STOCK_RULES]).rules}
    tested = {rule for rule, _, _ in STOCK}
    assert tested | STOCK_DISABLED_BY_DESIGN == names
    assert not tested & STOCK_DISABLED_BY_DESIGN


def test_every_mamori_rule_is_covered_and_tagged() -> None:
    rules = load_ruleset([default_rules_path()]).rules
    assert {r.name for r in rules} == {row[0] for row in MAMORI}
    for rule in rules:
        ids = [t for t in rule.tags if re.fullmatch(r"mamori\.MAM-CP-\d{3}", t)]
        assert len(ids) == 1, rule.name
        assert ids[0][len("mamori.") :] in rule.desc, rule.name
        assert any(t.startswith("mitre_") for t in rule.tags), rule.name
        assert any(re.fullmatch(r"T\d{4}(\.\d{3})?", t) for t in rule.tags), rule.name
        assert rule.source == "k8s_audit"


@pytest.mark.parametrize("name", all_cases())
def test_corpus_events_are_audit_v1_events(name: str) -> None:
    raw = case(name)
    check_event(raw, name)
    assert raw["apiVersion"] == "audit.k8s.io/v1"
    assert raw["kind"] == "Event"
    assert raw["stage"] in ("ResponseStarted", "ResponseComplete")
    if raw["level"] in ("Request", "RequestResponse"):
        assert "requestObject" in raw


@pytest.mark.parametrize(("rule", "positive", "negative"), STOCK, ids=[r[0] for r in STOCK])
def test_stock_rule_fires_on_its_event_only(rule: str, positive: str, negative: str) -> None:
    assert rule in fired(stock_detector(), positive)
    assert rule not in fired(stock_detector(), negative)


@pytest.mark.parametrize(
    ("rule", "mam_id", "positive", "negative"),
    MAMORI,
    ids=[f"{r[1]}:{r[2]}/{r[3]}" for r in MAMORI],
)
def test_mamori_rule_fires_on_its_event_only(
    rule: str, mam_id: str, positive: str, negative: str
) -> None:
    assert rule in fired(mamori_detector(), positive)
    assert rule not in fired(mamori_detector(), negative)


def test_quiet_events_raise_no_mamori_detection() -> None:
    for name in ("pod-create-plain", "pods-list-kubectl", "pod-get", "pod-exec-complete",
                 "pod-create-tmp-mount", "deployment-create", "ssar-by-admin"):  # fmt: skip
        assert fired(mamori_detector(), name) == set(), name
