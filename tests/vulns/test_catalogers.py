"""Catalogers on small trees written here (the shared fixtures run in tests/conformance)."""

from __future__ import annotations

import io
import shutil
import sqlite3
import struct
import zipfile
from pathlib import Path

import pytest

from mamori.vulns.catalogers import catalog
from mamori.vulns.catalogers.golang import modules, parse_buildinfo
from mamori.vulns.catalogers.rpmdb import (
    NDB_BLOB_MAGIC,
    NDB_MAGIC,
    NDB_SLOT_MAGIC,
    bdb_blobs,
    ndb_blobs,
    parse_header,
)
from mamori.vulns.errors import CatalogError
from mamori.vulns.images.vfs import DirFS
from tests.conftest import unavailable


def write(root: Path, rel: str, data: bytes | str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)


def keys(root: Path) -> set[tuple[str, str, str]]:
    return {p.key for p in catalog(DirFS(root)).packages}


def rpm_header(**tags: str | int) -> bytes:
    ids = {
        "name": 1000,
        "version": 1001,
        "release": 1002,
        "epoch": 1003,
        "license": 1014,
        "arch": 1022,
        "sourcerpm": 1044,
    }
    index, data = b"", b""
    for key, value in tags.items():
        if isinstance(value, int):
            while len(data) % 4:
                data += b"\0"
            index += struct.pack(">iIiI", ids[key], 4, len(data), 1)
            data += struct.pack(">i", value)
        else:
            index += struct.pack(">iIiI", ids[key], 6, len(data), 1)
            data += value.encode() + b"\0"
    return struct.pack(">II", len(tags), len(data)) + index + data


def test_dpkg_status_and_status_d(tmp_path: Path) -> None:
    write(
        tmp_path,
        "var/lib/dpkg/status",
        "Package: libssl3\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u2\n"
        "Architecture: amd64\nSource: openssl\n\n"
        "Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n"
        "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n"
        "Source: bash (5.2.15-2)\nArchitecture: amd64\n",
    )
    write(tmp_path, "var/lib/dpkg/status.d/base", "Package: base-files\nVersion: 12.4\n")
    write(tmp_path, "var/lib/dpkg/status.d/base.md5sums", "ignored")
    write(tmp_path, "usr/share/doc/bash/copyright", "Files: *\nLicense: GPL-3+\n")
    write(tmp_path, "etc/os-release", 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
    inv = catalog(DirFS(tmp_path))
    by_name = {p.name: p for p in inv.packages}
    assert set(by_name) == {"libssl3", "bash", "base-files"}
    assert (by_name["libssl3"].source_name, by_name["libssl3"].source_version) == (
        "openssl",
        "3.0.11-1~deb12u2",
    )
    assert (by_name["bash"].source_name, by_name["bash"].source_version) == ("bash", "5.2.15-2")
    assert by_name["bash"].licenses == ("GPL-3+",)
    assert "/usr/share/doc/bash/copyright" in by_name["bash"].locations
    assert by_name["bash"].purl == (
        "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12&upstream=bash%405.2.15-2"
    )
    assert inv.distro is not None
    assert inv.distro.codename == "bookworm"


def test_rpm_sqlite(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "x.sqlite")
    db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB NOT NULL)")
    blob = rpm_header(
        name="openssl-libs",
        version="3.0.7",
        release="25.el9",
        epoch=1,
        arch="x86_64",
        license="ASL 2.0",
        sourcerpm="openssl-3.0.7-25.el9.src.rpm",
    )
    db.execute("INSERT INTO Packages VALUES (1, ?)", (blob,))
    db.execute("INSERT INTO Packages VALUES (2, ?)", (rpm_header(name="gpg-pubkey", version="1"),))
    db.commit()
    db.close()
    write(tmp_path, "var/lib/rpm/rpmdb.sqlite", (tmp_path / "x.sqlite").read_bytes())
    (tmp_path / "x.sqlite").unlink()
    inv = catalog(DirFS(tmp_path))
    (pkg,) = inv.packages
    assert (pkg.name, pkg.version, pkg.source_name, pkg.source_version) == (
        "openssl-libs",
        "1:3.0.7-25.el9",
        "openssl",
        "3.0.7-25.el9",
    )


def test_rpm_ndb(tmp_path: Path) -> None:
    blobs = [rpm_header(name="zypper", version="1.14", release="1.1", arch="x86_64")]
    slot_pages = 1
    header = struct.pack("<IIII", NDB_MAGIC, 0, 1, slot_pages) + bytes(16)
    slots = b""
    data = b""
    base = 4096 * slot_pages
    for n, blob in enumerate(blobs, 1):
        off = base + len(data)
        slots += struct.pack("<IIII", NDB_SLOT_MAGIC, n, off // 16, 1 + len(blob) // 16)
        rec = struct.pack("<IIII", NDB_BLOB_MAGIC, n, 0, len(blob)) + blob
        data += rec + bytes(-len(rec) % 16)
    empty = struct.pack("<IIII", NDB_SLOT_MAGIC, 0, 0, 0)
    slots += empty * (slot_pages * 256 - 2 - len(blobs))
    db = header + slots
    db += bytes(base - len(db)) + data
    (got,) = [parse_header(b, "t") for b in ndb_blobs(db, "t")]
    assert (got.name, got.evr) == ("zypper", "1.14-1.1")
    with pytest.raises(CatalogError, match="bad magic"):
        list(ndb_blobs(b"x" * 64, "t"))


def test_bdb_rejects_garbage() -> None:
    with pytest.raises(CatalogError, match="Berkeley DB"):
        list(bdb_blobs(bytes(4096), "/var/lib/rpm/Packages"))


def test_python_npm_gem_cargo(tmp_path: Path) -> None:
    site = "usr/lib/python3/dist-packages"
    write(
        tmp_path,
        f"{site}/Requests-2.31.0.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: Requests\nVersion: 2.31.0\nLicense: Apache 2.0\n",
    )
    write(tmp_path, f"{site}/six-1.16.0.egg-info", "Name: six\nVersion: 1.16.0\n")
    write(
        tmp_path,
        "app/node_modules/@scope/pkg/package.json",
        '{"name": "@scope/pkg", "version": "1.2.3", "license": "MIT"}',
    )
    write(
        tmp_path,
        "var/lib/gems/3.1.0/specifications/rake-13.0.6.gemspec",
        's.name = "rake".freeze\ns.version = "13.0.6"\ns.licenses = ["MIT".freeze]\n',
    )
    write(
        tmp_path,
        "src/Cargo.lock",
        '[[package]]\nname = "serde"\nversion = "1.0.188"\n'
        'source = "registry+https://github.com/rust-lang/crates.io-index"\n\n'
        '[[package]]\nname = "myapp"\nversion = "0.1.0"\n',
    )
    inv = catalog(DirFS(tmp_path))
    assert {p.key for p in inv.packages} == {
        ("python", "requests", "2.31.0"),
        ("python", "six", "1.16.0"),
        ("npm", "@scope/pkg", "1.2.3"),
        ("gem", "rake", "13.0.6"),
        ("rust-crate", "serde", "1.0.188"),
    }
    purls = {p.purl for p in inv.packages}
    assert "pkg:npm/%40scope/pkg@1.2.3" in purls
    assert "pkg:pypi/requests@2.31.0" in purls


def _jar(entries: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in entries.items():
            z.writestr(name, text)
    return buf.getvalue()


def test_java_archives_with_nested_jars(tmp_path: Path) -> None:
    inner = _jar(
        {
            "META-INF/maven/org.yaml/snakeyaml/pom.properties": (
                "groupId=org.yaml\nartifactId=snakeyaml\nversion=1.33\n"
            )
        }
    )
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr(
            "META-INF/MANIFEST.MF",
            "Manifest-Version: 1.0\nImplementation-Title: app\nImplementation-Version: 2.0\n",
        )
        z.writestr("BOOT-INF/lib/snakeyaml-1.33.jar", inner)
    write(tmp_path, "opt/app.jar", outer.getvalue())
    write(tmp_path, "opt/broken.jar", b"not a zip")
    inv = catalog(DirFS(tmp_path))
    assert {p.key for p in inv.packages} == {
        ("java-archive", "app", "2.0"),
        ("java-archive", "snakeyaml", "1.33"),
    }
    snake = next(p for p in inv.packages if p.name == "snakeyaml")
    assert snake.purl == "pkg:maven/org.yaml/snakeyaml@1.33"
    assert any(d.code == "java-archive" and d.where == "/opt/broken.jar" for d in inv.diagnostics)


def test_go_binary_buildinfo(tmp_path: Path) -> None:
    exe = next((p for p in ("docker-registry", "skopeo", "docker") if shutil.which(p)), None)
    if exe is None:
        unavailable("no Go binary on this machine (docker-registry, skopeo or docker)")
    assert exe is not None
    target = tmp_path / "usr/bin/tool"
    target.parent.mkdir(parents=True)
    shutil.copy(shutil.which(exe) or "", target)
    inv = catalog(DirFS(tmp_path))
    mods = {p.name: p for p in inv.packages if p.type == "go-module"}
    assert "stdlib" in mods
    assert mods["stdlib"].version.startswith("go1.")


def test_go_modinfo_with_replacement() -> None:
    modinfo = (
        "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n"
        "dep\tgolang.org/x/net\tv0.17.0\th1:x=\n"
        "dep\tgithub.com/old/lib\tv1.0.0\th1:y=\n=>\tgithub.com/new/lib\tv1.2.0\th1:z=\n"
    )
    sentinel = "0" * 16
    data = bytearray(b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16))
    for text in ("go1.22.1", sentinel + modinfo + sentinel):
        raw = text.encode()
        data += (
            bytes([len(raw)]) if len(raw) < 128 else bytes([len(raw) & 0x7F | 0x80, len(raw) >> 7])
        )
        data += raw
    parsed = parse_buildinfo(bytes(data))
    assert parsed is not None
    version, mod = parsed
    assert version == "go1.22.1"
    assert list(modules(mod)) == [
        ("example.com/app", "(devel)", True),
        ("golang.org/x/net", "v0.17.0", False),
        ("github.com/new/lib", "v1.2.0", False),
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("npm", "pkg", "1.0", "@scope"), "pkg:npm/%40scope/pkg@1.0"),
        (("golang", "", "(devel)", "./private"), "pkg:generic/./private@%28devel%29"),
    ],
)
def test_purl_never_raises(args: tuple[str, str, str, str], expected: str) -> None:
    from mamori.vulns.catalogers.model import purl

    assert purl(*args) == expected


def _old_go_elf(version: str, modinfo: str, *, ptr: int = 8) -> bytes:
    """An ELF file laid out as a Go < 1.18 linker does: ``.go.buildinfo`` holds the magic and
    two pointers to string headers in ``.data``, whose data pointers lead into ``.rodata``."""
    word = "<Q" if ptr == 8 else "<I"
    rodata_addr, data_addr, info_addr = 0x401000, 0x402000, 0x403000
    rodata = version.encode() + modinfo.encode()
    data = (
        struct.pack(word, rodata_addr) + struct.pack(word, len(version.encode()))
        + struct.pack(word, rodata_addr + len(version.encode()))
        + struct.pack(word, len(modinfo.encode()))
    )  # fmt: skip
    info = b"\xff Go buildinf:" + bytes([ptr, 0])
    info += struct.pack(word, data_addr) + struct.pack(word, data_addr + 2 * ptr)
    info += bytes(32 - len(info) % 32)
    shstr = b"\0.shstrtab\0.rodata\0.data\0.go.buildinfo\0.bss\0"
    bodies = [shstr, rodata, data, info]
    offsets, pos = [], 64
    for body in bodies:
        offsets.append(pos)
        pos += len(body)
    shoff = pos
    # (name offset, type, addr, file offset, size); index 0 is the null section
    rows = [
        (0, 0, 0, 0, 0),
        (1, 3, 0, offsets[0], len(shstr)),
        (11, 1, rodata_addr, offsets[1], len(rodata)),
        (19, 1, data_addr, offsets[2], len(data)),
        (25, 1, info_addr, offsets[3], len(info)),
        (39, 8, 0x404000, offsets[3], 4096),  # .bss: no file data, must not be read
    ]
    head = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    head += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(rows), 1)
    table = b"".join(
        struct.pack("<IIQQQQIIQQ", n, t, 0, a, o, s, 0, 0, 1, 0) for n, t, a, o, s in rows
    )
    return head + b"".join(bodies) + table


def test_go_binary_before_1_18_pointer_layout(tmp_path: Path) -> None:
    sentinel = "0" * 16
    modinfo = (
        sentinel + "path\texample.com/old\nmod\texample.com/old\t(devel)\t\n"
        "dep\tgithub.com/gorilla/mux\tv1.7.3\th1:w=\n" + sentinel
    )
    target = tmp_path / "usr/bin/oldtool"
    target.parent.mkdir(parents=True)
    elf = _old_go_elf("go1.16.15", modinfo)
    target.write_bytes(elf + bytes(max(0, 4096 - len(elf))))
    target.chmod(0o755)
    inv = catalog(DirFS(tmp_path))
    mods = {p.name: p for p in inv.packages if p.type == "go-module"}
    assert mods["stdlib"].version == "go1.16.15"
    assert mods["github.com/gorilla/mux"].purl == "pkg:golang/github.com/gorilla/mux@v1.7.3"
    assert mods["github.com/gorilla/mux"].locations == ("/usr/bin/oldtool",)
    assert not [d for d in inv.diagnostics if d.code == "go-buildinfo"]
