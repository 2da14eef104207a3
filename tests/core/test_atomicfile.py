"""write_atomic: concurrent writers never trip over each other; a failed write leaves nothing."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest

from mamori.core.atomicfile import write_atomic


def test_writers_in_many_threads_all_succeed_and_one_complete_content_wins(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.json"
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        start.wait()
        try:
            for i in range(200):
                write_atomic(path, json.dumps({"writer": n, "i": i, "pad": "x" * 4096}))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert json.loads(path.read_text())["i"] == 199  # whole: some writer's last
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temporary left


def test_the_file_is_readable_by_others_and_durable_writes_work(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    write_atomic(path, "{}", durable=True)
    assert path.read_text() == "{}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_failed_rename_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "dir"
    target.mkdir()
    (target / "keep").write_text("old")
    with pytest.raises(IsADirectoryError):
        write_atomic(target, "new")  # a directory cannot be replaced by a file
    assert (target / "keep").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir"]
