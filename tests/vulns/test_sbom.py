"""SBOM documents: CycloneDX 1.6 validates against its schema; SPDX 2.3 and mamori JSON hold
every package with its purl; and the same image read four ways gives the same package set."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from mamori.vulns.catalogers import Inventory, catalog
from mamori.vulns.images import LayerCache, OpenOptions, open_image
from mamori.vulns.images.registry import Credentials
from mamori.vulns.sbom import Subject, to_cyclonedx, to_native, to_spdx
from tests.vulns.builders import Member, layer_tar
from tests.vulns.conftest import VULN, Registry

CREATED = "2025-01-02T03:04:05+00:00"


@pytest.fixture
def alpine(tmp_path: Path) -> Inventory:
    image = open_image(str(VULN / "images/trivy/alpine-310.tar.gz"), LayerCache(tmp_path))
    return catalog(image.fs)


def test_cyclonedx_validates(alpine: Inventory) -> None:
    doc = to_cyclonedx(alpine, Subject("alpine:3.10", "image", id="sha256:x"), CREATED)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(doc) is None
    data = json.loads(doc)
    assert data["specVersion"] == "1.6"
    purls = {c.get("purl") for c in data["components"]}
    assert {p.purl for p in alpine.packages} <= purls


def test_spdx_document(alpine: Inventory) -> None:
    data = json.loads(to_spdx(alpine, Subject("alpine:3.10", "image"), CREATED))
    assert data["spdxVersion"] == "SPDX-2.3"
    pkgs = data["packages"][1:]
    assert len(pkgs) == len(alpine.packages)
    locators = {r["referenceLocator"] for p in pkgs for r in p["externalRefs"]}
    assert locators == {p.purl for p in alpine.packages}
    musl = next(p for p in pkgs if p["name"] == "musl")
    assert musl["licenseDeclared"] == "MIT"
    contains = [r for r in data["relationships"] if r["relationshipType"] == "CONTAINS"]
    assert len(contains) == len(pkgs)


def test_native_document(alpine: Inventory) -> None:
    data = json.loads(to_native(alpine, Subject("alpine:3.10", "image"), CREATED))
    assert data["distro"]["id"] == "alpine"
    assert len(data["packages"]) == 14


# the same image from four sources -------------------------------------------------------

ROOTFS = layer_tar(
    [
        Member("etc/os-release", b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'),
        Member(
            "var/lib/dpkg/status",
            b"Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\n"
            b"Architecture: amd64\nSource: zlib\n\n"
            b"Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n"
            b"Architecture: amd64\n",
        ),
        Member(
            "usr/lib/python3/dist-packages/urllib3-1.26.12.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.12\n",
        ),
    ]
)


def _set(inv: Inventory) -> set[tuple[str, str, str, str]]:
    return {(p.type, p.name, p.version, p.purl) for p in inv.packages}


def test_same_packages_from_archive_oci_registry_and_engine(
    dockerd: None, registry: Registry, tmp_path: Path
) -> None:
    name = f"mamori-vulns-sbom-{uuid.uuid4().hex[:10]}:1"
    subprocess.run(["docker", "import", "-", name], input=ROOTFS, check=True, capture_output=True)
    try:
        archive = tmp_path / "img.tar"
        oci = tmp_path / "oci"
        for dest in (f"docker-archive:{archive}:{name}", f"oci:{oci}:1"):
            subprocess.run(
                ["skopeo", "copy", f"docker-daemon:{name}", dest], check=True, capture_output=True
            )
        pushed = registry.push(f"oci:{oci}:1", "mamori/sbom:1")
        sets = {}
        for n, ref in enumerate(
            [f"docker-archive:{archive}", f"oci:{oci}:1", f"registry:{pushed}", f"docker:{name}"]
        ):
            opts = OpenOptions(
                credentials=Credentials(registry.user, registry.password), insecure=True
            )
            image = open_image(ref, LayerCache(tmp_path / f"cache{n}"), opts)
            sets[image.source] = _set(catalog(image.fs))
    finally:
        subprocess.run(["docker", "rmi", "-f", name], capture_output=True, check=False)
    assert set(sets) == {"docker-archive", "oci-layout", "registry", "docker"}
    first = sets["docker-archive"]
    assert {k[:3] for k in first} == {
        ("deb", "zlib1g", "1:1.2.13.dfsg-1"),
        ("deb", "bash", "5.2.15-2+b2"),
        ("python", "urllib3", "1.26.12"),
    }
    for source, found in sets.items():
        assert found == first, source
