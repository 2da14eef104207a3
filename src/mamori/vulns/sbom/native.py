"""mamori's SBOM JSON: the inventory as catalogued, with the subject it describes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import mamori
from mamori.vulns.catalogers.model import Inventory

SCHEMA = "https://mamori.dev/schema/sbom/v1"


@dataclass(frozen=True, slots=True)
class Subject:
    """What was scanned: an image or a node."""

    name: str
    kind: str  # image | node | directory
    id: str = ""
    digest: str = ""
    platform: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def package_dict(inv: Inventory) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "version": p.version,
            "type": p.type,
            "purl": p.purl,
            "licenses": list(p.licenses),
            "source": {"name": p.source_name, "version": p.source_version}
            if p.source_name
            else None,
            "arch": p.arch or None,
            "locations": list(p.locations),
            "cataloger": p.cataloger,
        }
        for p in inv.packages
    ]


def to_native(inv: Inventory, subject: Subject, created: str) -> str:
    doc = {
        "$schema": SCHEMA,
        "tool": {"name": "mamori", "version": mamori.__version__},
        "created": created,
        "subject": asdict(subject),
        "distro": asdict(inv.distro) if inv.distro else None,
        "packages": package_dict(inv),
        "diagnostics": [asdict(d) for d in inv.diagnostics],
    }
    return json.dumps(doc, indent=2, sort_keys=False)
