"""Images from the local Docker engine, read from the ``docker save`` stream (no temp file)."""

from __future__ import annotations

import shutil
import subprocess

from mamori.vulns.errors import ImageError
from mamori.vulns.images.archive import read_docker_archive
from mamori.vulns.images.layers import LayerCache
from mamori.vulns.images.model import Image


def open_docker_image(name: str, cache: LayerCache, *, docker: str = "docker") -> Image:
    exe = shutil.which(docker)
    if exe is None:
        raise ImageError("the docker CLI is not installed", f"docker:{name}")
    with subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        [exe, "save", name], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        try:
            image = read_docker_archive(
                proc.stdout, f"docker:{name}", cache, ref=name, source="docker"
            )
        except ImageError:
            proc.kill()
            proc.wait()
            err = proc.stderr.read().decode(errors="replace").strip()
            if err:
                raise ImageError(err.splitlines()[-1], f"docker:{name}") from None
            raise
        err = proc.stderr.read().decode(errors="replace").strip()
        if proc.wait() != 0:
            raise ImageError(f"docker save failed: {err}", f"docker:{name}")
    return image
