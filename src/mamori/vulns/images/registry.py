"""Images from an OCI distribution registry (``/v2/`` API): bearer-token and basic auth,
manifest lists resolved to one platform, blobs streamed and checked against their digests.

Plain HTTP (``insecure=True``) is allowed only for loopback registries.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mamori.vulns.errors import RegistryError
from mamori.vulns.images.layers import LayerCache
from mamori.vulns.images.limits import Readable
from mamori.vulns.images.model import Image
from mamori.vulns.images.oci import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    BlobSource,
    build_image,
    host_platform,
    resolve_manifest,
)

DOCKER_HUB = "registry-1.docker.io"
ACCEPT = ", ".join(sorted(INDEX_TYPES | MANIFEST_TYPES))
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True, slots=True)
class Reference:
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, text: str) -> Reference:
        rest = text.strip()
        digest = None
        if "@" in rest:
            rest, digest = rest.split("@", 1)
        first, _, remainder = rest.partition("/")
        if remainder and ("." in first or ":" in first or first == "localhost"):
            registry, path = first, remainder
        else:
            registry, path = DOCKER_HUB, rest
            if "/" not in path:
                path = f"library/{path}"
        tag = None
        if ":" in path.rsplit("/", 1)[-1]:
            path, tag = path.rsplit(":", 1)
        if not path or not re.fullmatch(r"[a-z0-9]+(?:[._/-][a-z0-9]+)*", path):
            raise RegistryError(f"bad repository name {path!r}", text)
        if tag is None and digest is None:
            tag = "latest"
        return cls(registry, path, tag, digest)

    def __str__(self) -> str:
        s = f"{self.registry}/{self.repository}"
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str


def is_loopback(host: str) -> bool:
    name = host
    if name.startswith("["):
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.rsplit(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def docker_config_credentials(registry: str) -> Credentials | None:
    """Basic credentials from ``~/.docker/config.json`` ``auths`` (credential helpers: no)."""
    base = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    try:
        auths = json.loads((Path(base) / "config.json").read_text()).get("auths") or {}
    except (OSError, ValueError):
        return None
    for key in (registry, f"https://{registry}", f"http://{registry}"):
        auth = (auths.get(key) or {}).get("auth")
        if auth:
            user, _, password = base64.b64decode(auth).decode().partition(":")
            return Credentials(user, password)
    return None


class _StreamReader:
    """A file-like view of a streamed response body that hashes what it hands out."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        # Raw bytes (no Content-Encoding decoding) so the digest is the blob's; a response that
        # is already in memory (mock transports) can only be iterated as bytes.
        read_already = hasattr(response, "_content")
        self._it: Iterator[bytes] = (
            response.iter_bytes(1 << 16) if read_already else response.iter_raw(1 << 16)
        )
        self._buf = b""
        self.sha256 = hashlib.sha256()
        self.expected = ""

    def read(self, n: int = -1, /) -> bytes:
        while n < 0 or len(self._buf) < n:
            try:
                chunk = next(self._it)
            except StopIteration:
                break
            self.sha256.update(chunk)
            self._buf += chunk
        if n < 0:
            data, self._buf = self._buf, b""
        else:
            data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def close(self) -> None:
        self.response.close()


class RegistryClient(BlobSource):
    def __init__(
        self,
        ref: Reference,
        *,
        credentials: Credentials | None = None,
        insecure: bool = False,
        transport: httpx.BaseTransport | None = None,
        max_json: int = 16 << 20,
    ) -> None:
        if insecure and not is_loopback(ref.registry):
            raise RegistryError(
                "--insecure (plain HTTP) is allowed only for loopback registries", ref.registry
            )
        self.ref = ref
        self.where = str(ref)
        self.base = f"{'http' if insecure else 'https'}://{ref.registry}/v2/{ref.repository}"
        self.credentials = credentials or docker_config_credentials(ref.registry)
        self.max_json = max_json
        self._auth: str | None = None
        self._client = httpx.Client(
            transport=transport, timeout=httpx.Timeout(60.0), follow_redirects=True
        )

    def close(self) -> None:
        self._client.close()

    # auth ---------------------------------------------------------------------------------
    def _basic(self) -> str:
        if self.credentials is None:
            raise RegistryError("the registry asks for credentials; none given", self.where)
        pair = f"{self.credentials.username}:{self.credentials.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def _authorize(self, challenge: str) -> None:
        scheme, _, params_text = challenge.partition(" ")
        params = dict(_CHALLENGE.findall(params_text))
        if scheme.lower() == "basic":
            self._auth = self._basic()
            return
        if scheme.lower() != "bearer" or "realm" not in params:
            raise RegistryError(f"unsupported auth challenge {challenge!r}", self.where)
        realm = httpx.URL(params["realm"])
        if self.credentials and realm.scheme != "https" and not is_loopback(realm.host):
            # the password would cross the network in clear: only a loopback realm may be HTTP
            raise RegistryError("token realm is not HTTPS; credentials not sent", str(realm))
        query = {"scope": params.get("scope") or f"repository:{self.ref.repository}:pull"}
        if "service" in params:
            query["service"] = params["service"]
        headers = {"Authorization": self._basic()} if self.credentials else {}
        try:
            r = self._client.get(params["realm"], params=query, headers=headers)
        except httpx.HTTPError as exc:
            raise RegistryError(f"token request failed: {exc}", params["realm"]) from None
        if r.status_code != 200:
            raise RegistryError(f"token request refused: HTTP {r.status_code}", params["realm"])
        body = r.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError("token response holds no token", params["realm"])
        self._auth = f"Bearer {token}"

    def _send(self, url: str, accept: str | None = None, *, stream: bool = False) -> httpx.Response:
        for attempt in range(2):
            headers = {"Accept": accept} if accept else {}
            if self._auth:
                headers["Authorization"] = self._auth
            try:
                req = self._client.build_request("GET", url, headers=headers)
                r = self._client.send(req, stream=stream)
            except httpx.HTTPError as exc:
                raise RegistryError(f"request failed: {exc}", url) from None
            if r.status_code == 401 and attempt == 0:
                challenge = r.headers.get("WWW-Authenticate", "")
                r.close()
                self._authorize(challenge)
                continue
            if r.status_code != 200:
                if stream:
                    r.read()
                r.close()
                raise RegistryError(f"HTTP {r.status_code}: {_error_text(r)}", url)
            return r
        raise RegistryError("authentication failed", url)

    # BlobSource -----------------------------------------------------------------------------
    def manifest(self, reference: str) -> tuple[dict[str, Any], bytes, str]:
        r = self._send(f"{self.base}/manifests/{reference}", ACCEPT)
        raw = r.content
        if len(raw) > self.max_json:
            raise RegistryError("manifest too large", self.where)
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(f"manifest digest {digest} does not match", self.where)
        try:
            return json.loads(raw), raw, digest
        except ValueError as exc:
            raise RegistryError(f"manifest is not JSON: {exc}", self.where) from None

    def json_blob(self, digest: str, media_type: str) -> tuple[dict[str, Any], bytes]:
        if media_type in INDEX_TYPES | MANIFEST_TYPES:
            doc, raw, _ = self.manifest(digest)
            return doc, raw
        r = self._send(f"{self.base}/blobs/{digest}")
        raw = r.content
        if "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
            raise RegistryError(f"blob {digest} does not match its digest", self.where)
        return json.loads(raw), raw

    def open_blob(self, digest: str) -> Readable:
        reader = _StreamReader(self._send(f"{self.base}/blobs/{digest}", stream=True))
        reader.expected = digest
        return reader

    def close_blob(self, stream: Readable) -> None:
        assert isinstance(stream, _StreamReader)
        stream.read()  # to the end, so the digest covers the whole blob
        stream.close()
        got = "sha256:" + stream.sha256.hexdigest()
        if stream.expected.startswith("sha256:") and got != stream.expected:
            raise RegistryError(f"blob {stream.expected} arrived as {got}", self.where)


def _error_text(r: httpx.Response) -> str:
    try:
        errors = r.json().get("errors") or []
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or r.reason_phrase
    except (ValueError, AttributeError, httpx.ResponseNotRead):
        return r.reason_phrase


def open_registry_image(
    text: str,
    cache: LayerCache,
    *,
    credentials: Credentials | None = None,
    insecure: bool = False,
    platform: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Image:
    ref = Reference.parse(text)
    client = RegistryClient(
        ref,
        credentials=credentials,
        insecure=insecure,
        transport=transport,
        max_json=cache.limits.max_json_bytes,
    )
    try:
        doc, _raw, digest = client.manifest(ref.digest or ref.tag or "latest")
        wanted = platform or host_platform()
        media = str(doc.get("mediaType", ""))
        desc = {"mediaType": media, "digest": digest}
        if media in INDEX_TYPES or "manifests" in doc:
            manifest, digest = resolve_manifest(client, desc, wanted)
        else:
            manifest = doc
        return build_image(client, manifest, digest, cache, ref=str(ref), source="registry")
    finally:
        client.close()
