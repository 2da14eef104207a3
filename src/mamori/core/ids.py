"""Stable identifiers: time-ordered UUIDv7 for new objects, content hashes for retries."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from typing import Any


def uuid7(unix_ms: int | None = None) -> str:
    """A UUIDv7 (RFC 9562): 48 bits of milliseconds, then random bits; sorts by time."""
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a (12 bits)
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b
    return str(uuid.UUID(int=value))


def content_id(*parts: Any) -> str:
    """A deterministic id from JSON-serialisable parts, so that a retried send is one object."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]
