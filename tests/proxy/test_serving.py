"""How the proxy is served: standalone with TLS termination, and `aerovane proxy` in front of
an API server elsewhere (the HTTP upstream)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.proxy.conftest import Account, bearer, id_token_for


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _wait(check: object, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("not ready in time")


@pytest.fixture
def tls_standalone(tmp_path: Path) -> Iterator[tuple[str, str, Path, Path]]:
    cert, key = _self_signed(tmp_path)
    home = tmp_path / "home"
    port, api_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))}
    env.update(
        AEROVANE_HOME=str(home),
        AEROVANE__WEBSERVER__WEB_SERVER_PORT=str(port),
        AEROVANE__WEBSERVER__WEB_SERVER_HOST="127.0.0.1",
        AEROVANE__PROXY__API_PORT=str(api_port),
        AEROVANE__PROXY__TLS_CERT_FILE=str(cert),
        AEROVANE__PROXY__TLS_KEY_FILE=str(key),
        AEROVANE__CORE__LOAD_EXAMPLES="False",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "aerovane", "standalone"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    api = f"http://127.0.0.1:{api_port}"
    secret = home / "standalone_admin_password.txt"
    try:
        _wait(lambda: httpx.get(f"{api}/api/v1/health", timeout=10).status_code == 200)
        _wait(lambda: secret.exists() and secret.read_text().strip())
        yield f"https://127.0.0.1:{port}", secret.read_text().strip(), cert, home
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"Aerovane is running at https://localhost:{port}" in out


def test_standalone_terminates_tls(tls_standalone: tuple[str, str, Path, Path]) -> None:
    url, password, cert, _home = tls_standalone
    with pytest.raises(httpx.HTTPError):  # plain HTTP is not spoken on the public port
        httpx.get(url.replace("https://", "http://"), timeout=5)
    with httpx.Client(
        base_url=url,
        verify=ssl.create_default_context(cafile=str(cert)),
        headers={"Accept": "text/html"},
    ) as browser:
        redirect = browser.get("/api/v1/dags")
        assert redirect.status_code == 302
        assert redirect.headers["location"].startswith(f"{url}/_aerovane/login?client_id=")
        assert "Secure" in redirect.headers["set-cookie"]
        page = browser.get(redirect.headers["location"])
        state = re.search(r'name=state value="([^"]+)"', page.text).group(1)
        done = browser.post(
            "/_aerovane/login", data={"username": "admin", "password": password, "state": state}
        )
        assert done.status_code == 302 and done.headers["location"] == f"{url}/api/v1/dags"
        session = next(c for c in done.headers.get_list("set-cookie") if "AUTH_TOKEN=" in c)
        assert "Secure" in session and "HttpOnly" in session
        assert browser.get("/api/v1/dags").status_code == 200


def test_proxy_command_in_front_of_a_remote_api(api_url: str, account: Account) -> None:
    """`aerovane proxy --upstream URL`: the HTTP upstream, in its own process."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aerovane",
            "proxy",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--upstream",
            api_url,
        ],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    proxy = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: httpx.get(f"{proxy}/oauth2/v3/certs", timeout=10).status_code == 200)
        token = id_token_for(proxy, account)
        response = httpx.get(f"{proxy}/api/v1/dags", headers=bearer(token))
        assert response.status_code == 200, response.text
        assert httpx.get(f"{proxy}/api/v1/dags").status_code == 302
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert "Traceback" not in out, out
