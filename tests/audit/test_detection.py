"""Audit alerts carry who asked, from where, with what, and the object they asked about."""

from __future__ import annotations

import pytest

from mamori.audit.detection import load_detector, mitre_of
from mamori.audit.events import AuditFormatError, parse_event_list, parse_time_ns, to_event
from mamori.core.errors import ConfigError
from mamori.core.findings import Mitre
from tests.audit.corpus_util import case, mamori_detector


def test_an_exec_alert_names_user_agent_address_and_target() -> None:
    event = to_event(case("pod-exec-started"), cluster="kind-dev")
    [alert] = mamori_detector().detect(event)
    assert alert.source == "k8s_audit"
    assert alert.rule == "mamori exec into pod"
    assert alert.fields["ka.user.name"] == "kubernetes-admin"
    assert alert.fields["ka.useragent"].startswith("kubectl/")
    assert alert.fields["ka.sourceips"] == ["172.18.0.1"]
    assert alert.fields["ka.uri.param[command]"] == "sh"
    [target] = alert.resources
    assert (target.kind, target.name, target.namespace, target.cluster) == (
        "pods/exec", "web", "default", "kind-dev",
    )  # fmt: skip
    assert alert.namespace == "default"
    assert alert.cluster == "kind-dev"
    assert alert.mitre == Mitre("Execution", "T1609")
    assert "mamori.MAM-CP-021" in alert.tags


def test_alert_ids_are_stable_per_rule_and_event() -> None:
    raw = case("pod-create-privileged")
    first = mamori_detector().detect(to_event(raw))
    again = mamori_detector().detect(to_event(dict(raw)))
    assert [a.id for a in first] == [a.id for a in again]
    other = dict(raw, auditID="0b7a4d5e-1111-4c4c-9d9d-000000000000")
    assert {a.id for a in mamori_detector().detect(to_event(other))}.isdisjoint(a.id for a in first)


def test_a_created_object_without_a_name_in_objectref_takes_the_response_name() -> None:
    raw = case("pod-create-privileged")
    raw["objectRef"].pop("name")
    [alert] = mamori_detector().detect(to_event(raw))
    assert alert.resources[0].name == "priv"
    assert alert.resources[0].uid  # from responseObject.metadata.uid


def test_mitre_from_tags() -> None:
    assert mitre_of(["k8s", "mitre_privilege_escalation", "T1611"]) == Mitre(
        "Privilege Escalation", "T1611"
    )
    assert mitre_of(["k8s"]) is None


def test_rules_that_do_not_load_are_a_located_config_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- rule: x\n  desc: d\n  condition: ka.verb = \n  output: o\n"
                   "  priority: INFO\n  source: k8s_audit\n")  # fmt: skip
    with pytest.raises(ConfigError, match=r"bad\.yaml:3:"):
        load_detector([bad])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body: not JSON"),
        (b"\xff\xfe", "body: not UTF-8"),
        (b"[]", "expected a JSON object"),
        (b'{"kind":"Event","apiVersion":"audit.k8s.io/v1"}', "body.kind: expected 'EventList'"),
        (b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1","items":[]}', "apiVersion"),
        (b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":{}}', "body.items"),
        (b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[1]}', "items[0]: expected"),
        (
            b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a",'
            b'"stage":"ResponseComplete","stageTimestamp":"yesterday"}]}',
            "items[0].stageTimestamp: not an RFC 3339 time",
        ),
        (
            b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a",'
            b'"stageTimestamp":"2025-03-01T12:00:00Z"}]}',
            "items[0].stage: expected a non-empty string",
        ),
    ],
)
def test_malformed_event_lists_are_located(body: bytes, message: str) -> None:
    with pytest.raises(AuditFormatError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_event_list(body)


def test_an_empty_event_list_is_fine() -> None:
    assert (
        parse_event_list(b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":null}') == []
    )


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1970-01-01T00:00:01Z", 1_000_000_000),
        ("1970-01-01T00:00:01.5Z", 1_500_000_000),
        ("1970-01-01T00:00:00.123456Z", 123_456_000),
        ("1970-01-01T00:00:00.123456789Z", 123_456_789),
        ("1970-01-01T01:00:00+01:00", 0),
    ],
)
def test_audit_timestamps(text: str, ns: int) -> None:
    assert parse_time_ns(text) == ns
