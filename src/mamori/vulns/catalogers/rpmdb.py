"""RPM databases without librpm: the header blob format and its three containers.

- Berkeley DB hash ``Packages`` (RHEL/CentOS <= 8): hash pages whose values live on
  overflow page chains.
- SQLite ``rpmdb.sqlite`` (Fedora 33+, RHEL 9): table ``Packages(hnum, blob)``.
- NDB ``Packages.db`` (SUSE): a slot table pointing at 16-byte-aligned blobs.

All three hold the same header blobs: ``il`` index entries (tag, type, offset, count) then a
data area.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from mamori.vulns.errors import CatalogError

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH = 1000, 1001, 1002, 1003
TAG_LICENSE, TAG_VENDOR, TAG_ARCH, TAG_SOURCERPM = 1014, 1011, 1022, 1044
TAG_MODULARITYLABEL = 5096
T_INT32, T_STRING, T_BIN, T_STRING_ARRAY, T_I18NSTRING = 4, 6, 7, 8, 9


@dataclass(frozen=True, slots=True)
class RpmHeader:
    name: str
    version: str
    release: str
    epoch: int | None
    arch: str
    license: str
    source_rpm: str
    vendor: str

    @property
    def evr(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
        return f"{epoch}{self.version}-{self.release}" if self.release else f"{epoch}{self.version}"


def parse_header(blob: bytes, where: str) -> RpmHeader:
    if len(blob) < 8:
        raise CatalogError("header blob too short", where)
    il, dl = struct.unpack(">II", blob[:8])
    data_start = 8 + il * 16
    if il > 100_000 or data_start + dl > len(blob):
        raise CatalogError(f"header blob sizes out of range (il={il}, dl={dl})", where)
    data = blob[data_start : data_start + dl]
    wanted = {TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_LICENSE, TAG_ARCH,
              TAG_SOURCERPM, TAG_VENDOR}  # fmt: skip
    values: dict[int, str | int] = {}
    for i in range(il):
        tag, typ, off, _count = struct.unpack(">iIiI", blob[8 + i * 16 : 24 + i * 16])
        if tag not in wanted or off < 0 or off >= len(data):
            continue
        if typ in (T_STRING, T_I18NSTRING, T_STRING_ARRAY):
            end = data.find(b"\0", off)
            values[tag] = data[off : end if end >= 0 else len(data)].decode("utf-8", "replace")
        elif typ == T_INT32 and off + 4 <= len(data):
            values[tag] = struct.unpack(">i", data[off : off + 4])[0]
    name = values.get(TAG_NAME)
    if not isinstance(name, str) or not name:
        raise CatalogError("header without a name", where)
    epoch = values.get(TAG_EPOCH)
    return RpmHeader(
        name=name,
        version=str(values.get(TAG_VERSION, "")),
        release=str(values.get(TAG_RELEASE, "")),
        epoch=epoch if isinstance(epoch, int) else None,
        arch=str(values.get(TAG_ARCH, "")),
        license=str(values.get(TAG_LICENSE, "")),
        source_rpm=str(values.get(TAG_SOURCERPM, "")),
        vendor=str(values.get(TAG_VENDOR, "")),
    )


# Berkeley DB hash --------------------------------------------------------------------------
HASH_MAGIC = 0x061561
P_HASH_UNSORTED, P_OVERFLOW, P_HASH = 2, 7, 13
H_OFFPAGE = 3
PAGE_HEADER = 26


def bdb_blobs(db: bytes, where: str) -> Iterator[bytes]:
    if len(db) < 512:
        raise CatalogError("too short for a Berkeley DB file", where)
    for endian in ("<", ">"):
        if struct.unpack(endian + "I", db[12:16])[0] == HASH_MAGIC:
            break
    else:
        raise CatalogError("not a Berkeley DB hash file (bad magic)", where)
    page_size = struct.unpack(endian + "I", db[20:24])[0]
    last_page = struct.unpack(endian + "I", db[32:36])[0]
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        raise CatalogError(f"bad page size {page_size}", where)
    n_pages = min(last_page + 1, len(db) // page_size)
    for pgno in range(1, n_pages):
        page = db[pgno * page_size : (pgno + 1) * page_size]
        if len(page) < PAGE_HEADER or page[25] not in (P_HASH, P_HASH_UNSORTED):
            continue
        entries = struct.unpack(endian + "H", page[20:22])[0]
        for k in range(1, entries, 2):  # (key, value) pairs: take the values
            at = PAGE_HEADER + 2 * k
            offset = struct.unpack(endian + "H", page[at : at + 2])[0]
            if offset + 12 > len(page) or page[offset] != H_OFFPAGE:
                continue
            first, length = struct.unpack(endian + "II", page[offset + 4 : offset + 12])
            yield _overflow_chain(db, first, length, page_size, n_pages, endian, where)


def _overflow_chain(
    db: bytes, pgno: int, length: int, page_size: int, n_pages: int, endian: str, where: str
) -> bytes:
    out = bytearray()
    seen: set[int] = set()
    while pgno:
        if pgno in seen or pgno >= n_pages:
            raise CatalogError(f"broken overflow chain at page {pgno}", where)
        seen.add(pgno)
        page = db[pgno * page_size : (pgno + 1) * page_size]
        next_pg = struct.unpack(endian + "I", page[16:20])[0]
        used = struct.unpack(endian + "H", page[22:24])[0]
        out += page[PAGE_HEADER : PAGE_HEADER + used] if next_pg == 0 else page[PAGE_HEADER:]
        pgno = next_pg
        if len(out) > length + page_size:
            break
    return bytes(out[:length]) if length else bytes(out)


# SQLite -------------------------------------------------------------------------------------
def sqlite_blobs(db: bytes, where: str) -> Iterator[bytes]:
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(db)
        rows = conn.execute("SELECT blob FROM Packages ORDER BY hnum").fetchall()
    except sqlite3.DatabaseError as exc:
        raise CatalogError(f"not an rpm sqlite database: {exc}", where) from None
    finally:
        conn.close()
    for (blob,) in rows:
        yield bytes(blob)


# NDB ----------------------------------------------------------------------------------------
NDB_MAGIC = int.from_bytes(b"RpmP", "little")
NDB_SLOT_MAGIC = int.from_bytes(b"Slot", "little")
NDB_BLOB_MAGIC = int.from_bytes(b"BlbS", "little")
NDB_SLOTS_PER_PAGE = 4096 // 16


def ndb_blobs(db: bytes, where: str) -> Iterator[bytes]:
    if len(db) < 32:
        raise CatalogError("too short for an NDB file", where)
    magic, version, _gen, slot_pages = struct.unpack("<IIII", db[:16])
    if magic != NDB_MAGIC or version != 0:
        raise CatalogError("not an rpm NDB Packages.db (bad magic or version)", where)
    n_slots = slot_pages * NDB_SLOTS_PER_PAGE - 2
    for i in range(n_slots):
        at = 32 + i * 16
        if at + 16 > len(db):
            break
        smagic, pkg, blk_off, _blk_cnt = struct.unpack("<IIII", db[at : at + 16])
        if smagic != NDB_SLOT_MAGIC:
            raise CatalogError(f"bad slot magic at slot {i}", where)
        if pkg == 0:
            continue
        start = blk_off * 16
        bmagic, bpkg, _ck, blen = struct.unpack("<IIII", db[start : start + 16])
        if bmagic != NDB_BLOB_MAGIC or bpkg != pkg:
            raise CatalogError(f"bad blob header for package {pkg}", where)
        yield db[start + 16 : start + 16 + blen]
