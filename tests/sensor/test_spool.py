"""The spool and the server sink, against the real server (``live_server``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx

from mamori.core.alertjson import alert_to_wire
from mamori.core.findings import Alert
from mamori.core.ids import content_id
from mamori.core.severity import Severity
from mamori.sensor.sinks import ServerSink, StreamSink, dumps
from mamori.sensor.spool import Spool
from mamori.sensor.stats import SensorStats
from mamori.store.query import Filters
from tests.conftest import LiveServer


def alert(n: int) -> Alert:
    return Alert(
        id=content_id("test", n),
        time=datetime(2026, 11, 22, 8, 0, n % 60, tzinfo=UTC),
        rule="Process executed in container",
        severity=Severity.INFORMATIONAL,
        source="syscall",
        output=f"exec {n}",
        fields={"proc.pid": n},
        node="node-a",
    )


def test_segments_roll_seal_and_recover(tmp_path: Path) -> None:
    size = sum(len(dumps(alert(i))) + 1 for i in range(3))
    spool = Spool(tmp_path, segment_bytes=size)
    spool.append(dumps(alert(i)) for i in range(3))  # reaches the size: sealed at once
    spool.append([dumps(alert(3))])
    assert len(spool.sealed()) == 1
    assert spool.has_open()
    # A crash: a new Spool on the same directory seals the open segment as it is.
    again = Spool(tmp_path, segment_bytes=size)
    segments = again.sealed()
    assert [len(Spool.read(s)[0]) for s in segments] == [3, 1]
    again.append([dumps(alert(4))])
    again.close()
    assert len(again.sealed()) == 3
    assert int(again.sealed()[-1].stem) == 3


def test_corrupt_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    seg = tmp_path / "000000000001.jsonl"
    good = [dumps(alert(i)).decode() for i in range(3)]
    seg.write_text(good[0] + "\n{not json\n" + good[1] + "\n[1,2]\n" + good[2][:40])
    items, corrupt = Spool.read(seg)
    assert [i["output"] for i in items] == ["exec 0", "exec 1"]
    assert corrupt == 3  # bad JSON, not an object, truncated last line


def test_wire_form_is_what_the_server_takes() -> None:
    from pydantic import TypeAdapter

    from mamori.server.schemas import AlertIn, alert_from_input

    wire = alert_to_wire(alert(7))
    parsed = alert_from_input(TypeAdapter(AlertIn).validate_python(wire))
    assert parsed.id == alert(7).id
    assert parsed.severity is Severity.INFORMATIONAL
    assert parsed.fields == {"proc.pid": 7}


def test_stream_sink_writes_json_lines(tmp_path: Path) -> None:
    sink = StreamSink.file(tmp_path / "out.jsonl")
    sink.emit([alert(1), alert(2)])
    sink.close()
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == [alert(1).id, alert(2).id]


def test_server_sink_delivers_spool_with_a_corrupt_line(
    tmp_path: Path, live_server: LiveServer
) -> None:
    spool_dir = tmp_path / "spool"
    spool = Spool(spool_dir)
    spool.append(dumps(alert(i)) for i in range(5))
    spool.close()
    broken = spool_dir / "000000000002.jsonl"
    broken.write_bytes(dumps(alert(5)) + b"\n" + dumps(alert(6))[:30])  # crash mid-line
    stats = SensorStats()
    sink = ServerSink(live_server.url, live_server.tokens.ingest, Spool(spool_dir), stats, batch=2)
    assert sink.send_pending()
    sink.emit([alert(i) for i in range(7, 10)])
    sink.emit([alert(0)])  # a resend: the server keeps one row
    sink.close()
    assert not list(spool_dir.iterdir())
    assert stats.spool_corrupt == 1
    page = live_server.db.alerts.list(Filters(), limit=100)
    assert sorted(a.output for a in page.items) == sorted(f"exec {i}" for i in range(10) if i != 6)


def test_server_down_keeps_the_spool(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    stats = SensorStats()
    sink = ServerSink(
        "http://mamori.invalid", "t", Spool(tmp_path), stats, transport=httpx.MockTransport(refuse)
    )
    sink.emit([alert(1)])
    sink.spool.seal(force=True)
    assert not sink.send_pending()
    sink.close(drain_s=0)
    assert len(list(tmp_path.glob("*.jsonl"))) == 1
    assert stats.send_failures >= 1


def test_spool_is_bounded_oldest_segments_go_first(tmp_path: Path) -> None:
    """A server down for long: past max_bytes the oldest segments are dropped and counted,
    the newest kept; a restarted spool enforces the bound on what it finds."""
    line = len(dumps(alert(0))) + 1
    spool = Spool(tmp_path, segment_bytes=2 * line, max_bytes=4 * line + 10)
    for i in range(10):  # 5 segments of 2 alerts; room for 2
        spool.append([dumps(alert(i))])
    spool.close()
    kept = [item["output"] for s in spool.sealed() for item in Spool.read(s)[0]]
    assert kept == ["exec 6", "exec 7", "exec 8", "exec 9"]
    assert (spool.dropped_lines, spool.dropped_segments) == (6, 3)
    smaller = Spool(tmp_path, segment_bytes=line, max_bytes=2 * line + 5)
    assert [i["output"] for s in smaller.sealed() for i in Spool.read(s)[0]] == ["exec 8", "exec 9"]
    assert smaller.dropped_lines == 2
