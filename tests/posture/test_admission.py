"""The validating webhook: decisions as data, then a real AdmissionReview over HTTPS."""

from __future__ import annotations

import copy
import datetime as dt
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from mamori.config import Settings
from mamori.posture.admission import ReviewError, response
from mamori.posture.checks import select
from mamori.posture.config import CheckConfig, PostureConfig, build
from mamori.posture.engine import Context
from mamori.store.accounts import Scope
from mamori.store.database import Database
from mamori.store.pgtemp import free_port

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "apps", "labels": {"app": "web"}},
    "spec": {
        "containers": [
            {
                "name": "web",
                "image": "registry.example.com/web:1",
                "securityContext": {"privileged": True},
            }
        ]
    },
}


def _pod(**changes: Any) -> dict[str, Any]:
    pod = copy.deepcopy(POD)
    for path, value in changes.items():
        target: Any = pod
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        target[keys[-1]] = value
    return pod


def _review(obj: dict[str, Any], operation: str = "CREATE", **extra: Any) -> dict[str, Any]:
    request = {"uid": "u-1", "operation": operation, "object": obj, "namespace": "apps", **extra}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def _ctx(action: str) -> Context:
    checks = {c: CheckConfig(action=action) for c in ("MAM-K8S-002", "MAM-K8S-015")}
    config = PostureConfig(
        checks={
            **checks,
            "MAM-K8S-002": CheckConfig(
                action=action, params={"allowedImagesRegex": "^registry.example.com/"}
            ),
        }
    )
    return Context(build(config, select("MAM-K8S-002,MAM-K8S-015")))


LABELLED = _pod(metadata__labels={"app": "web", "team": "a"})
UNTRUSTED = _pod(spec__containers__0__image="docker.io/evil:1")
WITH_DEBUG = _pod(
    spec__ephemeralContainers=[
        {"name": "dbg", "image": "busybox", "securityContext": {"privileged": True}}
    ]
)

# (action, review, allowed, denied check IDs, warning count)
DECISIONS = [
    ("deny", _review(POD), False, ["MAM-K8S-015"], 0),
    ("warn", _review(POD), True, [], 1),
    ("audit", _review(POD), True, [], 0),
    ("deny", _review(LABELLED, "UPDATE", oldObject=POD), True, [], 1),  # label patch passes
    ("deny", _review(UNTRUSTED, "UPDATE", oldObject=POD), False, ["MAM-K8S-002"], 1),
    ("deny", _review(LABELLED, "UPDATE"), True, [], 1),  # no oldObject: only images can change
    (
        "deny",
        _review(WITH_DEBUG, "UPDATE", oldObject=POD, subResource="ephemeralcontainers"),
        False,
        ["MAM-K8S-002", "MAM-K8S-015"],
        1,
    ),
    ("deny", _review(POD, "DELETE"), True, [], 0),
    ("deny", _review(POD, dryRun=True), False, ["MAM-K8S-015"], 0),
]


@pytest.mark.parametrize(("action", "review", "allowed", "denied", "warnings"), DECISIONS)
def test_decisions(
    action: str, review: dict[str, Any], allowed: bool, denied: list[str], warnings: int
) -> None:
    answer, decision = response(review, _ctx(action))
    out = answer["response"]
    assert out["uid"] == "u-1"
    assert out["allowed"] is allowed
    assert sorted({r.check_id for r in decision.denied}) == denied
    assert len(out.get("warnings", [])) == warnings
    if not allowed:
        assert out["status"]["code"] == 403
        assert len(out["status"]["message"]) < 1024
        assert all(c in out["status"]["message"] for c in denied)
    if decision.denied or decision.warned or decision.audited:
        assert out["auditAnnotations"]["violations"]


def test_warnings_are_short_and_capped() -> None:
    containers = [
        {
            "name": f"container-with-a-rather-long-name-{i:02d}",
            "image": "registry.example.com/x",
            "securityContext": {"privileged": True},
        }
        for i in range(14)
    ]
    answer, _ = response(_review(_pod(spec__containers=containers)), _ctx("warn"))
    warnings = answer["response"]["warnings"]
    assert len(warnings) == 11
    assert warnings[-1] == "…and 4 more"
    assert all(len(w) < 120 for w in warnings)


@pytest.mark.parametrize(
    "review",
    [
        {
            "apiVersion": "admission.k8s.io/v1beta1",
            "kind": "AdmissionReview",
            "request": {"uid": "x"},
        },
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"},
        {"apiVersion": "v1", "kind": "Pod"},
    ],
)
def test_not_a_v1_review_is_refused(review: dict[str, Any]) -> None:
    with pytest.raises(ReviewError):
        response(review, _ctx("deny"))


# HTTPS -----------------------------------------------------------------------------------


def _ca_and_server_cert(tmp: Path) -> tuple[Path, Path, Path]:
    """A CA made here, and a server certificate for 127.0.0.1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("mamori test CA"))
        .issuer_name(name("mamori test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("mamori-webhook"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def https_webhook(tmp_path: Path, sqlite_db: Database) -> Iterator[tuple[str, Path, str]]:
    from mamori.server.app import create_app

    _, token = sqlite_db.accounts.create_token("kube-apiserver", {Scope.INGEST})
    ca, cert, key = _ca_and_server_cert(tmp_path)
    config = tmp_path / "mamori.yaml"
    config.write_text("kind: PostureConfig\nchecks:\n  MAM-K8S-015: {action: deny}\n")
    settings = Settings(data_dir=tmp_path / "data", posture_config=config)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, sqlite_db),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"https://127.0.0.1:{port}", ca, token
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_admission_review_over_https(https_webhook: tuple[str, Path, str]) -> None:
    url, ca, token = https_webhook
    tls = ssl.create_default_context(cafile=str(ca))
    assert (
        httpx.post(url + "/api/v1/admission/validate", json=_review(POD), verify=tls).status_code
        == 401
    )
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, verify=tls, headers=auth) as client:
        denied = client.post("/api/v1/admission/validate", json=_review(POD)).json()["response"]
        assert denied["allowed"] is False
        assert denied["status"]["code"] == 403
        fine = _pod(spec__containers__0__securityContext={"privileged": False})
        allowed = client.post("/api/v1/admission/validate", json=_review(fine)).json()["response"]
        assert allowed["allowed"] is True
        warned = client.post(
            "/api/v1/admission/validate",
            json=_review({**fine, "spec": {"containers": [{"name": "r", "image": "redis"}]}}),
        )
        assert warned.json()["response"]["allowed"] is True
        assert any("MAM-K8S-002" in w for w in warned.json()["response"]["warnings"])
        bad = client.post(
            "/api/v1/admission/validate",
            json={"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"},
        )
        assert bad.status_code == 400
        assert "admission.k8s.io/v1" in bad.json()["detail"]
    with pytest.raises(httpx.ConnectError):  # the certificate is only trusted with the CA
        httpx.post(url + "/api/v1/admission/validate", json=_review(POD))
