"""Operator semantics on single values (checks.py)."""

from __future__ import annotations

import pytest

from mamori.rules.checks import set_predicate


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/etc", True),  # the path itself
        ("/etc/passwd", True),  # below it
        ("/etc/ssl/certs/a.pem", True),
        ("/etcetera", False),  # a sibling with the same start is not below
        ("/et", False),
        ("/var/www", True),  # "/var/www/" in the list: the trailing slash does not count
        ("/var/www/html/x.php", True),
        ("/var/wwwx", False),
        ("/srv", False),
        ("", False),
    ],
)
def test_pmatch_is_the_path_or_below_it(value: str, expected: bool) -> None:
    assert set_predicate("pmatch", ["/etc", "/var/www/"])(value) is expected


def test_pmatch_on_the_root_takes_every_absolute_path() -> None:
    below_root = set_predicate("pmatch", ["/"])
    assert below_root("/")
    assert below_root("/anything/at/all")
    assert not below_root("relative")
