"""The victim image and the attacker's files, built locally (no registry, no network).

The victim is a busybox-static root file system imported with ``docker import``, plus a small
static program (``data/simtool.c``, gcc -static) under the names the catalog's victim has:
``/usr/sbin/php-fpm`` (runs ``sh -c CMD`` as its child, so the shell's parent is php-fpm), an
``nmap`` stand-in (the rules match the name), and ``fdexec`` (execs a deleted file through an open
fd). It carries the planted secrets the scenarios read: a ServiceAccount token and a
``.git-credentials`` with dummy content, and a web-server user ``nginx``. ``/etc`` is writable
by everyone on purpose: the crypto-mining scenario creates ``/etc/ld.so.preload`` as ``nginx``.

The attacker's files (``xmrig``, ``tool``, ``tool2``) are the same program built with another
``FLAVOR``, so their content exists nowhere in the victim image (verdict ``drift-new`` once copied
in). They reach the victim through a read-only bind mount, never over a network.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from mamori.core.errors import MamoriError

BUSYBOX = Path("/bin/busybox")
IMAGE_VERSION = b"sim-v2"
ATTACKER_FILES = ("xmrig", "tool", "tool2")
NGINX_UID = 101
TOKEN_PATH = "var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path
GIT_CREDENTIALS = "home/user/.git-credentials"
DUMMY_TOKEN = b"eyJhbGciOiJSUzI1NiJ9.mamori-simulation-dummy-token.not-a-real-signature\n"
DUMMY_GIT = b"https://mamori-sim:not-a-real-password@git.mamori.invalid\n"


class ImageError(MamoriError):
    """The victim image or the attacker's files could not be built."""


def simtool_source() -> bytes:
    return (resources.files("mamori.simulate") / "data" / "simtool.c").read_bytes()


def build_simtool(out: Path, flavor: str) -> Path:
    """``gcc -static`` of ``simtool.c`` with the given FLAVOR string."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise ImageError("gcc not found: the simulation builds a small static program "
                         "(apt-get install gcc libc6-dev)")  # fmt: skip
    src = out.with_suffix(".c")
    src.write_bytes(simtool_source())
    proc = subprocess.run(  # noqa: S603 - fixed argv
        [gcc, "-static", "-O2", f'-DFLAVOR="{flavor}"', "-o", str(out), str(src)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ImageError(f"cannot build the simulation program: {proc.stderr[-400:]}")
    return out


def image_digest() -> str:
    if not BUSYBOX.exists():
        raise ImageError(f"{BUSYBOX} not found (apt-get install busybox-static)")
    h = hashlib.sha256(BUSYBOX.read_bytes() + simtool_source() + IMAGE_VERSION)
    return h.hexdigest()[:12]


def _dir(t: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    t.addfile(info)


def _file(t: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644, uid: int = 0) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.uid, info.gid = len(data), mode, uid, uid
    t.addfile(info, io.BytesIO(data))


def _symlink(t: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    t.addfile(info)


def rootfs_tar(tar: Path, simtool: Path) -> None:
    """The victim's root file system (see the module docstring)."""
    applets = subprocess.run(  # noqa: S603 - fixed argv
        [str(BUSYBOX), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    busybox = BUSYBOX.read_bytes()
    tool = simtool.read_bytes()
    with tarfile.open(tar, "w") as t:
        for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "usr/local", "usr/local/bin",
                  "proc", "sys", "dev", "home", "home/user", "var", "var/www", "var/www/html",
                  "var/run", "var/run/secrets", "var/run/secrets/kubernetes.io",
                  "var/run/secrets/kubernetes.io/serviceaccount"):  # fmt: skip
            _dir(t, d)
        _dir(t, "tmp", 0o1777)
        _dir(t, "etc", 0o777)  # deliberately weak: nginx creates /etc/ld.so.preload (S4)
        _file(t, "bin/busybox", busybox, 0o755)
        _file(t, "bin/true", busybox, 0o755)  # a regular file: exec events name /bin/true
        for name in applets:
            if name not in ("busybox", "true"):
                _symlink(t, f"bin/{name}", "busybox")
        _symlink(t, "sbin/modprobe", "/bin/busybox")
        # regular image files that S7 chmods (image-copyup) and overwrites (drift-modified)
        _file(t, "usr/bin/id", busybox, 0o644)
        _file(t, "usr/bin/whoami", busybox, 0o755)
        for path in ("usr/sbin/php-fpm", "usr/bin/nmap", "usr/local/bin/fdexec"):
            _file(t, path, tool, 0o755)
        passwd = (
            "root:x:0:0:root:/root:/bin/sh\n"
            f"nginx:x:{NGINX_UID}:{NGINX_UID}:nginx:/var/www/html:/bin/sh\n"
            "user:x:1000:1000:user:/home/user:/bin/sh\n"
            "nobody:x:65534:65534:nobody:/:/bin/sh\n"
        )
        _file(t, "etc/passwd", passwd.encode())
        _file(t, "etc/group", f"root:x:0:\nnginx:x:{NGINX_UID}:\nuser:x:1000:\n".encode())
        _file(t, GIT_CREDENTIALS, DUMMY_GIT, 0o644, uid=1000)
        _file(t, TOKEN_PATH, DUMMY_TOKEN, 0o644)
        _file(t, "var/run/secrets/kubernetes.io/serviceaccount/namespace", b"mamori-sim")


def attacker_dir(into: Path) -> Path:
    """``xmrig``, ``tool``, ``tool2``: the attacker's build, mode 0755, in ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    built = build_simtool(into / "simtool-attacker", "attacker")
    for name in ATTACKER_FILES:
        shutil.copyfile(built, into / name)
        (into / name).chmod(0o755)
    built.unlink()
    built.with_suffix(".c").unlink()
    into.chmod(0o755)
    return into


def victim_image(run: Callable[..., str]) -> str:
    """Build (once per content digest) and return the victim image name; ``run`` is the
    runner's ``docker(*args, timeout=...)`` call."""
    name = f"local/mamori-sim-victim:{image_digest()}"
    if run("images", "-q", name):
        return name
    with tempfile.TemporaryDirectory() as tmp:
        simtool = build_simtool(Path(tmp) / "simtool", "victim")
        tar = Path(tmp) / "rootfs.tar"
        rootfs_tar(tar, simtool)
        run("import", "--change", 'CMD ["/bin/sh"]', str(tar), name, timeout=120)
    return name


def attacker_image(run: Callable[..., str]) -> str:
    """For ``--target kubernetes``: busybox plus the attacker's files under ``/simulation``
    (served by ``httpd``). Built once per content digest."""
    name = f"local/mamori-sim-attacker:{image_digest()}"
    if run("images", "-q", name):
        return name
    with tempfile.TemporaryDirectory() as tmp:
        files = attacker_dir(Path(tmp) / "simulation")
        tar = Path(tmp) / "rootfs.tar"
        busybox = BUSYBOX.read_bytes()
        with tarfile.open(tar, "w") as t:
            for d in ("bin", "proc", "sys", "dev", "etc", "simulation"):
                _dir(t, d)
            _dir(t, "tmp", 0o1777)
            _file(t, "bin/busybox", busybox, 0o755)
            for applet in ("sh", "httpd", "sleep"):
                _symlink(t, f"bin/{applet}", "busybox")
            for f in sorted(files.iterdir()):
                _file(t, f"simulation/{f.name}", f.read_bytes(), 0o755)
        run("import", "--change", 'CMD ["/bin/sh"]', str(tar), name, timeout=120)
    return name
