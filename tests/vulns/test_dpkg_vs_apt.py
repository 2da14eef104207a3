"""mamori's dpkg comparator against python-apt's ``apt_pkg.version_compare``.

The versions are every package version installed on this machine. apt_pkg is built for
Debian's /usr/bin/python3, so it runs in a subprocess that prints its verdicts; every pair is
compared when there are few enough, else a deterministic sample of at least 20,000 pairs.
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
import subprocess
from pathlib import Path

from mamori.vulns.versions import dpkg
from tests.conftest import unavailable

_APT_SCRIPT = """
import json, sys
import apt_pkg
apt_pkg.init_system()
pairs = json.load(sys.stdin)
out = []
for a, b in pairs:
    r = apt_pkg.version_compare(a, b)
    out.append((r > 0) - (r < 0))
json.dump(out, sys.stdout)
"""
MAX_PAIRS = 400_000
MIN_PAIRS = 20_000


def _installed_versions() -> list[str]:
    if not shutil.which("dpkg-query"):
        unavailable("dpkg-query is not installed")
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}\\n"], check=True, capture_output=True, text=True
    ).stdout
    return sorted({v for v in out.splitlines() if v})


def _pairs(versions: list[str]) -> list[tuple[str, str]]:
    pairs = list(itertools.combinations(versions, 2))
    if len(pairs) > MAX_PAIRS:
        pairs = random.Random(8).sample(pairs, MAX_PAIRS)
    # Some tricky spellings the machine may not have, so every run covers them.
    extra = ["1.0~rc1", "1.0", "1:0.1", "1.0+b1", "1.0-1~bpo1", "1.0-0", "1.00", "2.0a~", "0~"]
    pairs += list(itertools.combinations(extra, 2))
    return pairs


def test_dpkg_matches_apt_pkg_on_installed_versions() -> None:
    python3 = Path("/usr/bin/python3")
    probe = subprocess.run([python3, "-c", "import apt_pkg"], capture_output=True, check=False)
    if not python3.exists() or probe.returncode != 0:
        unavailable("Debian's python3-apt (apt_pkg for /usr/bin/python3) is not installed")
    versions = _installed_versions()
    pairs = _pairs(versions)
    assert len(pairs) >= MIN_PAIRS or len(versions) < 250, "too few versions to compare"
    result = subprocess.run(
        [python3, "-c", _APT_SCRIPT],
        input=json.dumps(pairs),
        capture_output=True,
        text=True,
        check=True,
    )
    apt = json.loads(result.stdout)
    mismatches = [
        (a, b, want, got)
        for (a, b), want in zip(pairs, apt, strict=True)
        if (got := dpkg.compare(a, b)) != want
    ]
    assert not mismatches[:20], f"{len(mismatches)} of {len(pairs)} pairs differ from apt"
    assert len(pairs) >= MIN_PAIRS
