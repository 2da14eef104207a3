"""Pass/fail logic on made-up alert lists: matching by catalog id, unexpected, attribution."""

from __future__ import annotations

from typing import Any

from mamori.simulate.judge import ANY, Attribution, Expect, alert_ids, is_high, judge


def alert(rule: str, *ids: str, severity: str = "High", **fields: Any) -> dict[str, Any]:
    return {
        "id": f"{rule}-{len(fields)}",
        "rule": rule,
        "tags": ["container", *(f"mamori.{i}" for i in ids)],
        "ui_severity": severity,
        "fields": fields,
    }


def test_an_alert_matches_its_catalog_id_or_its_rule_name() -> None:
    a = alert("mamori web shell", "MAM-RT-034", severity="Medium")
    assert alert_ids(a) == ["MAM-RT-034"]
    assert Expect("MAM-RT-034").matches(a)
    assert Expect("mamori web shell").matches(a)
    assert not Expect("MAM-RT-049").matches(a)
    assert not Expect("MAM-RT-03").matches(a)  # whole ids only


def test_where_narrows_a_match_to_field_values() -> None:
    new = alert("drift", "MAM-RT-040", **{"drift.verdict": "drift-new"})
    want = Expect("MAM-RT-040", (("drift.verdict", "drift-modified"),))
    assert not want.matches(new)
    assert Expect("MAM-RT-040", (("drift.verdict", "drift-new"),)).matches(new)
    assert want.label == "MAM-RT-040 [drift.verdict=drift-modified]"


def test_every_expected_detection_arrived_passes() -> None:
    seen = [
        (alert("web shell", "MAM-RT-034", severity="Medium"), 0.4),
        (alert("base64 shell", "MAM-RT-049", severity="Medium"), 1.5),
    ]
    j = judge(["MAM-RT-034", "MAM-RT-049"], [], [], seen)
    assert j.passed
    assert j.missing == ()
    assert j.raised == ("MAM-RT-034", "MAM-RT-049")
    assert j.time_to_alert_s == 1.5


def test_a_detection_that_never_arrives_is_missing() -> None:
    seen = [(alert("web shell", "MAM-RT-034", severity="Medium"), 0.4)]
    j = judge(["MAM-RT-034", "MAM-RT-049"], [], [], seen)
    assert not j.passed
    assert j.missing == (Expect("MAM-RT-049"),)
    assert judge(["MAM-RT-015"], [], [], []).time_to_alert_s is None


def test_a_high_alert_neither_expected_nor_allowed_is_unexpected() -> None:
    seen = [
        (alert("test alert", "MAM-RT-015"), 0.1),
        (alert("drift", "MAM-RT-040"), 0.1),
        (alert("miner", "MAM-RT-025", severity="Medium"), 0.2),  # not High: tolerated
        (alert("Terminal shell", severity="Low"), 0.2),
    ]
    j = judge(["MAM-RT-015"], [], [], seen)
    assert j.unexpected == ("MAM-RT-040 (drift)",)
    assert not j.passed
    allowed = judge(["MAM-RT-015"], ["MAM-RT-040"], [], seen)
    assert allowed.passed
    assert allowed.unexpected == ()


def test_must_not_counts_whatever_the_severity() -> None:
    low = [(alert("Exec log", severity="Informational"), 0.0)]
    assert judge([], [], [ANY], low).unexpected == ("Exec log",)
    assert judge([], [], [], low).passed
    copyup = alert("drift", "MAM-RT-040", **{"proc.exepath": "/usr/bin/id"})
    forbidden = Expect("MAM-RT-040", (("proc.exepath", "/usr/bin/id"),))
    j = judge([], ["MAM-RT-040"], [forbidden], [(copyup, 0.0)])
    assert j.unexpected == ("MAM-RT-040 (drift)",)  # allowed in general, not for that file


def test_high_from_the_severity_views() -> None:
    assert is_high({"ui_severity": "High"})
    assert not is_high({"ui_severity": "Medium"})
    assert is_high({"severity": "Error"})  # error and above are High
    assert is_high({"severity_level": 0})
    assert not is_high({"severity": "Warning"})
    assert not is_high({"severity": "nonsense"})


def test_attribution_by_pod_container_or_audit_id() -> None:
    who = Attribution("mamori-sim", "pod-a", frozenset({"c" * 64}), frozenset({"audit-1"}))
    assert who.mine({"fields": {"k8s.pod.name": "pod-a", "k8s.ns.name": "mamori-sim"}})
    assert not who.mine({"fields": {"k8s.pod.name": "pod-a", "k8s.ns.name": "default"}})
    assert who.mine({"resources": [{"kind": "pod", "name": "pod-a", "namespace": "mamori-sim"}]})
    assert who.mine({"resources": [{"kind": "container", "name": "x", "uid": "c" * 64}]})
    assert who.mine({"fields": {"container.id": "c" * 12}})
    assert who.mine({"fields": {"ka.auditid": "audit-1"}})
    assert not who.mine({"fields": {"ka.auditid": "audit-2", "container.id": "d" * 12}})
    assert not who.mine({"resources": [{"kind": "pod", "name": "pod-b"}]})


def test_attribution_by_the_api_objects_real_cluster_actions_touched() -> None:
    """``--control-plane real``: the audit log's alerts name the objects the run made."""
    who = Attribution(
        "mamori-sim",
        "mamori-sim-control-plane-r1",
        objects=frozenset(
            {
                ("pods", "mamori-sim-priv-r1"),
                ("clusterrolebindings", "mamori-sim-admin-r1"),
                ("events", "*"),
            }
        ),
    )

    def target(resource: str, name: str | None, ns: str | None) -> dict[str, Any]:
        fields = {"ka.target.resource": resource, "ka.target.name": name}
        if ns is not None:
            fields["ka.target.namespace"] = ns
        return alert("r", "MAM-CP-018", **{k: v for k, v in fields.items() if v is not None})

    assert who.mine(target("pods", "mamori-sim-priv-r1", "mamori-sim"))
    assert who.mine(target("clusterrolebindings", "mamori-sim-admin-r1", None))  # cluster-scoped
    assert who.mine(target("events", None, "mamori-sim"))  # deletecollection: no name
    assert who.mine(target("events", "victim.17f3", "mamori-sim"))
    assert not who.mine(target("events", None, "default"))
    assert not who.mine(target("pods", "mamori-sim-priv-r1", "other"))
    assert not who.mine(target("clusterrolebindings", "someone-elses", None))
    assert not Attribution("mamori-sim", "p").mine(target("events", None, "mamori-sim"))
