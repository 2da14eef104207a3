"""An opened image: where it came from, its config, its layers and its merged filesystem."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mamori.vulns.images.vfs import Diagnostic, FileSystem


@dataclass(slots=True)
class Image:
    ref: str  # as the user wrote it
    source: str  # docker-archive | oci-layout | registry | docker | directory
    fs: FileSystem
    id: str = ""  # config digest (the image id), "" for directories
    digest: str = ""  # manifest digest when known
    diff_ids: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    platform: str = ""
    tags: list[str] = field(default_factory=list)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.fs.diagnostics
