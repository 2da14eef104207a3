"""The vulnerability database: importers (OSV, Debian tracker, Alpine secdb) -> ``VulnDB``."""

from __future__ import annotations

from pathlib import Path

from mamori.vulns.db.distro_feeds import read_alpine_secdb, read_debian_tracker
from mamori.vulns.db.model import Advisory, Affected, ImportProblem, ImportResult, Range
from mamori.vulns.db.osv import read_osv
from mamori.vulns.db.store import VulnDB
from mamori.vulns.errors import VulnDBError

KINDS = ("osv", "debian", "alpine")

__all__ = ["KINDS", "Advisory", "Affected", "ImportProblem", "ImportResult", "Range", "VulnDB",
           "import_source"]  # fmt: skip


def import_source(db: VulnDB, kind: str, path: Path, name: str | None = None) -> ImportResult:
    """Import (replacing) one source: ``osv`` dir/zip/file, ``debian`` tracker JSON, ``alpine``
    secdb dir or file. ``name`` distinguishes several sources of one kind."""
    if not path.exists():
        raise VulnDBError("no such file or directory", str(path))
    readers = {"osv": read_osv, "debian": read_debian_tracker, "alpine": read_alpine_secdb}
    if kind not in readers:
        raise VulnDBError(f"unknown source kind {kind!r} (expected one of {', '.join(KINDS)})")
    return db.replace_source(name or kind, str(path), readers[kind](path))
