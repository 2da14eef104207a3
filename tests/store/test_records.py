"""Behaviour shared by the alert and finding repositories, run for both on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from mamori.core.errors import NotFoundError
from mamori.core.findings import AlertStatus, FindingStatus
from mamori.store._common import now
from mamori.store.database import Database
from mamori.store.models import ALERT_COMMENTS, FINDING_COMMENTS
from mamori.store.query import Cursor
from mamori.store.records import RecordRepository
from tests import data


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    make: Callable[..., Any]
    statuses: tuple[str, ...]
    comments_table: Any

    def repo(self, db: Database) -> RecordRepository[Any]:
        repo: RecordRepository[Any] = getattr(db, self.name)
        return repo


KINDS = [
    Kind("alerts", data.alert, tuple(AlertStatus), ALERT_COMMENTS),
    Kind("findings", data.finding, tuple(FindingStatus), FINDING_COMMENTS),
]


@pytest.fixture(params=KINDS, ids=lambda k: k.name)
def kind(request: pytest.FixtureRequest) -> Kind:
    k: Kind = request.param
    return k


def test_round_trip_keeps_every_field(db: Database, kind: Kind) -> None:
    record = kind.make(3)
    repo = kind.repo(db)
    assert repo.insert([record]) == {record.id}
    assert repo.get(record.id) == record


def test_insert_is_idempotent_by_id(db: Database, kind: Kind) -> None:
    repo = kind.repo(db)
    records = [kind.make(n) for n in range(5)]
    assert repo.insert(records) == {r.id for r in records}
    assert repo.insert(records) == set()
    assert repo.insert([*records[:2], kind.make(9)]) == {kind.make(9).id}
    assert repo.count() == 6


def test_duplicates_within_one_batch_store_one_row_and_first_wins(db: Database, kind: Kind) -> None:
    repo = kind.repo(db)
    first = kind.make(1)
    again = dataclasses.replace(first, time=first.time + timedelta(hours=1))
    assert repo.insert([first, kind.make(2), again, first]) == {first.id, kind.make(2).id}
    assert repo.count() == 2
    assert repo.get(first.id).time == first.time


def test_a_resent_record_does_not_overwrite_triage(db: Database, kind: Kind) -> None:
    repo = kind.repo(db)
    record = kind.make(1)
    repo.insert([record])
    repo.set_status(record.id, kind.statuses[-1])
    repo.add_comment(record.id, "alice", "looked at it")
    assert repo.insert([record]) == set()
    stored = repo.get(record.id)
    assert stored.status == kind.statuses[-1]
    assert [c.text for c in stored.comments] == ["looked at it"]


def test_insert_nothing(db: Database, kind: Kind) -> None:
    assert kind.repo(db).insert([]) == set()
    assert kind.repo(db).count() == 0


def test_get_unknown_raises_not_found(db: Database, kind: Kind) -> None:
    kind.repo(db).insert([kind.make(1)])
    for missing in ["nope", "", kind.make(1).id + "'; --", "%", kind.make(1).id.upper()]:
        with pytest.raises(NotFoundError, match="not found"):
            kind.repo(db).get(missing)


def test_keyset_pagination_walks_every_row_once_with_ties_on_time(
    db: Database, kind: Kind, subtests: pytest.Subtests
) -> None:
    repo = kind.repo(db)
    # 23 records on only 4 distinct times: most neighbours tie on time.
    records = [
        kind.make(n, id=f"r{(n * 7919) % 1000:04d}", time=data.BASE + timedelta(seconds=n % 4))
        for n in range(23)
    ]
    repo.insert(records)
    expected = data.newest_first([(r.id, r.time) for r in records])
    for page_size in (1, 4, 7, 22, 23, 100):
        with subtests.test(page_size=page_size):
            walk(repo, page_size, expected)


def walk(repo: RecordRepository[Any], page_size: int, expected: list[str]) -> None:
    seen: list[str] = []
    cursor: Cursor | None = None
    pages = 0
    while True:
        page = repo.list(limit=page_size, cursor=cursor)
        pages += 1
        assert len(page.items) <= page_size
        seen.extend(r.id for r in page.items)
        if page.next_cursor is None:
            break
        cursor = Cursor.decode(page.next_cursor)
        assert pages <= len(expected) + 1, "pagination does not end"
    assert seen == expected
    assert pages == max(1, -(-len(expected) // page_size))


def test_last_full_page_has_no_next_cursor(db: Database, kind: Kind) -> None:
    repo = kind.repo(db)
    repo.insert([kind.make(n) for n in range(4)])
    page = repo.list(limit=4)
    assert len(page.items) == 4
    assert page.next_cursor is None


def test_list_items_carry_no_comments_but_get_does(db: Database, kind: Kind) -> None:
    repo = kind.repo(db)
    repo.insert([kind.make(1)])
    repo.add_comment(kind.make(1).id, "alice", "note")
    assert repo.list().items[0].comments == ()
    assert len(repo.get(kind.make(1).id).comments) == 1


def test_status_change(db: Database, kind: Kind) -> None:
    repo = kind.repo(db)
    repo.insert([kind.make(1), kind.make(2)])
    for status in kind.statuses:
        assert repo.set_status(kind.make(1).id, status).status == status
        assert repo.get(kind.make(1).id).status == status
    assert repo.get(kind.make(2).id).status == kind.statuses[0]


def test_status_change_of_unknown_record_raises(db: Database, kind: Kind) -> None:
    with pytest.raises(NotFoundError):
        kind.repo(db).set_status("nope", kind.statuses[1])


def test_comments_keep_order_author_and_time(db: Database, kind: Kind) -> None:
    repo = kind.repo(db)
    record = kind.make(1)
    repo.insert([record])
    start = now()
    repo.add_comment(record.id, "alice", "first")
    result = repo.add_comment(record.id, "bob", "second: 100% sure")
    assert [(c.author, c.text) for c in result.comments] == [
        ("alice", "first"),
        ("bob", "second: 100% sure"),
    ]
    for c in result.comments:
        assert c.time.tzinfo is not None
        assert start - timedelta(seconds=5) <= c.time <= now() + timedelta(seconds=5)


def test_comment_on_unknown_record_raises_and_writes_nothing(db: Database, kind: Kind) -> None:
    with pytest.raises(NotFoundError):
        kind.repo(db).add_comment("nope", "alice", "text")
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(kind.comments_table)).scalar() == 0


def test_retention_purges_old_records_and_their_comments(db: Database, kind: Kind) -> None:
    repo = kind.repo(db)
    t = now()
    old = [kind.make(n, time=t - timedelta(days=40 + n)) for n in range(3)]
    young = [kind.make(n, time=t - timedelta(days=n)) for n in range(10, 12)]
    repo.insert(old + young)
    repo.add_comment(old[0].id, "alice", "old note")
    repo.add_comment(young[0].id, "alice", "young note")

    assert db.apply_retention(0) == 0  # 0 keeps everything
    assert repo.count() == 5
    assert db.apply_retention(30) == 3
    assert {r.id for r in repo.list().items} == {r.id for r in young}
    with db.engine.connect() as conn:
        texts = conn.execute(select(kind.comments_table.c.text)).scalars().all()
    assert texts == ["young note"]
    assert db.apply_retention(30) == 0


def test_retention_covers_alerts_and_findings_together(db: Database) -> None:
    t = now()
    db.alerts.insert([data.alert(1, time=t - timedelta(days=100))])
    db.findings.insert([data.finding(1, time=t - timedelta(days=100))])
    db.findings.insert([data.finding(2, time=t)])
    assert db.apply_retention(90) == 2
    assert (db.alerts.count(), db.findings.count()) == (0, 1)
