"""Stateful detections: CP-004 (learned operations), CP-015 (403 burst), CP-016 (kube-system)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mamori.audit.events import check_event, to_event
from mamori.audit.inventory import Inventory
from mamori.audit.pipeline import build_pipeline
from mamori.audit.stateful import (
    ForbiddenBurst,
    ServiceAccountRareOperation,
    StatefulConfig,
    pod_owner,
)
from mamori.core.findings import Mitre
from tests.audit.corpus_util import all_sequences, mamori_detector, run_stateful, sequence

HOUR = 1 / 24


def detections(fired: list[tuple[int, Any]]) -> list[tuple[int, str]]:
    return [(i, a.fields["mamori.detection"]) for i, a in fired]


# CP-004 ---------------------------------------------------------------------------------


def test_cp004_a_new_operation_after_a_short_learning_window_fires_once() -> None:
    raws = sequence("serviceaccount-rare-operation")
    fired = run_stateful(raws, learning_days=HOUR)
    assert detections(fired) == [(6, "MAM-CP-004")]  # the first cluster-wide secrets list
    [(_, alert)] = fired
    assert alert.rule == "mamori service account rare operation"
    assert alert.fields["mamori.operation"] == "list core/secrets cluster"
    assert alert.fields["ka.user.name"] == "system:serviceaccount:ci:runner"
    assert alert.fields["ka.useragent"] == "curl/8.9.1"
    assert alert.fields["ka.sourceips"] == ["10.244.1.7"]
    assert alert.mitre == Mitre("Lateral Movement", "T1078.004")
    assert "defender.K8S_ServiceAccountRareOperation" in alert.tags


def test_cp004_nothing_fires_within_the_default_seven_day_window() -> None:
    assert run_stateful(sequence("serviceaccount-rare-operation")) == []


def test_cp004_learned_state_survives_a_restart(tmp_path: Path) -> None:
    raws = sequence("serviceaccount-rare-operation")
    state = tmp_path / "audit-state.json"
    first = build_pipeline(mamori_detector(), state_file=state, learning_days=HOUR)
    assert run_stateful(raws[:4], first) == []  # learning
    first.commit()
    assert state.exists()
    second = build_pipeline(mamori_detector(), state_file=state, learning_days=HOUR)
    # learned before the restart: the get is old news; the secrets list is new; once only
    assert detections(run_stateful(raws[4:], second)) == [(2, "MAM-CP-004")]
    # the learning window still starts at the first request seen before the restart
    assert second.stateful is not None
    [(first_seen, ops)] = second.stateful.rare.accounts.values()
    assert first_seen == to_event(raws[0]).time_ns
    assert "get core/pods namespaced" in ops


def test_cp004_memory_is_bounded() -> None:
    detector = ServiceAccountRareOperation(StatefulConfig(max_identities=50, max_learned=8))
    [raw] = sequence("serviceaccount-rare-operation")[:1]
    for i in range(500):
        ev = copy.deepcopy(raw)
        ev["user"]["username"] = f"system:serviceaccount:ci:sa-{i}"
        ev["verb"] = f"verb{i % 20}"
        detector.observe(to_event(ev), ev)
    assert len(detector.accounts) == 50
    assert all(len(ops) <= 8 for _, ops in detector.accounts.values())


# CP-015 ---------------------------------------------------------------------------------


def test_cp015_twenty_denials_over_five_resource_types_in_a_minute_fire_once() -> None:
    fired = run_stateful(sequence("forbidden-burst"))
    assert detections(fired) == [(19, "MAM-CP-015")]  # 26 denials: still one alert
    [(_, alert)] = fired
    assert alert.fields["mamori.denied"] == 20
    assert len(alert.fields["mamori.resources"]) == 5
    assert alert.fields["ka.user.name"] == "system:serviceaccount:default:default"
    assert alert.fields["ka.useragent"] == "python-requests/2.32.3"
    assert "defender.K8S_PenTestToolsKubeHunter" in alert.tags


def test_cp015_few_resource_types_or_a_slow_pace_do_not_fire() -> None:
    assert run_stateful(sequence("forbidden-few-kinds")) == []
    assert run_stateful(sequence("forbidden-slow")) == []


def test_cp015_memory_is_bounded() -> None:
    detector = ForbiddenBurst(StatefulConfig(max_identities=10))
    raws = sequence("forbidden-slow")
    for i, raw in enumerate(raws * 5):
        raw = copy.deepcopy(raw)
        raw["user"]["username"] = f"u{i}"
        detector.observe(to_event(raw), raw)
    assert len(detector.identities) == 10


# CP-016 ---------------------------------------------------------------------------------


def test_cp016_a_new_owner_or_image_after_the_window_fires() -> None:
    raws = sequence("kube-system-baseline")
    fired = run_stateful(raws)
    # 2: a new CoreDNS ReplicaSet (owner learned, image learned): nothing
    assert detections(fired) == [(3, "MAM-CP-016"), (4, "MAM-CP-016")]
    helper, bare = fired[0][1], fired[1][1]
    assert helper.fields["mamori.reason"] == ["new owner DaemonSet/node-helper"]
    assert bare.fields["mamori.reason"] == [
        "new owner user/kubernetes-admin", "new image docker.io/library/alpine",
    ]  # fmt: skip
    assert bare.resources[0].name == "dbg"
    assert bare.namespace == "kube-system"


def test_cp016_everything_within_the_learning_window_is_learned() -> None:
    assert run_stateful(sequence("kube-system-baseline"), learning_days=30) == []


def test_pod_owner_normalises_controllers() -> None:
    def owned(kind: str, name: str) -> dict[str, Any]:
        return {"metadata": {"ownerReferences": [{"kind": kind, "name": name, "controller": True}]}}

    assert pod_owner(owned("ReplicaSet", "coredns-7db6d8ff4d"), "x") == "ReplicaSet/coredns"
    assert pod_owner(owned("Node", "kind-control-plane"), "x") == "Node/*"
    assert pod_owner(owned("Job", "backup-28930140"), "x") == "Job/backup"
    assert pod_owner({"metadata": {}}, "alice") == "user/alice"


# inventory ------------------------------------------------------------------------------


def test_the_inventory_is_bounded_and_survives_a_snapshot() -> None:
    inv = Inventory(max_objects=10)
    [deployment, service] = sequence("exposure-postgres-trust-env")
    for i in range(30):
        raw = copy.deepcopy(deployment)
        raw["objectRef"]["name"] = raw["responseObject"]["metadata"]["name"] = f"pg-{i}"
        inv.apply(raw, "c")
    inv.apply(service, "c")
    assert inv.sizes()["pods"] == 10
    copy_ = Inventory(max_objects=10)
    copy_.restore(json.loads(json.dumps(inv.snapshot())))
    assert copy_.snapshot() == inv.snapshot()
    [svc] = copy_.cluster("c").services_in("db")
    assert sorted(p.name for p in copy_.cluster("c").selected(svc)) == [
        f"pg-{i}" for i in range(20, 30)
    ]
    assert svc.type == "LoadBalancer"


def test_the_exposure_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    [deployment, service] = sequence("exposure-postgres-trust-env")
    first = build_pipeline(mamori_detector(), state_file=state)
    assert run_stateful([deployment], first) == []
    first.commit()
    second = build_pipeline(mamori_detector(), state_file=state)
    # the Deployment is known after the restart: the Service create raises CP-001 and CP-002
    assert {a.fields["mamori.detection"] for _, a in run_stateful([service], second)} == {
        "MAM-CP-001", "MAM-CP-002",
    }  # fmt: skip
    second.commit()
    third = build_pipeline(mamori_detector(), state_file=state)
    update = copy.deepcopy(service)
    update["verb"] = "update"
    assert run_stateful([update], third) == []  # raised before the restart: not again


def test_a_damaged_state_file_starts_afresh(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text('{"v": 1, "inventory": {"": {"services": [{"name": 3}]}}}')
    pipeline = build_pipeline(mamori_detector(), state_file=state)
    assert pipeline.stateful is not None
    assert pipeline.stateful.inventory.sizes()["services"] == 0


@pytest.mark.parametrize("name", all_sequences())
def test_sequence_events_are_audit_v1_events(name: str) -> None:
    raws = sequence(name)
    assert raws
    for n, raw in enumerate(raws):
        check_event(raw, f"{name}:{n}")
        assert (raw["apiVersion"], raw["kind"], raw["stage"]) == (
            "audit.k8s.io/v1", "Event", "ResponseComplete",
        )  # fmt: skip
        if raw["level"] in ("Request", "RequestResponse"):
            assert "requestObject" in raw
    assert len({r["auditID"] for r in raws}) == len(raws)
