"""Version comparators against the orderings their upstreams test.

Each table is an ordered chain (every element sorts before the next) or a set of equal
spellings, written down from the upstream test named above it.
"""

from __future__ import annotations

import itertools

import pytest

from mamori.vulns.errors import VersionError
from mamori.vulns.versions import apk, comparator, dpkg, maven, pep440, rpm, semver


def _pairs(chain: list[str]) -> list[tuple[str, str]]:
    return list(itertools.pairwise(chain))


def _check_chain(compare: object, a: str, b: str) -> None:
    assert callable(compare)
    assert compare(a, b) == -1, f"{a} < {b}"
    assert compare(b, a) == 1, f"{b} > {a}"
    assert compare(a, a) == 0


# dpkg: deb-version(7) and dpkg's lib/dpkg/t/t-version.c ---------------------------------
DPKG_CHAIN = ["1.0~~", "1.0~~a", "1.0~", "1.0", "1.0-1", "1.0-1.1", "1.0a", "1.0+b1", "1.0.1"]
DPKG_CASES = [
    ("0:1.0-1", "1.0-1", 0),
    ("1:0.9", "2.0", 1),
    ("1.002", "1.2", 0),
    ("1.0-0", "1.0", 0),
    ("2.30", "2.3", 1),
    ("1.3", "1.3.0", -1),
    ("7.6p2-4", "7.6-0", 1),
    ("1.0.3-3", "1.0-1", 1),
    ("1.2.3-a", "1.2.3-b", -1),
    ("2:1.0", "1:9.9", 1),
    ("1.0-1ubuntu1", "1.0-1", 1),
    ("1.0-1~bpo1", "1.0-1", -1),
    ("1.18.0+dfsg-1", "1.18.0-1", 1),
]


@pytest.mark.parametrize(("a", "b"), _pairs(DPKG_CHAIN))
def test_dpkg_chain(a: str, b: str) -> None:
    _check_chain(dpkg.compare, a, b)


@pytest.mark.parametrize(("a", "b", "expected"), DPKG_CASES)
def test_dpkg_cases(a: str, b: str, expected: int) -> None:
    assert dpkg.compare(a, b) == expected
    assert dpkg.compare(b, a) == -expected


@pytest.mark.parametrize("bad", ["", "x:1.0", ":1"])
def test_dpkg_rejects(bad: str) -> None:
    with pytest.raises(VersionError):
        dpkg.compare(bad, "1.0")


# rpm: rpm-software-management/rpm tests/rpmvercmp.at ----------------------------------
RPMVERCMP = """
1.0 1.0 0|1.0 2.0 -1|2.0 1.0 1|2.0.1 2.0.1 0|2.0 2.0.1 -1|2.0.1 2.0 1|2.0.1a 2.0.1a 0
2.0.1a 2.0.1 1|2.0.1 2.0.1a -1|5.5p1 5.5p1 0|5.5p1 5.5p2 -1|5.5p2 5.5p1 1|5.5p10 5.5p10 0
5.5p1 5.5p10 -1|5.5p10 5.5p1 1|10xyz 10.1xyz -1|10.1xyz 10xyz 1|xyz10 xyz10 0
xyz10 xyz10.1 -1|xyz10.1 xyz10 1|xyz.4 xyz.4 0|xyz.4 8 -1|8 xyz.4 1|xyz.4 2 -1|2 xyz.4 1
5.5p2 5.6p1 -1|5.6p1 5.5p2 1|5.6p1 6.5p1 -1|6.5p1 5.6p1 1|6.0.rc1 6.0 1|6.0 6.0.rc1 -1
10b2 10a1 1|10a2 10b2 -1|1.0aa 1.0aa 0|1.0a 1.0aa -1|1.0aa 1.0a 1|10.0001 10.0001 0
10.0001 10.1 0|10.1 10.0001 0|10.0001 10.0039 -1|10.0039 10.0001 1|4.999.9 5.0 -1
5.0 4.999.9 1|20101121 20101121 0|20101121 20101122 -1|20101122 20101121 1|2_0 2_0 0
2.0 2_0 0|2_0 2.0 0|a a 0|a+ a+ 0|a+ a_ 0|a_ a+ 0|+a +a 0|+a _a 0|_a +a 0|+_ +_ 0|_+ +_ 0
_+ _+ 0|+ _ 0|_ + 0|1.0~rc1 1.0~rc1 0|1.0~rc1 1.0 -1|1.0 1.0~rc1 1|1.0~rc1 1.0~rc2 -1
1.0~rc2 1.0~rc1 1|1.0~rc1~git123 1.0~rc1~git123 0|1.0~rc1~git123 1.0~rc1 -1
1.0~rc1 1.0~rc1~git123 1|1.0^ 1.0^ 0|1.0^ 1.0 1|1.0 1.0^ -1|1.0^git1 1.0^git1 0
1.0^git1 1.0 1|1.0 1.0^git1 -1|1.0^git1 1.0^git2 -1|1.0^git1 1.01 -1|1.0^20160101 1.0.1 -1
1.0^20160101^git1 1.0^20160101 1|1.0~rc1^git1 1.0~rc1 1|1.0~rc1 1.0~rc1^git1 -1
1.0^git1~pre 1.0^git1 -1|1.0^git1 1.0^git1~pre 1
"""
RPM_TABLE = [
    (a, b, int(r))
    for chunk in RPMVERCMP.strip().replace("\n", "|").split("|")
    for a, b, r in [chunk.split(" ")]
]


@pytest.mark.parametrize(("a", "b", "expected"), RPM_TABLE)
def test_rpmvercmp(a: str, b: str, expected: int) -> None:
    assert rpm.rpmvercmp(a, b) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1:1.0-1", "2.0-1", 1),
        ("0:1.0-1", "1.0-1", 0),
        ("1.0-1.el8", "1.0-2.el8", -1),
        ("1.0", "1.0-5", 0),  # no release: any release matches
        ("0.9.2-1", "0.9.2-1", 0),
    ],
)
def test_rpm_evr(a: str, b: str, expected: int) -> None:
    assert rpm.compare(a, b) == expected


# apk: alpinelinux/apk-tools test/version.data (a sample of its chain) -------------------
APK_DATA = """
2.34 > 0.1.0_alpha|23_foo > 4_beta|0.1.0_alpha = 0.1.0_alpha|0.1.0_alpha < 0.1.3_alpha
0.1.0_alpha2 > 0.1.0_alpha|0.1.0_alpha < 2.2.39-r1|1.0.4-r3 < 1.0.4-r4|1.1 > 1.1_alpha1
1.2 < 1.3_alpha|1.3_alpha < 1.3_alpha2|0.7.0 < 0.8_beta1|3.10.18-r1 > 2.3.0b-r1
2.3.0b-r1 < 2.3.0b-r2|0.12.3 > 0.12|0.12 < 0.13_beta1|1.2.11 < 1.2.12.1|0.2.0-r1 < 3.1_p16
3.1_p16 < 3.1_p17|3.1_p17 > 1.06-r6|1.06-r6 < 006|006 > 1.0.0|1.2.2-r1 > 1.2.2
9.3.4-r2 > 9.3.4|20050718-r1 < 20050718-r2|3.9.8-r5 > 2.01.01_alpha10|1.0 > 0.99.3.20040818
1.39 > 1.00_beta2|2.8.9-r1 > 2.8.9|4.2.52_p2-r1 < 4.2.52_p4-r2|1.02.07 < 1.02.10-r1
2.18.3-r10 > 1.05-r18|20060720 > 3.0.20060720|3.0.20060720 < 20060720|2.5.1-r8 < 2.5.1a-r1
2.0.0_rc3-r1 > 1.5|0.99.163 < 2.6.15.20060110|3.0.0-r2 < 021109-r3|021109-r3 < 20060512
3.9_pre20060124 > 0.01|1.1.7 < 6b-r7|0.10.0-r1 > 0.10.0|0.10.0 < 0.10.1_rc1|1.1a < 1.3a
1.0-r1 > 0.15.1b|0.15.1b-r2 > 0.15.1b|22.7.3-r1 > 22.7|22.7 > 2.1_pre20|02.08.01b < 4.77
8.1.2.20050715-r1 < 20030215|3.81 > 1.6d|1.6d > 1.2.07.8|1.2.07.8 < 1.2.12.04
0.1_pre20060810 < 0.1_pre20060817|0.59s-r11 < 0.65|0.20070118 < 0.20070207_rc1
3.7_p1 > 1.3|4.5_p1-r1 > 4.5_p1|0.9.8c-r1 < 0.9.8d|1.7 < 1.7b|1.8.5 < 1.8.5_p2
1.6.8_p12-r1 > 1.6.8_p9-r2|0.9.28-r2 < 0.9.28.1|0.9.28.1 < 087-r1|104-r11 > 104-r9
20040406-r1 > 2.12r-r4|2.12r-r4 < 2.12r-r5|7.0.17 < 7.0.174|1.3-r0 < 1.3.1-r0
1.3_pre1-r1 < 1.3.2|1.0_p10-r0 > 1.0_p9-r0|0.1.0_alpha_pre2 < 0.1.0_alpha
1.0.0_pre20191002222144-r0 < 1.0.0_pre20210530193627-r0
"""
_OPS = {"<": -1, "=": 0, ">": 1}
APK_TABLE = [
    (a, b, _OPS[op])
    for chunk in APK_DATA.strip().replace("\n", "|").split("|")
    for a, op, b in [chunk.split(" ")]
]


@pytest.mark.parametrize(("a", "b", "expected"), APK_TABLE)
def test_apk(a: str, b: str, expected: int) -> None:
    assert apk.compare(a, b) == expected
    assert apk.compare(b, a) == -expected


# semver: semver.org §11 -----------------------------------------------------------------
SEMVER_CHAIN = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "2.0.0",
    "2.1.0",
    "v2.1.1",
]


@pytest.mark.parametrize(("a", "b"), _pairs(SEMVER_CHAIN))
def test_semver_chain(a: str, b: str) -> None:
    _check_chain(semver.compare, a, b)


def test_semver_build_metadata_ignored() -> None:
    assert semver.compare("1.0.0+a", "1.0.0+b") == 0


# PEP 440: the ordering example in the specification ------------------------------------
PEP440_CHAIN = [
    "1.dev0",
    "1.0.dev456",
    "1.0a1",
    "1.0a2.dev456",
    "1.0a12.dev456",
    "1.0a12",
    "1.0b1.dev456",
    "1.0b2",
    "1.0b2.post345.dev456",
    "1.0b2.post345",
    "1.0rc1.dev456",
    "1.0rc1",
    "1.0",
    "1.0+abc.5",
    "1.0+abc.7",
    "1.0+5",
    "1.0.post456.dev34",
    "1.0.post456",
    "1.0.15",
    "1.1.dev1",
]


@pytest.mark.parametrize(("a", "b"), _pairs(PEP440_CHAIN))
def test_pep440_chain(a: str, b: str) -> None:
    _check_chain(pep440.compare, a, b)


# Maven: ComparableVersionTest (VERSIONS_QUALIFIER, VERSIONS_NUMBER, testVersionsEqual) ---
MAVEN_QUALIFIER = [
    "1-alpha2snapshot",
    "1-alpha2",
    "1-alpha-123",
    "1-beta-2",
    "1-beta123",
    "1-m2",
    "1-m11",
    "1-rc",
    "1-cr2",
    "1-rc123",
    "1-SNAPSHOT",
    "1",
    "1-sp",
    "1-sp2",
    "1-sp123",
    "1-abc",
    "1-def",
    "1-pom-1",
    "1-1-snapshot",
    "1-1",
    "1-2",
    "1-123",
]
MAVEN_NUMBER = [
    "2.0",
    "2.0.a",
    "2-1",
    "2.0.2",
    "2.0.123",
    "2.1.0",
    "2.1-a",
    "2.1b",
    "2.1-c",
    "2.1-1",
    "2.1.0.1",
    "2.2",
    "2.123",
    "11.a2",
    "11.a11",
    "11.b2",
    "11.b11",
    "11.m2",
    "11.m11",
    "11",
    "11.a",
    "11b",
    "11c",
    "11m",
]
MAVEN_EQUAL = [
    ("1", "1"),
    ("1", "1.0"),
    ("1", "1.0.0"),
    ("1.0", "1.0.0"),
    ("1", "1-0"),
    ("1", "1.0-0"),
    ("1a", "1-a"),
    ("1a", "1.0-a"),
    ("1a", "1.0.0-a"),
    ("1x", "1-x"),
    ("1x", "1.0-x"),
    ("1ga", "1"),
    ("1release", "1"),
    ("1final", "1"),
    ("1cr", "1rc"),
    ("1a1", "1-alpha-1"),
    ("1b2", "1-beta-2"),
    ("1m3", "1-milestone-3"),
    ("1X", "1x"),
    ("1A", "1a"),
    ("1RC", "1rc"),
    ("1M3", "1m3"),
]


@pytest.mark.parametrize(("a", "b"), _pairs(MAVEN_QUALIFIER) + _pairs(MAVEN_NUMBER))
def test_maven_chain(a: str, b: str) -> None:
    _check_chain(maven.compare, a, b)


@pytest.mark.parametrize(("a", "b"), MAVEN_EQUAL)
def test_maven_equal(a: str, b: str) -> None:
    assert maven.compare(a, b) == 0
    assert maven.compare(b, a) == 0


@pytest.mark.parametrize(
    ("ecosystem", "a", "b", "expected"),
    [
        ("Debian:12", "1.0~rc1", "1.0", -1),
        ("Alpine:v3.19", "1.0_rc1", "1.0", -1),
        ("Red Hat:enterprise_linux:9", "1.0-1.el9", "1.0-2.el9", -1),
        ("PyPI", "1.0rc1", "1.0", -1),
        ("npm", "1.0.0-rc.1", "1.0.0", -1),
        ("Maven", "1.0-SNAPSHOT", "1.0", -1),
        ("RubyGems", "1.2.10", "1.2.9", 1),
    ],
)
def test_comparator_by_ecosystem(ecosystem: str, a: str, b: str, expected: int) -> None:
    assert comparator(ecosystem)(a, b) == expected
