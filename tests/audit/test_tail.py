"""Tailing audit logs: complete lines only, rotation by rename, resume from the saved offset."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mamori.audit.tail import Line, Tailer, TailState


def line(n: int) -> bytes:
    return json.dumps({"auditID": f"id-{n}", "stage": "ResponseComplete"}).encode() + b"\n"


def write(path: Path, *numbers: int) -> None:
    with path.open("ab") as f:
        for n in numbers:
            f.write(line(n))


def ids(lines: list[Line]) -> list[int]:
    return [int(json.loads(x.data)["auditID"][3:]) for x in lines]


def drain(t: Tailer) -> list[int]:
    """Read until nothing is new, committing after each batch (as ``follow`` does)."""
    out: list[int] = []
    for _ in range(100):
        batch = t.read_batch()
        if not batch:
            batch = t.read_batch()  # a rotation switches files on an empty read
            if not batch:
                return out
        out += ids(batch)
        t.commit()
    raise AssertionError("the tailer never ran dry")


def tailer(tmp_path: Path, batch_lines: int = 3) -> Tailer:
    t = Tailer(tmp_path / "audit.log", tmp_path / "state.json", batch_lines=batch_lines)
    t.open()
    return t


def test_lines_come_in_batches_and_a_restart_resumes_after_the_last_commit(tmp_path: Path) -> None:
    write(tmp_path / "audit.log", *range(10))
    t = tailer(tmp_path)
    assert ids(t.read_batch()) == [0, 1, 2]
    t.commit()
    assert ids(t.read_batch()) == [3, 4, 5]  # read but not committed: a crash here ...
    t.close()
    again = tailer(tmp_path)
    assert drain(again) == [3, 4, 5, 6, 7, 8, 9]  # ... replays only that batch


def test_a_half_written_line_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    write(log, 0)
    with log.open("ab") as f:
        f.write(line(1)[:10])
    t = tailer(tmp_path)
    assert drain(t) == [0]
    with log.open("ab") as f:
        f.write(line(1)[10:])
    assert drain(t) == [1]


def test_rotation_by_rename_reads_the_old_file_to_its_end_then_the_new_one(
    tmp_path: Path,
) -> None:
    log = tmp_path / "audit.log"
    write(log, 0, 1)
    t = tailer(tmp_path, batch_lines=100)
    assert drain(t) == [0, 1]
    write(log, 2, 3)  # written before the rotation, not read yet
    log.rename(tmp_path / "audit.log.1")
    write(log, 4, 5)
    assert drain(t) == [2, 3, 4, 5]


def test_a_restart_after_a_rotation_finishes_the_rotated_file_first(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    write(log, 0, 1, 2, 3)
    t = tailer(tmp_path, batch_lines=2)
    assert ids(t.read_batch()) == [0, 1]
    t.commit()
    t.close()  # the tailer dies; meanwhile the file rotates (kube-apiserver's naming)
    log.rename(tmp_path / "audit-2025-03-01T12-00-00.000.log")
    write(log, 4, 5)
    assert drain(tailer(tmp_path, batch_lines=2)) == [2, 3, 4, 5]


def test_a_file_truncated_in_place_is_read_again_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    write(log, 0, 1, 2)
    t = tailer(tmp_path)
    assert drain(t) == [0, 1, 2]
    os.truncate(log, 0)
    write(log, 7)
    assert drain(t) == [7]


def test_a_state_that_does_not_match_the_file_starts_over(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    write(log, 0, 1, 2)
    t = tailer(tmp_path)
    assert drain(t) == [0, 1, 2]
    t.close()
    state = TailState.load(tmp_path / "state.json")
    assert state is not None
    assert state.offset == log.stat().st_size
    # the same inode now holds other content (rewritten in place)
    with log.open("r+b") as f:
        f.write(line(9) + line(8) + line(7))
    assert drain(tailer(tmp_path)) == [9, 8, 7]


def test_an_unreadable_state_file_starts_over(tmp_path: Path) -> None:
    write(tmp_path / "audit.log", 0)
    (tmp_path / "state.json").write_text("{not json")
    assert drain(tailer(tmp_path)) == [0]


def test_no_file_yet_is_waited_for(tmp_path: Path) -> None:
    t = tailer(tmp_path)
    assert t.read_batch() == []
    write(tmp_path / "audit.log", 0)
    assert drain(t) == [0]
