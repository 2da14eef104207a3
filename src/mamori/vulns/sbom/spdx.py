"""SPDX 2.3 JSON (the subset that describes packages: no files, no snippets)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import mamori
from mamori.vulns.catalogers.model import Inventory, Package
from mamori.vulns.sbom.native import Subject

NOASSERTION = "NOASSERTION"


def _spdx_id(n: int, p: Package) -> str:
    safe = re.sub(r"[^A-Za-z0-9.-]+", "-", f"{p.type}-{p.name}-{p.version}")[:100]
    return f"SPDXRef-Package-{safe}-{n}"


def _license(p: Package) -> str:
    from license_expression import get_spdx_licensing

    if not p.licenses:
        return NOASSERTION
    expr = " AND ".join(f"({x})" if " " in x else x for x in p.licenses)
    try:
        info = get_spdx_licensing().validate(expr)
    except Exception:  # the library raises several types for odd input
        return NOASSERTION
    if info.errors or info.invalid_symbols:
        return NOASSERTION
    return str(info.normalized_expression or NOASSERTION)


def to_spdx(inv: Inventory, subject: Subject, created: str) -> str:
    root_id = "SPDXRef-DocumentRoot"
    packages: list[dict[str, Any]] = [
        {
            "SPDXID": root_id,
            "name": subject.name,
            "versionInfo": subject.digest or subject.id or NOASSERTION,
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": False,
            "primaryPackagePurpose": "CONTAINER" if subject.kind == "image" else "OPERATING-SYSTEM",
        }
    ]
    relationships = [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": root_id,
        },
    ]
    for n, p in enumerate(inv.packages):
        sid = _spdx_id(n, p)
        lic = _license(p)
        packages.append(
            {
                "SPDXID": sid,
                "name": p.name,
                "versionInfo": p.version,
                "downloadLocation": NOASSERTION,
                "filesAnalyzed": False,
                "licenseConcluded": NOASSERTION,
                "licenseDeclared": lic,
                "sourceInfo": "found at " + ", ".join(p.locations),
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": p.purl,
                    },
                ],
            }
        )
        relationships.append(
            {"spdxElementId": root_id, "relationshipType": "CONTAINS", "relatedSpdxElement": sid}
        )
    seed = f"{subject.name}|{subject.digest}|{subject.id}|{created}"
    doc = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": subject.name,
        "documentNamespace": "https://mamori.dev/spdx/" + hashlib.sha256(seed.encode()).hexdigest(),
        "creationInfo": {
            "created": created,
            "creators": [f"Tool: mamori-{mamori.__version__}"],
        },
        "packages": packages,
        "relationships": relationships,
    }
    return json.dumps(doc, indent=2)
