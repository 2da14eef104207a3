"""Image sources: archives, OCI layouts, bare layers, whiteouts, registry, Docker engine."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import httpx
import pytest

from mamori.vulns.errors import ImageError, RegistryError
from mamori.vulns.images import LayerCache, OpenOptions, open_image
from mamori.vulns.images.archive import open_layer_files
from mamori.vulns.images.registry import Credentials, Reference, is_loopback
from tests.vulns.builders import Member, docker_archive, layer_tar, oci_layout, sha256
from tests.vulns.conftest import VULN, Registry, TokenRegistry

BASE = layer_tar(
    [
        Member("etc", kind="d"),
        Member("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
        Member("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
        Member("foo", kind="d"),
        Member("foo/foo", b"lower"),
        Member("foo/bar", b"kept"),
        Member("usr/bin/tool", b"#!/bin/sh\n", mode=0o755),
        Member("bin", kind="l", link="usr/bin"),
    ]
)
TOP = layer_tar([Member("etc/.wh.passwd"), Member("usr/bin/other", b"x", mode=0o755)])


def files(image_fs: object) -> dict[str, tuple[str, int]]:
    walk = image_fs.walk  # type: ignore[attr-defined]
    return {e.path: (e.kind, e.size) for e in walk() if e.kind != "d"}


@pytest.mark.parametrize("gz", [False, True], ids=["tar", "tar.gz"])
def test_docker_archive(tmp_path: Path, cache: LayerCache, gz: bool) -> None:
    path = docker_archive(tmp_path / "img.tar", [BASE, TOP], gz=gz)
    image = open_image(str(path), cache)
    assert image.source == "docker-archive"
    assert image.diff_ids == [sha256(BASE), sha256(TOP)]
    assert image.tags == ["mamori/test:1"]
    assert image.fs.lookup("etc/passwd") is None  # whited out by the top layer
    assert image.fs.read("foo/bar") == b"kept"
    assert image.fs.read("bin/tool") == b"#!/bin/sh\n"  # through the symlink
    assert image.fs.open("/usr/bin/tool").read() == b"#!/bin/sh\n"


def test_oci_layout_single_and_multi_platform(tmp_path: Path, cache: LayerCache) -> None:
    single = oci_layout(tmp_path / "one", {"amd64": [BASE, TOP]})
    image = open_image(f"oci:{single}:1", cache)
    assert image.source == "oci-layout"
    assert image.diff_ids == [sha256(BASE), sha256(TOP)]
    arm_layer = layer_tar([Member("arch", b"arm64")])
    multi = oci_layout(tmp_path / "multi", {"amd64": [BASE], "arm64": [arm_layer]})
    arm = open_image(str(multi), cache, OpenOptions(platform="linux/arm64"))
    assert arm.fs.read("arch") == b"arm64"
    with pytest.raises(ImageError, match="no image for platform linux/s390x"):
        open_image(str(multi), cache, OpenOptions(platform="linux/s390x"))


def test_layer_cache_is_reused(tmp_path: Path, cache: LayerCache) -> None:
    layout = oci_layout(tmp_path / "one", {"amd64": [BASE]})
    open_image(str(layout), cache)
    (blob,) = [
        p
        for p in (layout / "blobs" / "sha256").iterdir()
        if p.stat().st_size == len(__import__("gzip").compress(BASE, mtime=0))
    ]
    blob.unlink()  # the second open must not need it: the cache has the layer
    assert open_image(str(layout), cache).fs.read("foo/bar") == b"kept"


def test_walker_whiteouts_from_trivy(cache: LayerCache, tmp_path: Path) -> None:
    """trivy's walker/test.tar on top of a lower layer: etc/ opaque, foo/foo deleted."""
    index = json.loads((VULN / "images" / "index.json").read_text())
    entry = next(i for i in index["inputs"] if i["path"] == "trivy/walker/test.tar")
    whiteouts = [e["path"] for e in entry["entries"] if "whiteout" in e]
    lower = tmp_path / "lower.tar"
    lower.write_bytes(BASE)
    image = open_layer_files([lower, VULN / "images" / entry["path"]], cache)
    top = cache.get(image.diff_ids[1])
    assert top is not None
    want_opaque, want_whiteouts = [], []
    for w in whiteouts:
        parent, _, base = w.rpartition("/")
        if base == ".wh..wh..opq":
            want_opaque.append(parent)
        else:
            want_whiteouts.append(f"{parent}/{base.removeprefix('.wh.')}")
    assert (top.opaque, top.whiteouts) == (want_opaque, want_whiteouts)
    paths = files(image.fs)
    assert "etc/os-release" not in paths  # etc/ is opaque
    assert "etc/passwd" not in paths
    assert "foo/foo" not in paths
    assert "foo/bar" in paths
    assert "app/myweb/index.html" in paths


def test_every_shared_image_input_opens(cache: LayerCache) -> None:
    index = json.loads((VULN / "images" / "index.json").read_text())
    for entry in index["inputs"]:
        path = VULN / "images" / entry["path"]
        image = open_image(str(path), cache)
        assert list(image.fs.walk()), entry["path"]
        assert not [d for d in image.diagnostics if d.code == "symlink-escape"], entry["path"]


# registry ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "registry", "repo", "tag"),
    [
        ("alpine", "registry-1.docker.io", "library/alpine", "latest"),
        ("127.0.0.1:5000/a/b:1", "127.0.0.1:5000", "a/b", "1"),
        ("localhost/x@sha256:" + "0" * 64, "localhost", "x", None),
        ("ghcr.io/o/r:v1.2", "ghcr.io", "o/r", "v1.2"),
    ],
)
def test_reference_parse(text: str, registry: str, repo: str, tag: str | None) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag) == (registry, repo, tag)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("localhost:80", True),
        ("[::1]:5000", True),
        ("10.0.0.1", False),
        ("example.com:5000", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_insecure_refused_for_remote_registry(cache: LayerCache) -> None:
    with pytest.raises(RegistryError, match="only for loopback"):
        open_image("registry:example.com/x:1", cache, OpenOptions(insecure=True))


def test_bearer_token_flow_with_fake_registry(tmp_path: Path, cache: LayerCache) -> None:
    """A fake registry (httpx MockTransport) that demands a bearer token got with basic auth."""
    layout = oci_layout(tmp_path / "l", {"amd64": [BASE]})
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    seen: list[str] = []

    def blob(digest: str) -> bytes:
        return (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.host}{request.url.path}")
        if request.url.host == "auth.example":
            creds = base64.b64encode(b"u:p").decode()
            assert request.headers["Authorization"] == f"Basic {creds}"
            assert request.url.params["scope"] == "repository:team/app:pull"
            return httpx.Response(200, json={"token": "T0K"})
        if request.headers.get("Authorization") != "Bearer T0K":
            return httpx.Response(
                401,
                headers={
                    "WWW-Authenticate": 'Bearer realm="https://auth.example/token",'
                    'service="reg.example",scope="repository:team/app:pull"'
                },
            )
        path = request.url.path
        if path.endswith("/manifests/1"):
            return httpx.Response(
                200,
                content=blob(manifest_digest),
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            )
        if "/blobs/" in path:
            return httpx.Response(200, content=blob(path.rsplit("/", 1)[1]))
        return httpx.Response(404)

    image = open_image(
        "registry:reg.example/team/app:1",
        cache,
        OpenOptions(credentials=Credentials("u", "p"), transport=httpx.MockTransport(handler)),
    )
    assert image.fs.read("foo/bar") == b"kept"
    assert image.digest == manifest_digest
    assert "auth.example/token" in seen


def test_local_registry_basic_auth_and_manifest_list(
    tmp_path: Path, cache: LayerCache, registry: Registry
) -> None:
    arm_layer = layer_tar([Member("arch", b"arm64")])
    amd_layer = layer_tar([Member("arch", b"amd64")])
    multi = oci_layout(tmp_path / "multi", {"amd64": [BASE, amd_layer], "arm64": [arm_layer]})
    ref = registry.push(f"oci:{multi}:1", "mamori/multi:1")
    creds = Credentials(registry.user, registry.password)
    for platform, want in (("linux/amd64", b"amd64"), ("linux/arm64", b"arm64")):
        image = open_image(
            f"registry:{ref}",
            cache,
            OpenOptions(credentials=creds, insecure=True, platform=platform),
        )
        assert image.source == "registry"
        assert image.fs.read("arch") == want
    with pytest.raises(RegistryError, match=r"HTTP 401|credentials"):
        open_image(f"registry:{ref}", LayerCache(tmp_path / "c2"), OpenOptions(insecure=True))


def test_docker_engine(dockerd: None, tmp_path: Path, cache: LayerCache) -> None:
    import subprocess
    import uuid

    name = f"mamori-vulns-test-{uuid.uuid4().hex[:12]}:1"
    subprocess.run(["docker", "import", "-", name], input=BASE, check=True, capture_output=True)
    try:
        image = open_image(f"docker:{name}", cache)
        assert image.source == "docker"
        assert image.fs.read("foo/bar") == b"kept"
        assert image.fs.read("bin/tool") == b"#!/bin/sh\n"
    finally:
        subprocess.run(["docker", "rmi", "-f", name], capture_output=True, check=False)


def test_missing_docker_image_is_a_clear_error(dockerd: None, cache: LayerCache) -> None:
    with pytest.raises(ImageError, match="docker:mamori-no-such-image"):
        open_image("docker:mamori-no-such-image:0", cache)


_ = shutil


def test_real_registry_token_flow(
    tmp_path: Path, cache: LayerCache, token_registry: TokenRegistry
) -> None:
    """docker-registry with ``auth: token``: skopeo pushes with a token, mamori pulls with one,
    both got from the token server with basic auth; no credentials, no token, no image."""
    server = token_registry.server
    layout = oci_layout(tmp_path / "l", {"amd64": [BASE, TOP]})
    ref = token_registry.push(f"oci:{layout}:1", "mamori/tok:1")
    assert (token_registry.user, "repository:mamori/tok:pull,push") in server.requests
    before = len(server.requests)

    creds = Credentials(token_registry.user, token_registry.password)
    image = open_image(f"registry:{ref}", cache, OpenOptions(credentials=creds, insecure=True))
    assert image.source == "registry"
    assert image.fs.read("foo/bar") == b"kept"
    assert image.fs.lookup("etc/passwd") is None  # the whiteout in TOP
    asked = server.requests[before:]
    assert asked == [(token_registry.user, "repository:mamori/tok:pull")]  # one token, reused

    wrong = Credentials(token_registry.user, "not-the-password")
    for opts in (OpenOptions(credentials=wrong, insecure=True), OpenOptions(insecure=True)):
        with pytest.raises(RegistryError, match=r"token request refused: HTTP 401|credentials"):
            open_image(f"registry:{ref}", LayerCache(tmp_path / "c2"), opts)


def test_credentials_never_go_to_a_plain_http_realm_off_loopback(cache: LayerCache) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.host != "auth.example", "credentials sent to a plain-HTTP realm"
        return httpx.Response(
            401, headers={"WWW-Authenticate": 'Bearer realm="http://auth.example/token"'}
        )

    opts = OpenOptions(credentials=Credentials("u", "p"), transport=httpx.MockTransport(handler))
    with pytest.raises(RegistryError, match="not HTTPS"):
        open_image("registry:reg.example/team/app:1", cache, opts)
