"""fd.name of network events renders unknown ends as libsinsp does, never "None"."""

from __future__ import annotations

import pytest

from mamori.core.events import Event, EventKind, NetworkInfo
from mamori.rules.fields import CATALOG


def _fd_name(net: NetworkInfo) -> object:
    spec = CATALOG["syscall"]["fd.name"]
    assert spec.extract is not None
    return spec.extract(Event(kind=EventKind.NETWORK_CONNECT, time_ns=1, network=net))


@pytest.mark.parametrize(
    ("net", "expected"),
    [
        (NetworkInfo("tcp", "10.0.0.9", 443, "10.0.0.2", 51000), "10.0.0.2:51000->10.0.0.9:443"),
        (NetworkInfo("tcp", "127.0.0.1", 9), "0.0.0.0:0->127.0.0.1:9"),
        (NetworkInfo("tcp", "127.0.0.1", 9, "127.0.0.1"), "127.0.0.1:0->127.0.0.1:9"),
    ],
)
def test_fd_name_of_connects(net: NetworkInfo, expected: str) -> None:
    assert _fd_name(net) == expected
