import re
import uuid
from datetime import UTC, datetime

import pytest

from mamori.core.ids import content_id, uuid7

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_uuid7_format_version_and_variant() -> None:
    for _ in range(200):
        text = uuid7()
        assert UUID7.match(text), text
        parsed = uuid.UUID(text)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122


@pytest.mark.parametrize("ms", [0, 1, 1_700_000_000_000, (1 << 48) - 1])
def test_uuid7_carries_the_milliseconds(ms: int) -> None:
    assert uuid.UUID(uuid7(ms)).int >> 80 == ms


def test_uuid7_sorts_by_time() -> None:
    times = [1_700_000_000_000 + step * 7 for step in range(100)]
    ids = [uuid7(ms) for ms in reversed(times)]
    assert sorted(ids) == list(reversed(ids))


def test_uuid7_default_is_now() -> None:
    before = int(datetime.now(UTC).timestamp() * 1000)
    ms = uuid.UUID(uuid7()).int >> 80
    after = int(datetime.now(UTC).timestamp() * 1000)
    assert before <= ms <= after


def test_uuid7_is_unique_within_one_millisecond() -> None:
    ids = {uuid7(1_700_000_000_000) for _ in range(1000)}
    assert len(ids) == 1000


def test_content_id_is_deterministic_and_short_hex() -> None:
    parts = ("2025-03-01T12:00:00+00:00", "rule", {"b": 1, "a": [1, 2]})
    first = content_id(*parts)
    assert first == content_id(*parts)
    assert re.fullmatch(r"[0-9a-f]{32}", first)


def test_content_id_ignores_mapping_key_order() -> None:
    assert content_id({"a": 1, "b": 2}) == content_id({"b": 2, "a": 1})


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (("a", "b"), ("b", "a")),
        (("a",), ("a", None)),
        (({"x": 1},), ({"x": "1"},)),
        (("ab", "c"), ("a", "bc")),
        ((1,), (2,)),
    ],
)
def test_content_id_differs_when_content_differs(
    left: tuple[object, ...], right: tuple[object, ...]
) -> None:
    assert content_id(*left) != content_id(*right)


def test_content_id_accepts_datetimes() -> None:
    when = datetime(2025, 3, 1, tzinfo=UTC)
    assert content_id(when) == content_id(when)
    assert content_id(when) != content_id(datetime(2025, 3, 2, tzinfo=UTC))
