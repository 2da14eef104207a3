"""Batch ingest through the API: idempotent, per-item errors, garbage refused without harm."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mamori.store.database import Database
from tests import data
from tests.conftest import Tokens, bearer

ALERTS = "/api/v1/alerts:batch"
FINDINGS = "/api/v1/findings:batch"


def post(client: TestClient, token: str, url: str, body: Any) -> Any:
    response = client.post(url, json=body, headers=bearer(token))
    return response


def test_ten_thousand_alerts_in_batches_twice_store_ten_thousand_rows(
    client: TestClient, tokens: Tokens, db: Database
) -> None:
    batches = [[data.alert_doc(b * 500 + i) for i in range(500)] for b in range(20)]
    for batch in batches:
        r = post(client, tokens.ingest, ALERTS, {"alerts": batch})
        assert r.status_code == 200, r.text
        assert r.json() == {
            "received": 500,
            "accepted": 500,
            "inserted": 500,
            "duplicates": 0,
            "rejected": 0,
            "errors": [],
        }
    assert db.alerts.count() == 10_000
    for batch in batches:
        r = post(client, tokens.ingest, ALERTS, {"alerts": batch})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["inserted"], body["duplicates"], body["rejected"]) == (0, 500, 0)
    assert db.alerts.count() == 10_000
    # A batch half old, half new.
    mixed = batches[0][:250] + [data.alert_doc(10_000 + i) for i in range(250)]
    body = post(client, tokens.ingest, ALERTS, {"alerts": mixed}).json()
    assert (body["inserted"], body["duplicates"]) == (250, 250)
    assert db.alerts.count() == 10_250
    sample = db.alerts.get(data.alert_doc(4321)["id"])
    assert sample.output == data.alert_doc(4321)["output"]


def test_duplicates_within_one_batch_and_ids_derived_from_content(
    client: TestClient, tokens: Tokens, db: Database
) -> None:
    no_id = data.alert_doc(1, id=None)
    batch = [data.alert_doc(0), data.alert_doc(0), no_id, dict(no_id)]
    body = post(client, tokens.ingest, ALERTS, {"alerts": batch}).json()
    assert (body["accepted"], body["inserted"], body["duplicates"]) == (4, 2, 2)
    again = post(client, tokens.ingest, ALERTS, [no_id]).json()  # a bare list is accepted too
    assert (again["inserted"], again["duplicates"]) == (0, 1)
    changed = post(client, tokens.ingest, ALERTS, [{**no_id, "output": "other"}]).json()
    assert changed["inserted"] == 1
    assert db.alerts.count() == 3


def test_findings_batch_is_idempotent(client: TestClient, tokens: Tokens, db: Database) -> None:
    batch = [data.finding_doc(n) for n in range(50)] + [data.finding_doc(7, id=None)]
    first = post(client, tokens.ingest, FINDINGS, {"findings": batch}).json()
    assert (first["inserted"], first["duplicates"]) == (51, 0)
    second = post(client, tokens.ingest, FINDINGS, {"findings": batch}).json()
    assert (second["inserted"], second["duplicates"]) == (0, 51)
    assert db.findings.count() == 51


def test_stored_alert_matches_what_was_sent(client: TestClient, tokens: Tokens) -> None:
    doc = data.alert_doc(
        5,
        severity="Critical",
        source="k8s_audit",
        mitre={"tactic": "Persistence", "technique": "T1098"},
        resources=[{"kind": "Pod", "name": "web-1", "namespace": "shop"}],
        tags=["k8s", "audit"],
        node="node-7",
        simulated=True,
        time="2025-03-01T14:00:00+02:00",
    )
    post(client, tokens.ingest, ALERTS, {"alerts": [doc]})
    got = client.get(f"/api/v1/alerts/{doc['id']}", headers=bearer(tokens.read)).json()
    assert got["time"] == "2025-03-01T12:00:00+00:00"
    assert (got["severity"], got["severity_level"], got["ui_severity"]) == ("Critical", 2, "High")
    assert got["mitre"] == {"tactic": "Persistence", "technique": "T1098"}
    assert got["resources"][0]["name"] == "web-1"
    assert got["resources"][0]["namespace"] == "shop"
    for key in ("rule", "output", "fields", "tags", "node", "source", "simulated", "namespace"):
        assert got[key] == doc[key], key
    assert got["status"] == "new"
    assert got["comments"] == []


@pytest.mark.parametrize("severity", ["err", "crit", "info", "warn", "WARNING", "debug", 0, 7])
def test_every_severity_spelling_the_core_accepts_is_accepted(
    client: TestClient, tokens: Tokens, severity: object
) -> None:
    r = post(client, tokens.ingest, ALERTS, [data.alert_doc(1, severity=severity)])
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == 1


# per-item validation --------------------------------------------------------------------


def error_locs(body: dict[str, Any]) -> dict[int, set[str]]:
    return {e["index"]: {x["loc"] for x in e["errors"]} for e in body["errors"]}


BAD_ITEMS: list[tuple[Any, set[str]]] = [
    (data.alert_doc(100, severity="loud"), {"severity"}),
    (data.alert_doc(101, severity=8), {"severity"}),
    (data.alert_doc(102, severity=True), {"severity"}),
    (data.alert_doc(103, severity=None), {"severity"}),
    (data.alert_doc(104, time="yesterday"), {"time"}),
    (data.alert_doc(105, time="9999-12-31T23:30:00-05:00"), {"time"}),
    (data.alert_doc(106, time="0001-01-01T00:30:00+01:00"), {"time"}),
    (data.alert_doc(107, rule=""), {"rule"}),
    (data.alert_doc(108, rule="r" * 256), {"rule"}),
    (data.alert_doc(109, id="has space"), {"id"}),
    (data.alert_doc(110, id="x" * 65), {"id"}),
    (data.alert_doc(111, fields=["not", "a", "dict"]), {"fields"}),
    (data.alert_doc(112, resources=[{"kind": "Pod"}]), {"resources.0.name"}),
    (data.alert_doc(113, mitre={"technique": "T1"}), {"mitre.tactic"}),
    (data.alert_doc(114, tags="shell"), {"tags"}),
    (data.alert_doc(115, unexpected=1), {"unexpected"}),
    (data.alert_doc(116, simulated="perhaps"), {"simulated"}),
    (data.alert_doc(117, namespace=12), {"namespace"}),
    # Longer than the store's column: PostgreSQL would have refused the whole batch (a 500).
    (data.alert_doc(118, mitre={"tactic": "t" * 65}), {"mitre.tactic"}),
    ({"rule": "r", "severity": "error"}, {"time"}),
    ("just a string", {"(item)"}),
    (None, {"(item)"}),
    (42, {"(item)"}),
    ([], {"(item)"}),
]


def test_bad_items_never_drop_good_ones(client: TestClient, tokens: Tokens, db: Database) -> None:
    goods = [data.alert_doc(n) for n in range(5)]
    batch: list[Any] = []
    expected_errors: dict[int, set[str]] = {}
    for n, (bad, locs) in enumerate(BAD_ITEMS):
        batch.append(goods[n % len(goods)] if n < len(goods) else data.alert_doc(200 + n))
        expected_errors[len(batch)] = locs
        batch.append(bad)
    r = post(client, tokens.ingest, ALERTS, {"alerts": batch})
    assert r.status_code == 200, r.text
    body = r.json()
    good_count = len(batch) - len(BAD_ITEMS)
    assert body["received"] == len(batch)
    assert (body["accepted"], body["inserted"], body["rejected"]) == (
        good_count,
        good_count,
        len(BAD_ITEMS),
    )
    assert error_locs(body) == expected_errors
    for entry in body["errors"]:
        assert all(e["msg"] for e in entry["errors"])
    assert db.alerts.count() == good_count
    for index, item in enumerate(batch):
        if index not in expected_errors:
            assert db.alerts.get(item["id"]).output == item["output"]


def test_a_batch_with_only_bad_items_is_422_and_stores_nothing(
    client: TestClient, tokens: Tokens, db: Database
) -> None:
    r = post(client, tokens.ingest, ALERTS, {"alerts": [{"rule": "x"}, 5]})
    assert r.status_code == 422
    assert r.json()["rejected"] == 2
    assert sorted(error_locs(r.json())) == [0, 1]
    assert db.alerts.count() == 0


def test_an_empty_batch_is_fine(client: TestClient, tokens: Tokens) -> None:
    r = post(client, tokens.ingest, ALERTS, {"alerts": []})
    assert r.status_code == 200
    assert r.json()["received"] == 0


def test_every_text_limit_fits_its_column() -> None:
    """A value the schema accepts must fit the store's column, or PostgreSQL refuses the whole
    batch (SQLite does not check widths, so only this test would notice)."""
    from pydantic import TypeAdapter
    from sqlalchemy import String

    from mamori.server.schemas import AlertIn, FindingIn
    from mamori.store.models import ALERTS, FINDINGS

    def limits(model: Any) -> dict[str, int]:
        schema = TypeAdapter(model).json_schema()
        defs = schema.get("$defs", {})
        out: dict[str, int] = {}

        def walk(node: dict[str, Any], path: str) -> None:
            if "$ref" in node:
                node = defs[node["$ref"].rsplit("/", 1)[1]]
            for alt in node.get("anyOf", []):
                walk(alt, path)
            if "maxLength" in node:
                out[path] = node["maxLength"]
            for name, sub in node.get("properties", {}).items():
                walk(sub, f"{path}.{name}" if path else name)

        walk(schema, "")
        return out

    alert = {"id": "id", "rule": "rule", "source": "source", "mitre.tactic": "mitre_tactic",
             "mitre.technique": "mitre_technique", "cluster": "cluster",
             "namespace": "namespace", "node": "node"}  # fmt: skip
    finding = {"id": "id", "check": "check", "resource.kind": "resource_kind",
               "resource.name": "resource_name", "resource.namespace": "resource_namespace",
               "resource.cluster": "cluster", "resource.uid": "resource_uid"}  # fmt: skip
    for model, table, columns in ((AlertIn, ALERTS, alert), (FindingIn, FINDINGS, finding)):
        got = limits(model)
        for field, column in columns.items():
            width = table.c[column].type
            assert isinstance(width, String)
            assert width.length is not None
            assert got[field] <= width.length, (model.__name__, field, column)
        strings = {c.name for c in table.c if isinstance(c.type, String) and c.type.length}
        assert strings - {"status", "kind"} <= set(columns.values())  # every width mapped


def test_a_finding_resource_kind_longer_than_its_column_is_an_item_error(
    client: TestClient, tokens: Tokens, db: Database
) -> None:
    batch = [data.finding_doc(0), data.finding_doc(1, resource={"kind": "K" * 65, "name": "x"})]
    body = post(client, tokens.ingest, FINDINGS, {"findings": batch}).json()
    assert (body["inserted"], body["rejected"]) == (1, 1), body
    assert error_locs(body) == {1: {"resource.kind"}}
    assert db.findings.count() == 1


def test_bad_findings_are_reported_by_index(
    client: TestClient, tokens: Tokens, db: Database
) -> None:
    batch = [
        data.finding_doc(0),
        data.finding_doc(1, kind="opinion"),
        data.finding_doc(2, resource={"name": "x"}),
        data.finding_doc(3),
    ]
    body = post(client, tokens.ingest, FINDINGS, {"findings": batch}).json()
    assert error_locs(body) == {1: {"kind"}, 2: {"resource.kind"}}
    assert db.findings.count() == 2


# garbage bodies -------------------------------------------------------------------------


@dataclass(frozen=True)
class Garbage:
    name: str
    body: bytes | Callable[[], Iterator[bytes]]
    status: int
    says: str  # in the response's JSON text

    def __repr__(self) -> str:
        return self.name


def _ok_json(items: list[Any]) -> bytes:
    return json.dumps({"alerts": items}).encode()


def chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    """A body streamed without Content-Length."""
    yield b'{"alerts": ["'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"]}'


TEN_MB = 10 * 1024 * 1024
GARBAGE = [
    Garbage("invalid json", b'{"alerts": [', 400, "not valid JSON"),
    Garbage("empty body", b"", 400, "not valid JSON"),
    Garbage("trailing comma", b'{"alerts": [1,]}', 400, "not valid JSON"),
    Garbage("latin-1", '{"alerts": [{"rule": "café"}]}'.encode("latin-1"), 400, "UTF-8"),
    Garbage("utf-16", _ok_json([data.alert_doc(900)]).decode().encode("utf-16"), 400, "UTF-8"),
    Garbage("utf-8 bom", b"\xef\xbb\xbf" + _ok_json([data.alert_doc(901)]), 400, "JSON"),
    Garbage("binary", bytes(range(256)) * 10, 400, "UTF-8"),
    Garbage("object instead of list", b'{"alerts": {"rule": "x"}}', 400, "list under 'alerts'"),
    Garbage("string under key", b'{"alerts": "x"}', 400, "list under 'alerts'"),
    Garbage("null under key", b'{"alerts": null}', 400, "list under 'alerts'"),
    Garbage("top-level string", b'"alerts"', 400, "list under 'alerts'"),
    Garbage("top-level number", b"42", 400, "list under 'alerts'"),
    Garbage("top-level null", b"null", 400, "list under 'alerts'"),
    Garbage("wrong key", b'{"alert": []}', 400, "unknown top-level keys: alert"),
    Garbage("findings key", b'{"findings": []}', 400, "unknown top-level keys: findings"),
    Garbage("extra key", b'{"alerts": [], "extra": 1}', 400, "unknown top-level keys: extra"),
    Garbage("empty object", b"{}", 400, "list under 'alerts'"),
    Garbage("list of garbage", b'[1, "x", null, [], {}, true]', 422, '"rejected":6'),
    Garbage("over max items", _ok_json([{}] * 5001), 400, "at most 5000"),
    Garbage("nested too deeply", b"[" * 100_000 + b"]" * 100_000, 400, "nested"),
    Garbage("huge integer", _ok_json([]).replace(b"[]", b"[" + b"9" * 5000 + b"]"), 400, "JSON"),
    Garbage(
        "NaN",
        _ok_json([data.alert_doc(902)]).replace(b'"bash"', b"NaN"),
        400,
        "NaN",
    ),
    Garbage(
        "Infinity",
        _ok_json([data.alert_doc(903)]).replace(b'"bash"', b"-Infinity"),
        400,
        "Infinity",
    ),
    Garbage("10 MB", b'{"alerts": ["' + b"x" * TEN_MB + b'"]}', 413, "larger than the limit"),
    Garbage("10 MB streamed", lambda: chunks(TEN_MB), 413, "larger than the limit"),
]


def test_garbage_bodies_get_a_clear_4xx_and_touch_nothing(
    client: TestClient, tokens: Tokens, db: Database, subtests: pytest.Subtests
) -> None:
    stored = [data.alert_doc(n) for n in range(3)]
    assert post(client, tokens.ingest, ALERTS, {"alerts": stored}).json()["inserted"] == 3
    sample = db.alerts.get(stored[1]["id"])
    for case in GARBAGE:
        with subtests.test(case=case.name):
            headers = {**bearer(tokens.ingest), "Content-Type": "application/json"}
            body = case.body if isinstance(case.body, bytes) else case.body()
            r = client.post(ALERTS, content=body, headers=headers)
            assert r.status_code == case.status, r.text[:300]
            assert r.headers["content-type"].startswith("application/json")
            assert case.says in r.text.replace(" ", "") or case.says in r.text
            if r.status_code != 422:
                assert len(r.json()["detail"]) < 300
            assert db.alerts.count() == 3
            assert db.alerts.get(stored[1]["id"]) == sample
    # The server still works after all that.
    assert post(client, tokens.ingest, ALERTS, [data.alert_doc(3)]).json()["inserted"] == 1


NUL = "\u0000"


def test_text_with_nul_characters_is_an_item_error_or_stored_faithfully(
    client: TestClient, tokens: Tokens, db: Database
) -> None:
    """PostgreSQL text cannot hold NUL: such an item must not fail the batch with a 500."""
    batch = [
        data.alert_doc(0),
        data.alert_doc(1, rule=f"bad{NUL}rule"),
        data.alert_doc(2, output=f"out{NUL}put"),
        data.alert_doc(3, fields={"k": f"v{NUL}"}),
        data.alert_doc(4),
    ]
    r = post(client, tokens.ingest, ALERTS, {"alerts": batch})
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    stored = {a.id for a in db.alerts.list(limit=10).items}
    assert {batch[0]["id"], batch[4]["id"]} <= stored
    rejected = set(error_locs(body))
    assert len(stored) + len(rejected) == len(batch)
    for index in range(1, 4):
        if batch[index]["id"] in stored:
            got = db.alerts.get(batch[index]["id"])
            assert (got.rule, got.output, dict(got.fields)) == (
                batch[index]["rule"],
                batch[index]["output"],
                batch[index]["fields"],
            )


def _raw_post(client: TestClient, token: str, body: bytes) -> Any:
    headers = {**bearer(token), "Content-Type": "application/json"}
    return client.post(ALERTS, content=body, headers=headers)


def test_unpaired_surrogates_are_item_errors_and_pairs_are_text(
    client: TestClient, tokens: Tokens, db: Database
) -> None:
    """JSON may escape half a surrogate pair; no store can encode it (PostgreSQL's driver raised
    a 500 for the whole batch). The item is refused by name; a proper pair is an emoji."""
    docs = [data.alert_doc(i) for i in range(4)]
    docs[1]["output"] = "OUT1"
    docs[2]["fields"] = {"k": "FIELD2"}
    docs[3]["output"] = "PAIR3"
    text = json.dumps({"alerts": docs})
    text = text.replace("OUT1", "bad \\ud800 x").replace("FIELD2", "\\udfff")
    text = text.replace("PAIR3", "smile \\ud83d\\ude00")
    r = _raw_post(client, tokens.ingest, text.encode())
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert (body["inserted"], body["rejected"]) == (2, 2)
    errors = {e["index"]: e["errors"] for e in body["errors"]}
    assert errors[1] == [{"loc": "output", "msg": errors[1][0]["msg"]}]
    assert "surrogate" in errors[1][0]["msg"]
    assert errors[2][0]["loc"] == "fields.k"
    assert db.alerts.get(docs[3]["id"]).output == "smile \U0001f600"


def _varied_alert_docs() -> list[dict[str, Any]]:
    """Every optional part present, absent and null; each spelling of severity and time."""
    base = {"time": "2026-11-01T10:00:00Z", "rule": "r", "severity": "notice"}
    return [
        dict(base),  # the minimum: id derived, every default
        {
            **base,
            "id": "full",
            "time": "2026-11-01T12:00:00.123456+02:00",
            "severity": 2,
            "source": "k8s_audit",
            "output": 'a "quoted"\nline \u00e9\U0001f600',
            "mitre": {"tactic": "Execution", "technique": "T1059"},
            "fields": {"n": 1, "big": 2**70, "f": 0.5, "nil": None, "deep": {"l": [1, {"x": "y"}]}},
            "resources": [
                {"kind": "Pod", "name": "p", "namespace": None, "cluster": "c"},
                {"name": "q", "kind": "Node", "uid": "u-1"},
            ],
            "tags": ["container", "mitre_execution"],
            "cluster": "c1",
            "namespace": "ns",
            "node": "n1",
            "simulated": True,
        },
        {
            **base,
            "id": "nulls",
            "time": "2026-11-01T10:00:00",
            "severity": "WARN",
            "mitre": None,
            "cluster": None,
            "namespace": None,
            "node": None,
        },
        {
            **base,
            "id": None,
            "severity": "Info",
            "mitre": {"tactic": "Discovery"},
            "fields": {},
            "resources": [],
            "tags": [],
        },
        {**base, "severity": "crit", "output": "derived id", "fields": {"k": "v"}},
        {**base, "id": "sev7", "severity": 7, "time": "2026-11-01T10:00:00-05:00"},
    ]


@pytest.mark.postgres
def test_postgres_bulk_path_stores_what_the_object_path_stores(postgres_url: str) -> None:
    """``insert_wire`` (one JSON document, PostgreSQL) and ``insert`` (core objects) must
    write the same alerts for the same validated input, ids derived the same way."""
    from mamori.server.ingest import ingest_batch
    from mamori.server.schemas import AlertIn, alert_bulk_input, alert_from_input

    docs = _varied_alert_docs()
    body = json.dumps({"alerts": docs}).encode()
    parsed = ingest_batch(body, "alerts", AlertIn, 100)
    assert not parsed.errors
    assert len(parsed.valid) == len(docs)
    objects = [alert_from_input(a) for a in parsed.valid]
    wire = [alert_bulk_input(dict(a)) for a in parsed.valid]  # type: ignore[arg-type]
    assert [w["id"] for w in wire] == [o.id for o in objects]
    db = Database.connect(postgres_url)
    try:
        assert db.alerts.bulk_from_wire
        for w in wire:
            w["id"] = "w-" + w["id"]
        assert db.alerts.insert_wire(wire) == {w["id"] for w in wire}
        assert db.alerts.insert_wire(wire) == set()  # idempotent
        db.alerts.insert(objects)
        for o in objects:
            got = db.alerts.get("w-" + o.id)
            assert got == replace(db.alerts.get(o.id), id=got.id)
    finally:
        db.close()


SEVERITIES: list[Any] = ["notice", "NOTICE", " notice ", "warn", "Info", "crit", "nope", 3, 0, 7]
SEVERITIES += [8, -1, True, "3", 3.0, None]
TIMES: list[Any] = ["2026-11-01T00:00:00Z", "2026-11-01T05:00:00+05:00", "2026-11-01T00:00:00"]
TIMES += ["0001-01-01T00:30:00+01:00", "9999-12-31T23:00:00-05:00", 1_700_000_000, "2026-11-01"]
TIMES += ["garbage", None]


@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("when", TIMES)
def test_the_fast_path_decides_as_the_full_types(severity: Any, when: Any) -> None:
    """The one-pass check (core-only types, then UTC) keeps exactly what the full types keep,
    with the same values; what it refuses, the slow path reports with the full types."""
    from mamori.server.ingest import FastPath, ingest_batch
    from mamori.server.schemas import AlertIn, AlertInFast, finish_time

    body = json.dumps({"alerts": [{"time": when, "rule": "r", "severity": severity}]}).encode()
    fast = ingest_batch(body, "alerts", AlertIn, 10, FastPath(AlertInFast, finish_time))
    full = ingest_batch(body, "alerts", AlertIn, 10)
    assert fast.valid == full.valid
    assert [(e.index, e.errors) for e in fast.errors] == [(e.index, e.errors) for e in full.errors]
    for item in fast.valid:
        assert item["time"].utcoffset() is not None
        assert not item["time"].utcoffset()
