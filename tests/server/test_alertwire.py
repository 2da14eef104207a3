"""The msgspec quick path: what it takes, the full types take with the same stored values."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from mamori.server.alertwire import decode_alerts
from mamori.server.ingest import ingest_batch
from mamori.server.schemas import AlertIn, alert_bulk_input, alert_from_input
from mamori.store.database import Database
from tests.server.test_ingest import _varied_alert_docs

BASE: dict[str, Any] = {
    "id": "a-1",
    "time": "2026-11-01T12:00:00Z",
    "rule": "Terminal shell in container",
    "severity": "notice",
}


def _row(item: dict[str, Any]) -> dict[str, Any]:
    """An item of the store's JSON document as the bulk insert reads it (its SQL defaults)."""
    mitre = item.get("mitre") or {}
    when = datetime.fromisoformat(item["time"])
    assert when.utcoffset() is not None
    return {
        "id": item["id"],
        "time": when,
        "rule": item["rule"],
        "severity": item["severity"],
        "source": item.get("source") or "syscall",
        "output": item.get("output") or "",
        "mitre": (mitre.get("tactic"), mitre.get("technique")),
        "fields": item.get("fields") or {},
        "resources": [
            {k: v for k, v in r.items() if v is not None} for r in item.get("resources") or []
        ],
        "tags": item.get("tags") or [],
        "cluster": item.get("cluster"),
        "namespace": item.get("namespace"),
        "node": item.get("node"),
        "simulated": bool(item.get("simulated")),
    }


def _decide(body: bytes) -> bool:
    """Whether the quick path took ``body``; when it did, the full types must take every item
    and the store must get the same rows from both."""
    quick = decode_alerts(body, 100)
    if quick is None:
        return False
    full = ingest_batch(body, "alerts", AlertIn, 100)
    assert not full.errors, full.errors
    assert quick[0] == len(full.valid)
    usual = json.loads(to_json([alert_bulk_input(a) for a in full.valid]))
    assert [_row(i) for i in json.loads(quick[1])] == [_row(i) for i in usual]
    return True


def _body(**changes: Any) -> bytes:
    item = {**BASE, **changes}
    doc = {"alerts": [{k: v for k, v in item.items() if v is not ...}]}
    try:  # raw UTF-8, as producers send it; an unpaired surrogate can only be escaped
        return json.dumps(doc, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(doc).encode()


TAKEN: list[dict[str, Any]] = [
    {},
    {"severity": "CRIT"},
    {"severity": "Informational"},
    {"severity": 0},
    {"severity": 7},
    {"time": "2026-11-01T12:00:00.123456+05:30"},
    {"time": "2026-11-01T00:30:00+01:00"},  # the day before in UTC
    {"time": "2026-11-01T12:00:00-00:00"},
    {"time": "0002-01-01T00:30:00+01:00"},
    {"time": "9999-12-31T23:59:59.999999Z"},
    {"time": "2026-11-01 12:00:00Z"},
    {"time": "2026-11-01t12:00:00z"},
    {"time": "2026-11-01T12:00:00.5+0500"},
    {"id": "x" * 64},
    {"id": "node-1:exec.42_A"},
    {"rule": "r" * 255},
    {"rule": "\U0001f600" * 255},  # limits count characters, not bytes
    {"output": 'a "quoted"\nline \u00e9'},
    {"mitre": {"tactic": "Execution"}},
    {"mitre": {"tactic": "Execution", "technique": None}},
    {"mitre": None},
    {"fields": {"big": 2**70, "neg": -(2**65), "f": 0.1, "e": 1e300, "nil": None, "l": [{}]}},
    {"fields": {"dup": 1, "nested": {"a": [1, "2", True]}}},
    {"resources": [{"kind": "Pod", "name": "p", "namespace": None, "uid": "u"}]},
    {"tags": ["container", ""]},
    {"cluster": None, "namespace": "ns", "node": "n"},
    {"simulated": True},
    {"source": "k8s_audit"},
]

REFUSED: list[dict[str, Any]] = [
    {"id": ...},  # derived from the content: the usual way
    {"id": None},
    {"id": "a\n"},  # "$" in Python's re would have let this through
    {"id": "x" * 65},
    {"id": "a b"},
    {"time": "2026-11-01T12:00:00"},  # naive: taken as UTC, the usual way
    {"time": "2026-11-01T12:00:00.1234567Z"},  # pydantic truncates, msgspec would round
    {"time": "2026-11-01T12:00:00.0000005Z"},
    {"time": "2026-11-01T12:00:00,5Z"},
    {"output": "at 12:00:00.1234567"},  # looks like such a time: the usual way, to be sure
    {"time": "2026-02-30T12:00:00Z"},
    {"time": "2026-11-01T23:59:60Z"},
    {"time": "0001-01-01T00:30:00+01:00"},  # before year 1 in UTC
    {"time": "9999-12-31T23:00:00-05:00"},  # past year 9999 in UTC
    {"time": 1_700_000_000},
    {"severity": " notice "},
    {"severity": "notice\n"},
    {"severity": "nope"},
    {"severity": 8},
    {"severity": True},
    {"severity": 3.0},
    {"severity": "3"},
    {"rule": ""},
    {"rule": "r" * 256},
    {"source": ""},
    {"mitre": {"tactic": "Execution", "extra": 1}},
    {"mitre": {"tactic": "t" * 65}},
    {"resources": [{"kind": "K" * 65, "name": "p"}]},
    {"fields": []},
    {"fields": {"nul": "\u0000"}},
    {"fields": {"lone": "\ud800"}},
    {"resources": [{"kind": "Pod"}]},
    {"tags": ["t"] * 65},
    {"simulated": "true"},
    {"surprise": 1},
]


@pytest.mark.parametrize("changes", TAKEN, ids=range(len(TAKEN)))
def test_plainly_valid_alerts_take_the_quick_path_with_the_usual_rows(
    changes: dict[str, Any],
) -> None:
    assert _decide(_body(**changes))


@pytest.mark.parametrize("changes", REFUSED, ids=range(len(REFUSED)))
def test_anything_else_goes_the_usual_way(changes: dict[str, Any]) -> None:
    assert not _decide(_body(**changes))


def test_a_batch_with_one_doubtful_item_goes_the_usual_way_whole() -> None:
    items = [{**BASE, "id": f"a-{i}"} for i in range(10)]
    assert _decide(json.dumps({"alerts": items}).encode())
    items[7]["time"] = "2026-11-01T12:00:00"
    assert not _decide(json.dumps({"alerts": items}).encode())


def test_garbage_and_oversized_batches_go_the_usual_way() -> None:
    for body in [b"", b"\xff\xfe", b"[]", b'{"alerts": {}}', b'{"alerts": [], "x": 1}', b"{"]:
        assert decode_alerts(body, 10) is None
    assert decode_alerts(b'{"alerts": []}', 10) == (0, "[]")
    batch = json.dumps({"alerts": [{**BASE, "id": f"a-{i}"} for i in range(11)]}).encode()
    assert decode_alerts(batch, 10) is None
    assert decode_alerts(batch, 11) is not None


_ONE = '"time": "2026-11-01T12:00:00Z", "rule": "r", "severity": 2'
RAW_BODIES = [  # ONE: the rest of a valid item
    ('{"alerts": [{"id": "a", "id": "b", ONE}]}', True),  # duplicate keys: the last counts
    ('{"alerts": [{"id": "a", ONE, "severity": "crit"}]}', True),
    ('{"alerts": [{"id": "a", ONE, "fields": {"k": 1, "k": 2}}]}', True),
    ('{"alerts": [], "alerts": [{"id": "a", ONE}]}', True),
    ('\ufeff{"alerts": [{"id": "a", ONE}]}', False),  # a byte order mark
    (' \n{"alerts": [{"id": "a", ONE}]}\t ', True),
    ('{"alerts": [{"id": "a", ONE}]} x', False),
    ('{"alerts": [{"id": "a", ONE, "fields": {"n": 1.0e2, "m": -0, "big": 1e999}}]}', False),
    ('{"alerts": [{"id": "a", ONE, "fields": {"n": NaN}}]}', False),
]


@pytest.mark.parametrize(("body", "taken"), RAW_BODIES, ids=range(len(RAW_BODIES)))
def test_odd_json_is_taken_only_as_the_full_types_take_it(body: str, taken: bool) -> None:
    assert _decide(body.replace("ONE", _ONE).encode()) is taken


def _mostly(good: Any, *odd: Any) -> Any:
    """Plainly valid values most of the time (else nothing would take the quick path)."""
    return st.one_of(good, good, good, good, *odd)


_WORD = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=6)
_ODD_TEXT = st.sampled_from(["", "\n", "\u0000", "\ud800", "a" * 256])
_TEXT = _mostly(_WORD, _ODD_TEXT)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6,
)
_VALUES: dict[str, Any] = {
    "id": _mostly(
        st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True),
        st.none(),
        st.from_regex(r"[A-Za-z0-9 \n-]{0,66}", fullmatch=True),
    ),
    "time": _mostly(
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
        st.datetimes().map(lambda d: d.isoformat()),
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat(" ")),
        st.integers(),
        _ODD_TEXT,
    ),
    "rule": _TEXT,
    "severity": _mostly(
        st.integers(0, 7) | st.sampled_from(["notice", "WARN", "info", "Error"]),
        st.sampled_from([-1, 8, True, 3.0, "bogus", " crit", "3"]),
    ),
    "source": _TEXT,
    "output": _TEXT,
    "mitre": st.none() | st.fixed_dictionaries({"tactic": _TEXT}, optional={"technique": _TEXT}),
    "fields": _mostly(st.dictionaries(_TEXT, _JSON, max_size=4), _JSON),
    "resources": st.lists(
        st.fixed_dictionaries(
            {"kind": _TEXT, "name": _TEXT}, optional={"namespace": st.none() | _TEXT}
        ),
        max_size=2,
    ),
    "tags": st.lists(_TEXT, max_size=3),
    "cluster": st.none() | _TEXT,
    "simulated": _mostly(st.booleans(), st.integers(0, 1), st.just("true")),
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {k: _VALUES[k] for k in ("id", "time", "rule", "severity")},
            optional={
                k: v for k, v in _VALUES.items() if k not in ("id", "time", "rule", "severity")
            },
        ),
        min_size=1,
        max_size=2,
    ),
    st.booleans(),
)
def test_what_the_quick_path_takes_the_full_types_take_alike(
    items: list[dict[str, Any]], ascii_only: bool
) -> None:
    text = json.dumps({"alerts": items}, ensure_ascii=ascii_only)
    _decide(text.encode("utf-8", "surrogatepass"))  # not UTF-8 then: refused both ways


@pytest.mark.postgres
def test_rows_from_the_quick_path_equal_the_object_path_rows(postgres_url: str) -> None:
    taken = [
        {**doc, "id": f"q-{i}"}
        for i, doc in enumerate(_varied_alert_docs() + [{**BASE, **c} for c in TAKEN])
        if decode_alerts(json.dumps({"alerts": [{**doc, "id": "x"}]}).encode(), 1)
    ]
    assert len(taken) >= len(TAKEN)
    body = json.dumps({"alerts": taken}).encode()
    quick = decode_alerts(body, 100)
    assert quick is not None
    objects = [alert_from_input(a) for a in ingest_batch(body, "alerts", AlertIn, 100).valid]
    db = Database.connect(postgres_url)
    try:
        assert db.alerts.insert_json(quick[1]) == {d["id"] for d in taken}
        assert db.alerts.insert_json(quick[1]) == set()  # idempotent
        db.alerts.insert([replace(o, id="o" + o.id) for o in objects])
        for o in objects:
            assert db.alerts.get(o.id) == replace(db.alerts.get("o" + o.id), id=o.id)
    finally:
        db.close()
