"""Importers and matching against the advisory records in ../shared/conformance/vuln/osv.

Oracles come from the records themselves: every valid OSV record imports and round-trips; the
broken one gives a located error; for every ECOSYSTEM/SEMVER range the ``introduced`` version is
affected and the ``fixed`` version is not; listed ``versions`` are affected. The Debian tracker
and Alpine secdb samples drive distro matching (source packages, releases, unfixed status).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import SHARED

from mamori.vulns.catalogers.model import Distro, Inventory, Package
from mamori.vulns.db import VulnDB, import_source
from mamori.vulns.db.osv import parse_osv
from mamori.vulns.matcher import _evaluate, match
from mamori.vulns.versions import family

OSV = SHARED / "conformance" / "vuln" / "osv"
INDEX = json.loads((OSV / "index.json").read_text())
OSV_FILES = [f for f in INDEX["files"] if f["format"] == "osv"]
BROKEN = {"osv-schema/osv-linter/nointroduced-CVE-2023-41045.json": "no 'introduced' event"}
EVALUABLE = {"debian", "alpine", "pypi", "npm", "maven", "go", "almalinux", "red hat", "suse",
             "rubygems", "crates.io", "bitnami", "chainguard", "wolfi"}  # fmt: skip


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> VulnDB:
    vdb = VulnDB(tmp_path_factory.mktemp("vdb") / "vulns.db")
    import_source(vdb, "osv", OSV, name="osv")
    import_source(vdb, "debian", OSV / "debian-security-tracker" / "debian.json")
    import_source(vdb, "alpine", OSV / "alpine-secdb" / "v3.15")
    return vdb


def test_every_osv_file_parses_or_gives_a_located_error(db: VulnDB) -> None:
    status = {s.name: s for s in db.sources()}
    assert status["osv"].records == INDEX["counts"]["osv_records"] - len(BROKEN)
    assert status["osv"].problems == len(BROKEN)
    assert db.built_at()


@pytest.mark.parametrize("entry", OSV_FILES, ids=[f["file"] for f in OSV_FILES])
def test_osv_record(entry: dict[str, Any], db: VulnDB) -> None:
    doc = json.loads((OSV / entry["file"]).read_text())
    if entry["file"] in BROKEN:
        with pytest.raises(ValueError, match=BROKEN[entry["file"]]):
            parse_osv(doc)
        return
    adv = parse_osv(doc)
    assert adv.id == entry["id"]
    assert sorted(adv.aliases) == sorted(entry["aliases"])
    assert db.raw("osv", adv.id) == doc or _duplicate_id(adv.id)  # round trip
    for af in adv.affected:
        if family(af.ecosystem) not in EVALUABLE:
            continue
        for v in af.versions:
            assert _evaluate(v, af)[0], f"{af.ecosystem} {af.name} {v} is listed as affected"
        for r in af.ranges:
            if r.type == "GIT":
                continue
            intro = [v for k, v in r.events if k == "introduced" and v != "0"]
            fixed = [v for k, v in r.events if k == "fixed"]
            probe = type(af)(af.ecosystem, af.name, (r,))
            if intro:
                assert _evaluate(intro[0], probe)[0], f"{af.name} {intro[0]} introduced"
            if fixed:
                assert not _evaluate(fixed[-1], probe)[0], f"{af.name} {fixed[-1]} fixed"


def _duplicate_id(advisory_id: str) -> bool:
    ids = [f["id"] for f in OSV_FILES]
    return ids.count(advisory_id) > 1  # the same id in two sets: the later file wins


def _deb(name: str, version: str, source: str = "") -> Package:
    return Package(name, version, "deb", f"pkg:deb/debian/{name}@{version}", ("/x",),
                   source_name=source or name, source_version=version)  # fmt: skip


def _tracker_cases() -> tuple[tuple[str, str, str, str], tuple[str, str, str]]:
    data = json.loads((OSV / "debian-security-tracker" / "debian.json").read_text())
    fixed = opened = None
    for src, cves in data.items():
        for cve, info in cves.items():
            releases = info.get("releases") or {}
            for rel, r in (releases if isinstance(releases, dict) else {}).items():
                if rel == "buster" and r["status"] == "resolved" and r["fixed_version"] != "0":
                    fixed = fixed or (src, cve, rel, r["fixed_version"])
                if rel == "buster" and r["status"] == "open":
                    opened = opened or (src, cve, rel)
    assert fixed is not None
    assert opened is not None
    return fixed, opened


def test_debian_tracker_source_package_matching(db: VulnDB) -> None:
    (src, cve, _rel, fix), (osrc, ocve, _orel) = _tracker_cases()
    buster = Distro("debian", "10", "buster")
    old = _deb(f"lib{src}-bin", "0.0.1-1", source=src)  # a binary of the source package
    new = _deb(src, fix)
    unfixed = _deb(osrc, "999:1.0-1")
    inv = Inventory(buster, [old, new, unfixed])
    result = match(inv, db)
    found = {(m.package.name, m.id): m for m in result.matches}
    hit = found[(old.name, cve)]
    assert hit.fixed_version == fix
    assert hit.matched_name == src
    assert hit.status == "affected"
    assert hit.evidence()["match"]["ecosystem"] == "Debian:10"
    assert (new.name, cve) not in found
    assert found[(osrc, ocve)].status == "unfixed"
    other_release = match(Inventory(Distro("debian", "12"), [old]), db)
    assert all(m.affected.ecosystem == "Debian:12" for m in other_release.matches)


def test_alpine_secdb_matching(db: VulnDB) -> None:
    distro = Distro("alpine", "3.15.4")
    older = Package("xz-libs", "5.2.5-r0", "apk", "pkg:apk/alpine/xz-libs@5.2.5-r0", ("/x",),
                    source_name="xz", source_version="5.2.5-r0")  # fmt: skip
    fixed = Package("xz", "5.2.5-r1", "apk", "pkg:apk/alpine/xz@5.2.5-r1", ("/x",),
                    source_name="xz", source_version="5.2.5-r1")  # fmt: skip
    result = match(Inventory(distro, [older, fixed]), db)
    ids = {(m.package.name, m.id, m.fixed_version) for m in result.matches}
    assert ("xz-libs", "CVE-2022-1271", "5.2.5-r1") in ids
    assert not [m for m in result.matches if m.package.name == "xz"]
    assert not match(Inventory(Distro("alpine", "3.14.0"), [older]), db).matches


def test_vex_not_affected_suppresses(db: VulnDB, tmp_path: Path) -> None:
    from mamori.vulns.vex import Vex

    older = Package("xz-libs", "5.2.5-r0", "apk", "pkg:apk/alpine/xz-libs@5.2.5-r0?arch=x86_64",
                    ("/x",), source_name="xz")  # fmt: skip
    vex_doc = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "statements": [
            {
                "vulnerability": {"name": "CVE-2022-1271"},
                "products": [{"@id": "pkg:apk/alpine/xz-libs"}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
            }
        ],
    }
    (tmp_path / "v.json").write_text(json.dumps(vex_doc))
    vex = Vex.load([tmp_path / "v.json"])
    result = match(Inventory(Distro("alpine", "3.15.0"), [older]), db, vex)
    assert not [m for m in result.matches if m.id == "CVE-2022-1271"]
    (sup,) = [m for m in result.suppressed if m.id == "CVE-2022-1271"]
    assert sup.status == "not-affected"
    assert "vulnerable_code_not_in_execute_path" in sup.vex


def test_pypi_names_are_normalised(db: VulnDB) -> None:
    rec = next(f for f in OSV_FILES if f["file"].endswith("PYSEC-2023-74.json"))
    doc = json.loads((OSV / rec["file"]).read_text())
    af = doc["affected"][0]
    name = af["package"]["name"]
    version = next(iter(af.get("versions") or []), None)
    if version is None:
        pytest.skip("record lists no versions")
    weird = name.upper().replace("-", "_") if "-" in name else name.upper()
    pkg = Package(weird, version, "python", f"pkg:pypi/{name.lower()}@{version}", ("/x",))
    result = match(Inventory(None, [pkg]), db)
    assert doc["id"] in {m.id for m in result.matches}
