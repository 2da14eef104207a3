"""CycloneDX 1.6 JSON through cyclonedx-python-lib."""

from __future__ import annotations

from datetime import datetime

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import LicenseExpression
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from mamori.vulns.catalogers.model import Inventory
from mamori.vulns.sbom.native import Subject


def to_cyclonedx(inv: Inventory, subject: Subject, created: str) -> str:
    bom = Bom()
    bom.metadata.timestamp = datetime.fromisoformat(created)
    root = Component(
        name=subject.name,
        type=ComponentType.CONTAINER if subject.kind == "image" else ComponentType.OPERATING_SYSTEM,
        version=subject.digest or subject.id or None,
        bom_ref=f"subject:{subject.name}",
    )
    bom.metadata.component = root
    if inv.distro:
        os_comp = Component(
            name=inv.distro.id,
            version=inv.distro.version_id or None,
            type=ComponentType.OPERATING_SYSTEM,
            bom_ref=f"distro:{inv.distro.id}-{inv.distro.version_id}",
        )
        bom.components.add(os_comp)
    seen: set[str] = set()
    for p in inv.packages:
        ref = p.purl
        if ref in seen:
            ref = f"{p.purl}#{p.locations[0] if p.locations else len(seen)}"
        seen.add(ref)
        props = [Property(name="mamori:package:type", value=p.type)]
        props += [Property(name="mamori:location:path", value=loc) for loc in p.locations]
        if p.source_name:
            props.append(Property(name="mamori:source:name", value=p.source_name))
            props.append(Property(name="mamori:source:version", value=p.source_version))
        comp = Component(
            name=p.name,
            version=p.version,
            type=ComponentType.LIBRARY,
            purl=PackageURL.from_string(p.purl),
            bom_ref=ref,
            properties=props,
        )
        if p.licenses:
            comp.licenses.add(LicenseExpression(" AND ".join(p.licenses)))
        bom.components.add(comp)
    bom.register_dependency(root, list(bom.components))
    return str(JsonV1Dot6(bom).output_as_string(indent=2))
