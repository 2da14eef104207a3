"""The local vulnerability database: one SQLite file, rebuilt per source on import."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mamori.vulns.db.model import Advisory, Affected, ImportProblem, ImportResult, Range
from mamori.vulns.errors import VulnDBError
from mamori.vulns.versions import family

SCHEMA_VERSION = "1"
_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
  name TEXT PRIMARY KEY, origin TEXT NOT NULL, imported_at TEXT NOT NULL,
  records INTEGER NOT NULL, problems INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS advisories (
  source TEXT NOT NULL, id TEXT NOT NULL, summary TEXT, severity TEXT, cvss TEXT,
  aliases TEXT, refs TEXT, published TEXT, modified TEXT, withdrawn TEXT, raw TEXT,
  PRIMARY KEY (source, id));
CREATE TABLE IF NOT EXISTS affected (
  source TEXT NOT NULL, advisory_id TEXT NOT NULL, family TEXT NOT NULL, ecosystem TEXT NOT NULL,
  name TEXT NOT NULL, ranges TEXT NOT NULL, versions TEXT NOT NULL, status TEXT NOT NULL,
  severity TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS affected_pkg ON affected (family, name);
CREATE INDEX IF NOT EXISTS advisory_alias ON advisories (id);
"""


def normalize_name(eco_family: str, name: str) -> str:
    if eco_family == "pypi":
        import re

        return re.sub(r"[-_.]+", "-", name).lower()
    return name


@dataclass(frozen=True, slots=True)
class Candidate:
    advisory: Advisory
    affected: Affected


@dataclass(frozen=True, slots=True)
class SourceStatus:
    name: str
    origin: str
    imported_at: str
    records: int
    problems: int


class VulnDB:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(path)
            self.conn.executescript(_DDL)
        except sqlite3.DatabaseError as exc:
            raise VulnDBError(f"not a vulnerability database: {exc}", str(path)) from None
        self.conn.execute(
            "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
        )
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()

    # import ----------------------------------------------------------------------------------
    def replace_source(
        self, source: str, origin: str, records: Iterable[tuple[str, Advisory | ImportProblem]]
    ) -> ImportResult:
        result = ImportResult(source)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self.conn:
            self.conn.execute("DELETE FROM advisories WHERE source = ?", (source,))
            self.conn.execute("DELETE FROM affected WHERE source = ?", (source,))
            for _where, item in records:
                if isinstance(item, ImportProblem):
                    result.problems.append(item)
                    continue
                self._insert(source, item)
                result.imported += 1
            self.conn.execute(
                "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?)",
                (source, origin, now, result.imported, len(result.problems)),
            )
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('built_at', ?)", (now,))
        return result

    def _insert(self, source: str, a: Advisory) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO advisories VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                source, a.id, a.summary, a.severity, json.dumps(a.cvss), json.dumps(a.aliases),
                json.dumps(a.references), a.published, a.modified, a.withdrawn,
                json.dumps(a.raw) if a.raw is not None else None,
            ),
        )  # fmt: skip
        rows = []
        for af in a.affected:
            fam = family(af.ecosystem)
            rows.append(
                (
                    source, a.id, fam, af.ecosystem, normalize_name(fam, af.name),
                    json.dumps(
                        [[r.type, [list(e) for e in r.events], r.repo] for r in af.ranges]
                    ),
                    json.dumps(af.versions), af.status, af.severity,
                )
            )  # fmt: skip
        self.conn.executemany("INSERT INTO affected VALUES (?,?,?,?,?,?,?,?,?)", rows)

    # queries ---------------------------------------------------------------------------------
    def built_at(self) -> str:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'built_at'").fetchone()
        return str(row[0]) if row else ""

    def sources(self) -> list[SourceStatus]:
        rows = self.conn.execute("SELECT * FROM sources ORDER BY name").fetchall()
        return [SourceStatus(*r) for r in rows]

    def raw(self, source: str, advisory_id: str) -> dict[str, object] | None:
        row = self.conn.execute(
            "SELECT raw FROM advisories WHERE source = ? AND id = ?", (source, advisory_id)
        ).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def candidates(self, eco_family: str, names: Iterable[str]) -> Iterator[Candidate]:
        cache: dict[tuple[str, str], Advisory] = {}
        for name in dict.fromkeys(normalize_name(eco_family, n) for n in names if n):
            rows = self.conn.execute(
                "SELECT source, advisory_id, ecosystem, name, ranges, versions, status, severity "
                "FROM affected WHERE family = ? AND name = ?",
                (eco_family, name),
            ).fetchall()
            for source, adv_id, eco, nm, ranges, versions, status, sev in rows:
                key = (source, adv_id)
                if key not in cache:
                    cache[key] = self._advisory(source, adv_id)
                affected = Affected(
                    eco,
                    nm,
                    tuple(
                        Range(r[0], tuple((k, v) for k, v in r[1]), r[2] if len(r) > 2 else "")
                        for r in json.loads(ranges)
                    ),
                    tuple(json.loads(versions)),
                    status,
                    sev,
                )
                yield Candidate(cache[key], affected)

    def _advisory(self, source: str, adv_id: str) -> Advisory:
        r = self.conn.execute(
            "SELECT summary, severity, cvss, aliases, refs, published, modified, withdrawn "
            "FROM advisories WHERE source = ? AND id = ?",
            (source, adv_id),
        ).fetchone()
        return Advisory(
            id=adv_id,
            source=source,
            summary=r[0] or "",
            severity=r[1] or "",
            cvss=tuple(json.loads(r[2] or "[]")),
            aliases=tuple(json.loads(r[3] or "[]")),
            references=tuple(json.loads(r[4] or "[]")),
            published=r[5] or "",
            modified=r[6] or "",
            withdrawn=r[7] or "",
        )
