"""Resource limits for reading untrusted images, and the counting readers that enforce them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO, Protocol

from mamori.vulns.errors import UnsafeArchiveError

GiB = 1 << 30
MiB = 1 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    """Refuse, with a message naming the limit, instead of exhausting disk, memory or time."""

    max_entry_bytes: int = 2 * GiB  # one file inside a layer (declared size)
    max_layer_bytes: int = 32 * GiB  # one layer, decompressed
    max_ratio: int = 250  # decompressed / compressed, checked once past ratio_floor
    ratio_floor: int = 256 * MiB
    max_entries: int = 2_000_000  # members in one layer
    max_read_bytes: int = 256 * MiB  # one file read into memory by a cataloger
    max_json_bytes: int = 16 * MiB  # manifests and configs


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class CountingReader:
    """Counts (and optionally hashes) what passes through; stops at ``limit`` bytes."""

    def __init__(
        self,
        raw: Readable,
        *,
        limit: int | None = None,
        where: str = "",
        what: str = "stream",
        hash_: bool = False,
        tee: IO[bytes] | None = None,
        compressed: CountingReader | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.raw = raw
        self.count = 0
        self.limit = limit
        self.where = where
        self.what = what
        self.sha256 = hashlib.sha256() if hash_ else None
        self.tee = tee
        self.compressed = compressed
        self.limits = limits

    def read(self, n: int = -1, /) -> bytes:
        data = self.raw.read(n)
        self.count += len(data)
        if self.limit is not None and self.count > self.limit:
            raise UnsafeArchiveError(
                f"{self.what} is larger than the limit of {_size(self.limit)}; refusing it",
                self.where,
            )
        if self.compressed is not None and self.limits is not None:
            lim = self.limits
            packed = max(self.compressed.count, 1)
            if self.count > lim.ratio_floor and self.count / packed > lim.max_ratio:
                raise UnsafeArchiveError(
                    f"decompression bomb: {_size(packed)} expanded to more than "
                    f"{_size(self.count)} (ratio over {lim.max_ratio}:1); refusing it",
                    self.where,
                )
        if self.sha256 is not None:
            self.sha256.update(data)
        if self.tee is not None:
            self.tee.write(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass

    def digest(self) -> str:
        assert self.sha256 is not None
        return "sha256:" + self.sha256.hexdigest()


def _size(n: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


size_text = _size
