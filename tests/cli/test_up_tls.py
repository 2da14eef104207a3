"""``mamori up --tls-cert/--tls-key``: the server speaks HTTPS (the admission webhook needs it),
and wrong TLS files stop it before it starts, naming the file."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mamori.store.pgtemp import free_port
from tests.posture.test_admission import _ca_and_server_cert

REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "MAMORI_DATA_DIR": str(tmp_path / "data"),
        "MAMORI_PORT": str(port),
        "MAMORI_LOG_LEVEL": "warning",
    }


def _up(tmp_path: Path, port: int, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mamori", "up", "--no-sensor", *args],
        env=_env(tmp_path, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def test_up_serves_https_with_the_given_certificate(tmp_path: Path) -> None:
    ca, cert, key = _ca_and_server_cert(tmp_path)
    port = free_port()
    made = subprocess.run(
        [sys.executable, "-m", "mamori", "user", "create", "alice", "--password-stdin"],
        input=b"correct horse battery\n",
        env=_env(tmp_path, port),
        capture_output=True,
    )
    assert made.returncode == 0, made.stderr.decode()
    proc = _up(tmp_path, port, "--tls-cert", str(cert), "--tls-key", str(key))
    tls = ssl.create_default_context(cafile=str(ca))
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"{url}/healthz", verify=tls, timeout=2)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    pytest.fail(f"mamori up did not serve HTTPS: {out[-2000:]}")
                time.sleep(0.2)
        assert r.status_code == 200
        # Only with the CA: the default trust store does not know this certificate.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz", timeout=2)
        # Plain HTTP on the same port is not answered as HTTP.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        unauthenticated = httpx.post(f"{url}/api/v1/admission/validate", json={}, verify=tls)
        assert unauthenticated.status_code == 401
        login = httpx.post(
            f"{url}/login",
            data={"username": "alice", "password": "correct horse battery"},
            verify=tls,
        )
        assert login.status_code == 303, login.text[:300]
        cookie = login.headers["set-cookie"].lower()
        assert "secure" in cookie  # served over HTTPS by mamori: the session cookie says so
        assert "httponly" in cookie
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"mamori on https://127.0.0.1:{port}" in out.decode()


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("cert-only", "TLS needs both --tls-cert and --tls-key"),
        ("missing-key", "TLS private key {tmp}/nope.key: No such file or directory"),
        ("not-pem", "TLS private key {tmp}/server.pem.txt: not a PEM file"),
        ("wrong-key", "TLS certificate {tmp}/server.pem with key {tmp}/other.key:"),
    ],
)
def test_wrong_tls_files_stop_up_naming_them(tmp_path: Path, which: str, message: str) -> None:
    cert = _ca_and_server_cert(tmp_path)[1]
    other = tmp_path / "other"
    other.mkdir()
    (tmp_path / "other.key").write_bytes(_ca_and_server_cert(other)[2].read_bytes())
    (tmp_path / "server.pem.txt").write_text("hello\n")
    args = {
        "cert-only": ["--tls-cert", str(cert)],
        "missing-key": ["--tls-cert", str(cert), "--tls-key", str(tmp_path / "nope.key")],
        "not-pem": ["--tls-cert", str(cert), "--tls-key", str(tmp_path / "server.pem.txt")],
        "wrong-key": ["--tls-cert", str(cert), "--tls-key", str(tmp_path / "other.key")],
    }[which]
    proc = _up(tmp_path, free_port(), *args)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out.decode()[-1000:]
    assert message.format(tmp=tmp_path) in " ".join(out.decode().split())
    assert not (tmp_path / "data").exists()  # stopped before the database was opened
