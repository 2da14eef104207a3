"""The lower layers' executables by inode number (``mamori.drift.inodes``) on plain directories;
the overlay case (fstat through a mounted overlay) is in test_verdict.py."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from mamori.drift import inodes
from mamori.drift.inodes import ImageInodes, attributes, find_in, walk_layer


def _file(path: Path, data: bytes, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return path


def _walked(index: ImageInodes, n: int) -> None:
    deadline = time.monotonic() + 10
    while index.walked < n:
        assert time.monotonic() < deadline, "the background walk did not finish"
        time.sleep(0.01)


def test_walk_layer_keeps_executable_regular_files(tmp_path: Path) -> None:
    tool = _file(tmp_path / "usr/bin/tool", b"T" * 10, 0o755)
    user_only = _file(tmp_path / "opt/x", b"X", 0o700)
    _file(tmp_path / "etc/conf", b"C", 0o644)
    (tmp_path / "usr/bin/link").symlink_to("tool")
    found = walk_layer(str(tmp_path))
    assert len(found) == 2
    for path in (tool, user_only):
        st = path.stat()
        assert found.get(st.st_ino) == attributes(st)
    assert found.get((tmp_path / "etc/conf").stat().st_ino) is None
    assert found.get(min(tool.stat().st_ino, user_only.stat().st_ino) - 1) is None


def test_walk_layer_stops_at_its_limit(tmp_path: Path) -> None:
    for i in range(20):
        _file(tmp_path / f"bin/t{i}", b"T", 0o755)
    assert len(walk_layer(str(tmp_path), limit=5)) <= 5


def test_find_needs_the_same_inode_and_attributes(tmp_path: Path) -> None:
    top, bottom = tmp_path / "top", tmp_path / "bottom"
    a = _file(bottom / "bin/a", b"A", 0o755)
    b = _file(top / "bin/b", b"B", 0o755)
    other = _file(tmp_path / "elsewhere/c", b"C", 0o755)
    index = ImageInodes()
    index.request((str(top), str(bottom)))
    index.request((str(top), str(bottom)))  # asked again: walked once
    _walked(index, 2)
    chain = (str(top), str(bottom))
    assert index.find(chain, a.stat())
    assert index.find(chain, b.stat())
    assert not index.find((str(top),), a.stat())  # not a layer of that container
    assert not index.find(chain, other.stat())
    os.utime(a, ns=(0, 0))  # same inode, other mtime and ctime: not proven
    assert not index.find(chain, a.stat())
    time.sleep(0.2)
    assert index.walked == 2


def test_unreadable_layer_is_an_empty_index(tmp_path: Path) -> None:
    index = ImageInodes()
    index.request((str(tmp_path / "missing"),))
    _walked(index, 1)
    assert not index.find((str(tmp_path / "missing"),), tmp_path.stat())


def test_the_walker_thread_ends_when_idle(tmp_path: Path) -> None:
    _file(tmp_path / "a/bin/t", b"T", 0o755)
    index = ImageInodes()
    index.request((str(tmp_path / "a"),))
    _walked(index, 1)
    deadline = time.monotonic() + 10
    while any(t.name == "mamori-drift-inodes" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the walker thread stayed"
        time.sleep(0.05)
    _file(tmp_path / "b/bin/t", b"T", 0o755)
    index.request((str(tmp_path / "b"),))  # a new request starts it again
    _walked(index, 2)
    assert index.find((str(tmp_path / "b"),), (tmp_path / "b/bin/t").stat())


def test_chain_once_every_layer_is_walked_and_stale_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top, bottom = tmp_path / "top", tmp_path / "bottom"
    a = _file(bottom / "bin/a", b"A", 0o755)
    b = _file(top / "bin/b", b"B", 0o755)
    index = ImageInodes()
    lowers = (str(top), str(bottom))
    assert index.chain(lowers) is None  # nothing walked yet
    index.request((str(top),))
    _walked(index, 1)
    assert index.chain(lowers) is None  # the bottom layer is not walked yet
    index.request(lowers)
    _walked(index, 2)
    chain = index.chain(lowers)
    assert chain is not None
    assert len(chain) == 2
    assert find_in(chain, a.stat())
    assert find_in(chain, b.stat())
    assert not find_in(chain, (tmp_path / "top").stat())
    assert find_in((None, chain[1]), a.stat())  # a layer not walked is skipped
    assert index.generation == 0
    # Past the total, the index starts again: chains taken before are stale.
    monkeypatch.setattr(inodes, "TOTAL_MAX", 1)
    c = _file(tmp_path / "other/bin/c", b"C", 0o755)
    index.request((str(tmp_path / "other"),))
    _walked(index, 3)
    assert index.generation == 1
    assert index.chain(lowers) is None
    assert index.find((str(tmp_path / "other"),), c.stat())
