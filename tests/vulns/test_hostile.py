"""Hostile archives: refused with a clear message, and nothing written outside the cache.

Nothing is ever extracted (layers are indexed and read by offset), so these tests check both
the refusal and that the only files that appear anywhere are the cache's own.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.vulns.errors import ImageError, UnsafeArchiveError
from mamori.vulns.images import LayerCache, open_image
from tests.conftest import unavailable
from tests.vulns.builders import Member, docker_archive, layer_tar

ESCAPE = f"mamori-escape-{uuid.uuid4().hex}"


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[tuple[Path, LayerCache]]:
    """A work dir and a cache inside it; afterwards, nothing new outside the cache and no
    escape target in /tmp or the work dir's parents."""
    work = tmp_path / "work"
    work.mkdir()
    cache = LayerCache(tmp_path / "cache")
    before = _snapshot(work)
    yield work, cache
    assert _snapshot(work) - before <= {p.name for p in work.iterdir()}  # only our inputs
    for target in (Path("/tmp") / ESCAPE, tmp_path.parent / ESCAPE, Path("/") / ESCAPE):
        assert not target.exists(), f"{target} was written"
    leftovers = [p for p in (tmp_path / "cache").rglob("*.part")]
    assert not leftovers


def _zeros_tar_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _gzip_of(prefix: bytes, zeros: int) -> bytes:
    """gzip(prefix + zeros x NUL + end of archive), made without holding the zeros."""
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = [comp.compress(prefix)]
    chunk = bytes(1 << 20)
    for _ in range(zeros >> 20):
        out.append(comp.compress(chunk))
    out.append(comp.compress(bytes(1024)))
    out.append(comp.flush())
    return b"".join(out)


BOMB = 512 << 20  # 512 MiB of zeros: about 0.5 MB compressed, ratio ~1000:1


def test_dotdot_member_in_layer(scratch: tuple[Path, LayerCache]) -> None:
    work, cache = scratch
    layer = layer_tar([Member(f"../../../../../tmp/{ESCAPE}", b"pwned")])
    path = docker_archive(work / "evil.tar", [layer])
    with pytest.raises(UnsafeArchiveError, match=r"climbs out with '\.\.'; refusing"):
        open_image(str(path), cache)


def test_dotdot_member_in_outer_archive(scratch: tuple[Path, LayerCache]) -> None:
    work, cache = scratch
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(f"../{ESCAPE}")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"pwned"))
    (work / "outer.tar").write_bytes(buf.getvalue())
    with pytest.raises(UnsafeArchiveError, match="climbs out"):
        open_image(str(work / "outer.tar"), cache)


def test_hardlink_out_is_refused(scratch: tuple[Path, LayerCache]) -> None:
    work, cache = scratch
    layer = layer_tar([Member("passwd", kind="h", link="../../../../etc/passwd")])
    with pytest.raises(UnsafeArchiveError, match="hard link"):
        open_image(str(docker_archive(work / "h.tar", [layer])), cache)


def test_symlinks_out_stay_inside_the_image(scratch: tuple[Path, LayerCache]) -> None:
    work, cache = scratch
    layer = layer_tar(
        [
            Member("etc/hostname", b"image-hostname\n"),
            Member("abs", kind="l", link="/etc/hostname"),
            Member("rel", kind="l", link="../../../../../../etc/hostname"),
            Member("dir", kind="l", link=f"/tmp/{ESCAPE}"),
            Member("dir/payload", b"pwned"),  # a write "through" the link: never happens
            Member("loop", kind="l", link="loop"),
        ]
    )
    image = open_image(str(docker_archive(work / "s.tar", [layer])), cache)
    assert image.fs.read("abs") == b"image-hostname\n"  # the image's file, not the host's
    assert image.fs.read("rel") == b"image-hostname\n"
    assert any(d.code == "symlink-escape" and d.where == "/rel" for d in image.diagnostics)
    with pytest.raises(ImageError, match="no such file"):
        image.fs.read("dir/payload")
    with pytest.raises(ImageError, match="no such file"):
        image.fs.read("loop")


def test_device_files_are_refused(scratch: tuple[Path, LayerCache]) -> None:
    work, cache = scratch
    layer = layer_tar([Member("dev/null", kind="c"), Member("fifo", kind="p"), Member("ok", b"1")])
    image = open_image(str(docker_archive(work / "d.tar", [layer])), cache)
    paths = {e.path for e in image.fs.walk()}
    assert "dev/null" not in paths
    assert "fifo" not in paths
    assert "ok" in paths
    codes = [(d.code, d.message) for d in image.diagnostics]
    assert ("special-file", "device refused: not indexed, never created") in codes


def test_sparse_10_gib_file_is_refused(scratch: tuple[Path, LayerCache]) -> None:
    work, cache = scratch
    if shutil.which("tar") is None or shutil.which("truncate") is None:
        unavailable("GNU tar and truncate are needed to make a sparse archive")
    src = work / "src"
    src.mkdir()
    subprocess.run(["truncate", "-s", "10G", str(src / "huge")], check=True)
    layer = work / "sparse.tar"
    subprocess.run(
        [
            "tar",
            "--sparse",
            "--hole-detection=seek",
            "--format=gnu",
            "-C",
            str(src),
            "-cf",
            str(layer),
            "huge",
        ],
        check=True,
    )
    (src / "huge").unlink()
    assert layer.stat().st_size < 1 << 20  # the archive itself is tiny
    with pytest.raises(UnsafeArchiveError, match=r"declares 10\.0 GiB.*\(sparse\).*refusing"):
        open_image(str(layer), cache)


def test_gzip_bomb_layer_is_refused(scratch: tuple[Path, LayerCache]) -> None:
    work, cache = scratch
    bomb = _gzip_of(_zeros_tar_header("zeros", BOMB), BOMB)
    assert len(bomb) < 2 << 20
    (work / "bomb.tar.gz").write_bytes(bomb)
    with pytest.raises(UnsafeArchiveError, match="decompression bomb"):
        open_image(str(work / "bomb.tar.gz"), cache)


def test_gzip_bomb_archive_is_refused(scratch: tuple[Path, LayerCache]) -> None:
    work, cache = scratch
    inner_size = 512 + BOMB  # a layer.tar member that is one 512 MiB file
    prefix = _zeros_tar_header("0" * 64 + "/layer.tar", inner_size + 1024)
    prefix += _zeros_tar_header("zeros", BOMB)
    path = work / "bomb-image.tar.gz"
    path.write_bytes(_gzip_of(prefix, BOMB))
    with pytest.raises(UnsafeArchiveError, match="decompression bomb"):
        open_image(str(path), cache)
