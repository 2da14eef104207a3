"""Build the eBPF observer object for this kernel: vmlinux.h from BTF, then clang.

The object is cached under a key of sha256(source + the kernel's BTF), so a second build (or a
sensor start) costs two file hashes. Nothing here runs at event time; the sensor only loads the
cached object (``sources/ebpf.py``). Needs clang, bpftool and libbpf-dev (the ``bpf/*.h``
headers) at build time, the kernel's BTF at ``/sys/kernel/btf/vmlinux``; loading needs only
libbpf1.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mamori.core.errors import MamoriError

SOURCE = Path(__file__).with_name("observer.bpf.c")
BTF = Path("/sys/kernel/btf/vmlinux")
SYSTEM_CACHE = Path("/var/cache/mamori/bpf")
HEADERS = Path("/usr/include/bpf/bpf_helpers.h")
ARCH = {
    "x86_64": "x86",
    "aarch64": "arm64",
    "arm64": "arm64",
    "s390x": "s390",
    "ppc64le": "powerpc",
}


class BpfBuildError(MamoriError):
    """The object cannot be built here; the message names what is missing."""


@dataclass(frozen=True, slots=True)
class BuildResult:
    path: Path
    cached: bool  # True when the object was already there


def default_cache_dir() -> Path:
    """``/var/cache/mamori/bpf`` for root (the sensor runs as root), else the data dir's."""
    if os.geteuid() == 0:
        return SYSTEM_CACHE
    from mamori.config import default_data_dir

    return default_data_dir() / "bpf"


def cache_key(source: Path = SOURCE, btf: Path = BTF) -> str:
    h = hashlib.sha256()
    h.update(source.read_bytes())
    h.update(b"\0")
    with open(btf, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:32]


def cached_object(cache_dir: Path | None = None, btf: Path = BTF) -> Path | None:
    """The object for this kernel and source if it was built already, else None."""
    if not btf.exists():
        return None
    path = (cache_dir or default_cache_dir()) / f"observer-{cache_key(SOURCE, btf)}.bpf.o"
    return path if path.exists() else None


def _tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BpfBuildError(f"{name} not found (apt-get install {package})")
    return found


def _run(cmd: list[str], what: str, stdout: int | None = None) -> bytes:
    proc = subprocess.run(  # noqa: S603 (fixed tool paths from shutil.which, no shell)
        cmd,
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE,
        check=False,
    )
    if proc.returncode != 0:
        err = (proc.stderr or b"").decode(errors="replace").strip()
        raise BpfBuildError(f"{what} failed ({proc.returncode}): {err[-2000:]}")
    return proc.stdout or b""


def build(cache_dir: Path | None = None, btf: Path = BTF, force: bool = False) -> BuildResult:
    """Build (or find) the object for this kernel; idempotent."""
    if not btf.exists():
        raise BpfBuildError(f"no kernel BTF at {btf} (needs CONFIG_DEBUG_INFO_BTF=y)")
    cache = cache_dir or default_cache_dir()
    out = cache / f"observer-{cache_key(SOURCE, btf)}.bpf.o"
    if out.exists() and not force:
        return BuildResult(out, True)
    clang = _tool("clang", "clang llvm")
    bpftool = _tool("bpftool", "bpftool")
    if not HEADERS.exists():
        raise BpfBuildError(f"{HEADERS} not found (apt-get install libbpf-dev)")
    arch = ARCH.get(os.uname().machine)
    if arch is None:
        raise BpfBuildError(f"unsupported architecture {os.uname().machine}")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mamori-bpf-") as tmp:
        header = Path(tmp) / "vmlinux.h"
        with open(header, "wb") as f:
            _run(
                [bpftool, "btf", "dump", "file", str(btf), "format", "c"],
                "bpftool btf dump",
                stdout=f.fileno(),
            )
        obj = Path(tmp) / "observer.bpf.o"
        _run(
            [
                clang,
                "-g",
                "-O2",
                "-target",
                "bpf",
                f"-D__TARGET_ARCH_{arch}",
                f"-I{tmp}",
                "-c",
                str(SOURCE),
                "-o",
                str(obj),
            ],
            "clang",
        )
        tmp_out = out.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(obj, tmp_out)
        os.replace(tmp_out, out)  # atomic: a concurrent build or load never sees half a file
    return BuildResult(out, False)
