"""SBOM writers: CycloneDX 1.6 JSON, SPDX 2.3 JSON and mamori's own JSON."""

from __future__ import annotations

from collections.abc import Callable

from mamori.vulns.sbom.cyclonedx import to_cyclonedx
from mamori.vulns.sbom.native import Subject, to_native
from mamori.vulns.sbom.spdx import to_spdx

Writer = Callable[..., str]
FORMATS: dict[str, Writer] = {"cyclonedx": to_cyclonedx, "spdx": to_spdx, "mamori": to_native}

__all__ = ["FORMATS", "Subject", "to_cyclonedx", "to_native", "to_spdx"]
