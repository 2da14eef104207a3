"""Go binaries: the module list Go links into ``.go.buildinfo`` (Go 1.18+ layout)."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import IO

from mamori.vulns.catalogers.model import Distro, Package, Report, purl
from mamori.vulns.errors import ImageError
from mamori.vulns.images.vfs import Entry, FileSystem

MAGIC = b"\xff Go buildinf:"
MIN_SIZE = 4096
MAX_SECTIONS = 4096


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data):
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
    raise ValueError("truncated varint")


def buildinfo_section(f: IO[bytes]) -> bytes | None:
    head = f.read(64)
    if len(head) < 52 or head[:4] != b"\x7fELF":
        return None
    is64, endian = head[4] == 2, "<" if head[5] == 1 else ">"
    if is64:
        shoff = struct.unpack(endian + "Q", head[0x28:0x30])[0]
        shentsize, shnum, shstrndx = struct.unpack(endian + "HHH", head[0x3A:0x40])
    else:
        shoff = struct.unpack(endian + "I", head[0x20:0x24])[0]
        shentsize, shnum, shstrndx = struct.unpack(endian + "HHH", head[0x2E:0x34])
    if not shoff or not shnum or shnum > MAX_SECTIONS or shstrndx >= shnum:
        return None
    f.seek(shoff)
    table = f.read(shentsize * shnum)
    sections = []
    for i in range(shnum):
        raw = table[i * shentsize : (i + 1) * shentsize]
        if is64:
            name, _t, _fl, _a, off, size = struct.unpack(endian + "IIQQQQ", raw[:40])
        else:
            name, _t, _fl, _a, off, size = struct.unpack(endian + "IIIIII", raw[:24])
        sections.append((name, off, size))
    _n, str_off, str_size = sections[shstrndx]
    f.seek(str_off)
    names = f.read(min(str_size, 1 << 20))
    for name, off, size in sections:
        end = names.find(b"\0", name)
        if names[name:end] == b".go.buildinfo":
            f.seek(off)
            return f.read(min(size, 1 << 20))
    return None


def parse_buildinfo(data: bytes) -> tuple[str, str] | None:
    """(go version, modinfo) from the 1.18+ inline layout; None for older binaries."""
    if not data.startswith(MAGIC) or len(data) < 32 or not data[15] & 0x2:
        return None
    n, pos = _varint(data, 32)
    version = data[pos : pos + n].decode("utf-8", "replace")
    n, pos = _varint(data, pos + n)
    mod = data[pos : pos + n].decode("utf-8", "replace")
    if len(mod) >= 33 and mod[-17] == "\n":
        mod = mod[16:-16]
    return version, mod


def modules(modinfo: str) -> Iterator[tuple[str, str, bool]]:
    """(path, version, is_main) for the main module and each dependency (replacements applied)."""
    deps: list[list[str]] = []
    for line in modinfo.splitlines():
        parts = line.split("\t")
        if parts[0] in ("mod", "dep") and len(parts) >= 3:
            deps.append([parts[0], parts[1], parts[2]])
        elif parts[0] == "=>" and len(parts) >= 3 and deps:
            deps[-1][1], deps[-1][2] = parts[1], parts[2]
    for kind, path, version in deps:
        yield path, version, kind == "mod"


class GoBinaryCataloger:
    name = "go-module-binary-cataloger"

    def wants(self, entry: Entry) -> bool:
        return entry.kind == "f" and entry.mode & 0o111 != 0 and entry.size >= MIN_SIZE

    def catalog(
        self, fs: FileSystem, paths: list[str], distro: Distro | None, report: Report
    ) -> Iterable[Package]:
        for path in sorted(paths):
            try:
                with fs.open(path) as f:
                    section = buildinfo_section(f)
            except (ImageError, OSError, struct.error):
                continue
            if section is None:
                continue
            try:
                parsed = parse_buildinfo(section)
            except ValueError as exc:
                report("go-buildinfo", "/" + path, str(exc))
                continue
            if parsed is None:
                report("go-buildinfo", "/" + path, "Go < 1.18 build info is not read yet")
                continue
            go_version, modinfo = parsed
            where = ("/" + path,)
            for mod_path, version, _main in modules(modinfo):
                yield Package(
                    name=mod_path,
                    version=version,
                    type="go-module",
                    purl=purl(
                        "golang",
                        mod_path.rsplit("/", 1)[-1],
                        version,
                        mod_path.rsplit("/", 1)[0] if "/" in mod_path else None,
                    ),
                    locations=where,
                    cataloger=self.name,
                )
            if go_version.startswith("go"):
                v = go_version.split()[0].removeprefix("go")
                yield Package(
                    name="stdlib",
                    version=go_version.split()[0],
                    type="go-module",
                    purl=purl("golang", "stdlib", v),
                    locations=where,
                    cataloger=self.name,
                )
