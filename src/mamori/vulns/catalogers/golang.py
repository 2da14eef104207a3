"""Go binaries: the module list Go links into ``.go.buildinfo`` (the Go 1.18+ inline layout
and the older pointer layout, ``runtime.buildVersion``/``runtime.modinfo``)."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class _Section:
    name: bytes
    type: int
    addr: int
    offset: int
    size: int


SHT_NOBITS = 8  # .bss: occupies memory, not the file


def _sections(f: IO[bytes]) -> list[_Section] | None:
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
    raw_sections = []
    for i in range(shnum):
        raw = table[i * shentsize : (i + 1) * shentsize]
        if is64:
            name, typ, _fl, addr, off, size = struct.unpack(endian + "IIQQQQ", raw[:40])
        else:
            name, typ, _fl, addr, off, size = struct.unpack(endian + "IIIIII", raw[:24])
        raw_sections.append((name, typ, addr, off, size))
    _n, _t, _a, str_off, str_size = raw_sections[shstrndx]
    f.seek(str_off)
    names = f.read(min(str_size, 1 << 20))
    out = []
    for name, typ, addr, off, size in raw_sections:
        end = names.find(b"\0", name)
        out.append(_Section(names[name:end], typ, addr, off, size))
    return out


def _read_virtual(f: IO[bytes], sections: list[_Section], addr: int, size: int) -> bytes:
    """``size`` bytes at virtual address ``addr``, from the section that holds them."""
    for sec in sections:
        if sec.type != SHT_NOBITS and sec.addr and sec.addr <= addr < sec.addr + sec.size:
            if addr + size > sec.addr + sec.size:
                break
            f.seek(sec.offset + addr - sec.addr)
            data = f.read(size)
            if len(data) == size:
                return data
            break
    raise ValueError(f"address {addr:#x} (+{size}) is outside the file's sections")


def read_buildinfo(f: IO[bytes]) -> tuple[str, str] | None:
    """(go version, modinfo) of an ELF Go binary, either layout; None if it is not one.

    Go 1.18+ writes both strings inline after the 32-byte header (flag bit 2). Older linkers
    write two pointers instead — to the ``runtime.buildVersion`` and ``runtime.modinfo`` string
    headers ({data pointer, length}) — so each is followed through the section table to the file.
    """
    sections = _sections(f)
    if sections is None:
        return None
    sec = next((s for s in sections if s.name == b".go.buildinfo"), None)
    if sec is None:
        return None
    f.seek(sec.offset)
    data = f.read(min(sec.size, 1 << 20))
    parsed = parse_buildinfo(data)
    if parsed is not None or not data.startswith(MAGIC) or len(data) < 32:
        return parsed
    ptr, big = data[14], data[15] & 0x1
    if ptr not in (4, 8):
        raise ValueError(f"pointer size {ptr} in the build info header")
    fmt = (">" if big else "<") + ("Q" if ptr == 8 else "I")

    def word(raw: bytes, i: int) -> int:
        value: int = struct.unpack(fmt, raw[i * ptr : (i + 1) * ptr])[0]
        return value

    def string_at(addr: int) -> str:
        header = _read_virtual(f, sections, addr, 2 * ptr)
        length = word(header, 1)
        if length == 0:
            return ""
        if length > 1 << 20:
            raise ValueError(f"string of {length} bytes in the build info")
        return _read_virtual(f, sections, word(header, 0), length).decode("utf-8", "replace")

    version = string_at(word(data[16:], 0))
    mod = string_at(word(data[16:], 1))
    if len(mod) >= 33 and mod[-17] == "\n":
        mod = mod[16:-16]
    return version, mod


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
                    parsed = read_buildinfo(f)
            except (ImageError, OSError, struct.error):
                continue
            except ValueError as exc:
                report("go-buildinfo", "/" + path, str(exc))
                continue
            if parsed is None:
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
