from datetime import UTC, datetime, timedelta, timezone

import pytest

from mamori.core.errors import ValidationError
from mamori.store.query import Cursor


@pytest.mark.parametrize(
    "cursor",
    [
        Cursor(datetime(2025, 3, 1, 12, 0, tzinfo=UTC), "alert-00001"),
        Cursor(datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC), "a|b|c"),
        Cursor(datetime(2025, 3, 1, tzinfo=timezone(timedelta(hours=-5))), "ü"),
    ],
)
def test_cursor_round_trips(cursor: Cursor) -> None:
    text = cursor.encode()
    assert "=" not in text
    assert Cursor.decode(text) == cursor


@pytest.mark.parametrize("text", ["", "!!!", "bm9waXBl", "fA", "_w", "bm90YWRhdGV8aWQ"])
def test_bad_cursors_raise_validation_error(text: str) -> None:
    with pytest.raises(ValidationError, match="invalid cursor"):
        Cursor.decode(text)
