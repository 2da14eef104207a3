"""Verdicts on synthetic layers in tmp_path: the lookup (whiteouts, opaque dirs) and the decision
order (stat proof, size, hash). A real overlay is mounted when running as root."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.drift.verdict import (
    LayerEntry,
    Layers,
    Verdict,
    VerdictEngine,
    image_executables,
    lower_lookup,
    resolve_layer_dirs,
)


def _write(path: Path, data: bytes, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return path


def _count_lstats(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the verdict module lstats from now on, in order."""
    asked: list[str] = []
    real = os.lstat

    def lstat(path: str) -> os.stat_result:
        asked.append(path)
        return real(path)

    monkeypatch.setattr("mamori.drift.verdict.os.lstat", lstat)
    return asked


def test_lookup_walks_layers_top_first(tmp_path: Path) -> None:
    top, bottom = tmp_path / "top", tmp_path / "bottom"
    _write(bottom / "usr/bin/a", b"A")
    _write(bottom / "usr/bin/b", b"B")
    _write(top / "usr/bin/b", b"B2")
    layers = (str(top), str(bottom))
    assert lower_lookup(layers, "/usr/bin/a") == str(bottom / "usr/bin/a")
    assert lower_lookup(layers, "/usr/bin/b") == str(top / "usr/bin/b")
    assert lower_lookup(layers, "/usr/bin/c") is None


def test_lookup_remembers_layer_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Same answers with the memory as without; a new file in a directory walked before costs
    # one lstat per layer (lower layers never change).
    top, bottom = tmp_path / "top", tmp_path / "bottom"
    _write(bottom / "usr/bin/a", b"A")
    _write(bottom / "usr/bin/b", b"B")
    _write(top / "usr/bin/b", b"B2")
    layers = (str(top), str(bottom))
    seen: dict[str, LayerEntry] = {}
    for _ in range(2):
        assert lower_lookup(layers, "/usr/bin/a", seen) == str(bottom / "usr/bin/a")
        assert lower_lookup(layers, "/usr/bin/b", seen) == str(top / "usr/bin/b")
        assert lower_lookup(layers, "/usr/bin/c", seen) is None
    probed = _count_lstats(monkeypatch)
    assert lower_lookup(layers, "/usr/bin/b", seen) == str(top / "usr/bin/b")
    assert probed == []
    _write(bottom / "usr/bin/d", b"D")
    assert lower_lookup(layers, "/usr/bin/d", seen) == str(bottom / "usr/bin/d")
    assert probed == [str(top / "usr/bin/d"), str(bottom / "usr/bin/d")]


def _make_opaque(directory: Path) -> None:
    """Marks an overlay layer's directory opaque (skips where user xattrs are not allowed)."""
    try:
        os.setxattr(directory, "user.overlay.opaque", b"y")
    except OSError as exc:
        pytest.skip(f"no user xattrs on {directory}: {exc}")


def test_lookup_opaque_dir_hides_lower(tmp_path: Path) -> None:
    top, bottom = tmp_path / "top", tmp_path / "bottom"
    _write(bottom / "opt/t/true", b"T")
    (top / "opt/t").mkdir(parents=True)
    _make_opaque(top / "opt/t")
    assert lower_lookup((str(top), str(bottom)), "/opt/t/true") is None


def test_lookup_reads_opaque_marks_only_to_descend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file found in the first layer that has its directory needs no xattr read, even under
    # an opaque directory; descending past a layer's directories reads their marks, once.
    top, bottom = tmp_path / "top", tmp_path / "bottom"
    _write(top / "opt/t/mine", b"M")
    _write(bottom / "opt/t/true", b"T")
    _write(bottom / "usr/bin/a", b"A")
    (top / "usr/bin").mkdir(parents=True)
    _make_opaque(top / "opt/t")
    asked: list[str] = []
    real = os.getxattr

    def getxattr(path: str, name: str, *, follow_symlinks: bool = True) -> bytes:
        asked.append(path)
        return real(path, name, follow_symlinks=follow_symlinks)

    monkeypatch.setattr("mamori.drift.verdict.os.getxattr", getxattr)
    layers = (str(top), str(bottom))
    seen: dict[str, LayerEntry] = {}
    marks: dict[str, bool] = {}
    assert lower_lookup(layers, "/opt/t/mine", seen, marks) == str(top / "opt/t/mine")
    assert asked == []
    assert lower_lookup(layers, "/opt/t/true", seen, marks) is None  # hidden by the opaque dir
    assert lower_lookup(layers, "/usr/bin/a", seen, marks) == str(bottom / "usr/bin/a")
    assert set(asked) == {str(top / d) for d in ("opt", "opt/t", "usr", "usr/bin")}
    before = len(asked)
    assert lower_lookup(layers, "/usr/bin/a", seen, marks) == str(bottom / "usr/bin/a")
    assert lower_lookup(layers, "/usr/bin/zz", seen, marks) is None
    assert len(asked) == before


@pytest.mark.root
def test_lookup_whiteout_hides_lower(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mknod of a whiteout needs root")
    top, bottom = tmp_path / "top", tmp_path / "bottom"
    _write(bottom / "usr/bin/echo", b"E")
    (top / "usr/bin").mkdir(parents=True)
    os.mknod(top / "usr/bin/echo", 0o600 | 0o020000, os.makedev(0, 0))
    assert lower_lookup((str(top), str(bottom)), "/usr/bin/echo") is None


def test_resolve_layer_dirs_relative_docker_links(tmp_path: Path) -> None:
    root = tmp_path / "overlay2"
    (root / "abc/diff").mkdir(parents=True)
    (root / "l").mkdir()
    (root / "l/SHORT").symlink_to("../abc/diff")
    mountpoint = str(root / "cid/merged")
    assert resolve_layer_dirs("l/SHORT", mountpoint) == (str(root / "abc/diff"),)


@pytest.fixture
def overlay(tmp_path: Path) -> Iterator[tuple[Path, Path, Layers]]:
    """A real overlay mount: lower has /bin/true and /bin/echo; returns (merged, upper, layers)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting an overlay needs root")
    lower, upper, work, merged = (tmp_path / n for n in ("lower", "upper", "work", "merged"))
    for d in (upper, work, merged):
        d.mkdir()
    _write(lower / "bin/true", b"\x7fELF-true" * 100)
    _write(lower / "bin/echo", b"\x7fELF-echo" * 100)
    opts = f"lowerdir={lower},upperdir={upper},workdir={work}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(merged)], check=True)
    try:
        layers = Layers(os.stat(merged).st_dev, str(upper), (str(lower),))
        yield merged, upper, layers
    finally:
        subprocess.run(["umount", "-l", str(merged)], check=False)


def _decide(engine: VerdictEngine, path: Path, layers: Layers, rel: str) -> Verdict:
    fd = os.open(path, os.O_RDONLY)
    try:
        return engine.decide(fd, os.fstat(fd), rel, layers).verdict
    finally:
        os.close(fd)


@pytest.mark.root
def test_overlay_verdicts(overlay: tuple[Path, Path, Layers]) -> None:
    merged, _, layers = overlay
    e = VerdictEngine()
    assert _decide(e, merged / "bin/true", layers, "/bin/true") is Verdict.IMAGE
    os.chmod(merged / "bin/true", 0o700)  # copy-up, same content
    assert _decide(e, merged / "bin/true", layers, "/bin/true") is Verdict.IMAGE_COPYUP
    _write(merged / "tmp/n", b"new")
    assert _decide(e, merged / "tmp/n", layers, "/tmp/n") is Verdict.DRIFT_NEW
    with open(merged / "bin/echo", "ab") as f:
        f.write(b"Z")
    assert _decide(e, merged / "bin/echo", layers, "/bin/echo") is Verdict.DRIFT_MODIFIED


@pytest.mark.root
def test_indexed_image_from_the_fstat_alone(
    overlay: tuple[Path, Path, Layers], tmp_path: Path
) -> None:
    # An unmodified lower file is known from its fstat through the overlay (inode, size,
    # mtime, ctime); a copy-up (new ctime), a new file and a file elsewhere are not.
    merged, _, layers = overlay
    e = VerdictEngine()
    e.inodes.request(layers.lowerdirs)
    deadline = time.monotonic() + 10
    while e.inodes.walked < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert e.indexed_image(os.stat(merged / "bin/true"), layers)
    fd = os.open(merged / "bin/true", os.O_RDONLY)
    try:
        st = os.fstat(fd)
        v = e.decide(fd, st, "/bin/true", layers, e.indexed_image(st, layers))
    finally:
        os.close(fd)
    assert (v.verdict, v.path, v.lower, v.upper) == (Verdict.IMAGE, "/bin/true", True, False)
    os.chmod(merged / "bin/true", 0o700)  # copy-up: same inode number, new ctime
    assert not e.indexed_image(os.stat(merged / "bin/true"), layers)
    assert _decide(e, merged / "bin/true", layers, "/bin/true") is Verdict.IMAGE_COPYUP
    new = _write(merged / "usr/bin/new", b"N", 0o755)
    assert not e.indexed_image(os.stat(new), layers)
    elsewhere = _write(tmp_path / "vol/true", b"V", 0o755)
    assert not e.indexed_image(os.stat(elsewhere), layers)  # another device


@pytest.mark.root
def test_image_file_stat_read_once(
    overlay: tuple[Path, Path, Layers], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lower layers never change: their stat is cached, the exec path does not ask again.
    merged, _, layers = overlay
    e = VerdictEngine()
    asked = _count_lstats(monkeypatch)
    assert _decide(e, merged / "bin/true", layers, "/bin/true") is Verdict.IMAGE
    first = len(asked)  # the layer walk and the stat proof
    for _ in range(3):
        assert _decide(e, merged / "bin/true", layers, "/bin/true") is Verdict.IMAGE
    assert len(asked) == first
    os.chmod(merged / "bin/true", 0o700)  # copy-up: still decided against the lower stat
    assert _decide(e, merged / "bin/true", layers, "/bin/true") is Verdict.IMAGE_COPYUP
    # the remembered verdicts are per path: the same file under another name is decided anew
    os.rename(merged / "bin/true", merged / "bin/x")
    assert _decide(e, merged / "bin/x", layers, "/bin/x") is Verdict.DRIFT_NEW


@pytest.mark.root
def test_same_size_with_restored_mtime_is_modified(overlay: tuple[Path, Path, Layers]) -> None:
    merged, _, layers = overlay
    e = VerdictEngine()
    target = merged / "bin/echo"
    os.chmod(target, 0o755)  # copy-up, then cached as image-copyup
    assert _decide(e, target, layers, "/bin/echo") is Verdict.IMAGE_COPYUP
    st = os.stat(target)
    with open(target, "r+b") as f:
        f.write(b"X")  # same size, other content
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # touch -r: mtime restored
    assert _decide(e, target, layers, "/bin/echo") is Verdict.DRIFT_MODIFIED


@pytest.mark.root
def test_deleted_file(overlay: tuple[Path, Path, Layers]) -> None:
    merged, _, layers = overlay
    path = _write(merged / "tmp/g", b"gone")
    fd = os.open(path, os.O_RDONLY)
    try:
        os.unlink(path)
        link = os.readlink(f"/proc/self/fd/{fd}")
        rel = link[len(str(merged)) :]
        v = VerdictEngine().decide(fd, os.fstat(fd), rel, layers)
        assert v.verdict is Verdict.DRIFT_DELETED
        assert v.path == "/tmp/g"
    finally:
        os.close(fd)


def test_volume_and_memfd(tmp_path: Path) -> None:
    path = _write(tmp_path / "x", b"x")
    layers = Layers(-1, None, (str(tmp_path),))
    fd = os.open(path, os.O_RDONLY)
    try:
        st = os.fstat(fd)
        assert VerdictEngine().decide(fd, st, "/x", layers).verdict is Verdict.DRIFT_VOLUME
        memfd = VerdictEngine().decide(fd, st, "/memfd:payload (deleted)", layers)
        assert memfd.verdict is Verdict.DRIFT_MEMFD
        assert VerdictEngine().decide(fd, st, "/x", None).verdict is Verdict.UNKNOWN
    finally:
        os.close(fd)


@pytest.mark.root
def test_image_index_sees_the_merged_view(tmp_path: Path) -> None:
    """The per-image executable index: upper layers win, whiteouts and opaque dirs hide."""
    if os.geteuid() != 0:
        pytest.skip("mknod of a whiteout and trusted xattrs need root")
    top, bottom = tmp_path / "top", tmp_path / "bottom"
    _write(bottom / "usr/bin/a", b"AAAA")
    _write(bottom / "usr/bin/gone", b"GG")
    _write(bottom / "opt/x/old", b"OLD")
    _write(bottom / "etc/data", b"DATA", mode=0o644)  # not executable
    _write(top / "usr/bin/a", b"AAAAA")  # replaced: the top's size counts
    os.mknod(top / "usr/bin/gone", 0o600 | 0o020000, os.makedev(0, 0))
    _write(top / "opt/x/new", b"NEW!")
    os.setxattr(top / "opt/x", "trusted.overlay.opaque", b"y")
    index = image_executables((str(top), str(bottom)))
    assert index == {5: ["/usr/bin/a"], 4: ["/opt/x/new"]}


def test_relocated_from_finds_a_renamed_image_binary_anywhere(tmp_path: Path) -> None:
    """`cp /opt/tools/scan /tmp/x` names its image origin, even outside the usual bin dirs and
    under another name; a same-size binary with other content is not it."""
    bottom = tmp_path / "bottom"
    _write(bottom / "opt/tools/scan", b"scanner-binary")
    _write(bottom / "opt/tools/other", b"another-binary")  # same size, other content
    layers = Layers(dev=0, upperdir=None, lowerdirs=(str(bottom),))
    engine = VerdictEngine()
    digest = hashlib.sha256(b"scanner-binary").hexdigest()
    assert engine.relocated_from(layers, "/tmp/x", digest, 14) == "/opt/tools/scan"
    unknown = hashlib.sha256(b"not-in-image!!").hexdigest()
    assert engine.relocated_from(layers, "/tmp/x", unknown, 14) is None
