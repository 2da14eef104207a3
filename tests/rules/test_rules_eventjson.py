"""mamori event JSON <-> Event."""

from __future__ import annotations

from typing import Any

import pytest

from mamori.core.errors import ValidationError
from mamori.core.eventjson import from_dict, to_dict

FULL: dict[str, Any] = {
    "kind": "process_exec",
    "time_ns": 5,
    "syscall": "execve",
    "process": {
        "pid": 2, "name": "sh", "args": ["-c", "id"], "exe_flags": {"upper_layer": True},
        "parent": {"pid": 1, "name": "bash", "anames": ["init"]},
    },
    "container": {"id": "c" * 64, "mounts": [{"source": "/a", "dest": "/b", "rw": False}]},
    "network": {"protocol": "tcp", "dst_ip": "1.2.3.4", "dst_port": 443},
    "audit": {"verb": "get", "user": {"username": "u"}},
    "args": {"flags": "1"},
    "extra": {"mamori.drift.verdict": "drift-new"},
}  # fmt: skip


def test_round_trip() -> None:
    event = from_dict(FULL)
    assert event.process is not None
    assert event.process.parent is not None
    assert event.process.parent.anames == ("init",)
    assert event.container is not None
    assert event.container.mounts[0].rw is False
    assert to_dict(event) == FULL
    assert from_dict(to_dict(event)) == event


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "event: expected an object"),
        ({"kind": "nope", "time_ns": 1}, "event.kind"),
        ({"kind": "file_open", "time_ns": "1"}, "event.time_ns"),
        ({"kind": "file_open", "time_ns": 1, "colour": 1}, "event.colour: unknown key"),
        ({"kind": "file_open", "time_ns": 1, "file": {}}, "event.file"),
        (
            {"kind": "file_open", "time_ns": 1, "process": {"pid": 1, "name": "x", "z": 1}},
            "event.process.z: unknown key",
        ),
    ],
)
def test_errors_name_the_key(data: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        from_dict(data)
