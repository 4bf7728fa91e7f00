"""What a new user hits first: TLS with a self-signed certificate (``vecdb serve --tls-cert
--tls-key`` and ``vecdb.connect("grpcs://...", root_certificates=...)``), and
``Result.to_pandas()`` without pandas naming the install."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import vecdb
from vecdb.client import ServiceUnavailableError
from vecdb.errors import InvalidArgumentError

BANNER = re.compile(r"vecdb serving grpc=(\S+) http=(\S+) docs=")


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
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
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """``vecdb serve --tls-cert --tls-key`` as a process: (grpc address, https url, cert)."""
    cert, key = self_signed(tmp_path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("VECDB_API_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vecdb", "serve", "--data", str(tmp_path / "data")]
        + ["--grpc-port", "0", "--http-port", "0", "--log-level", "WARNING"]
        + ["--tls-cert", str(cert), "--tls-key", str(key)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 60
    m = None
    while time.monotonic() < deadline and m is None:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        m = BANNER.search(line)
    if m is None:
        proc.kill()
        raise AssertionError("server did not start:\n" + "".join(seen))
    try:
        yield m.group(1), m.group(2), cert
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out


def test_tls_with_a_self_signed_certificate(tls_server: tuple[str, str, Path]) -> None:
    address, https_url, cert = tls_server
    assert https_url.startswith("https://")
    port = address.rsplit(":", 1)[1]
    # the CA as a path
    with vecdb.connect(f"grpcs://127.0.0.1:{port}", root_certificates=str(cert)) as db:
        c = db.create_collection("docs", dim=3, metric="l2", index="exact")
        assert c.upsert(ids=[1, 2], vectors=[[0, 0, 0], [1, 1, 1]]) == 2
    # ... as bytes, to the name in the certificate
    with vecdb.connect(f"grpcs://localhost:{port}", root_certificates=cert.read_bytes()) as db:
        hits = db.get_collection("docs").search([0.9, 0.9, 0.9], k=1)
        assert hits[0].id == 2
    # REST over the same certificate
    ctx = ssl.create_default_context(cafile=str(cert))
    r = httpx.get(f"{https_url}/v1/collections/docs/count", verify=ctx)
    assert r.status_code == 200 and r.json() == {"count": 2}
    # not trusted without the CA (the system's CAs do not know it), nor in plain text
    with vecdb.connect(f"grpcs://127.0.0.1:{port}", timeout=10) as db:
        with pytest.raises(ServiceUnavailableError):
            db.list_collections()
    with vecdb.connect(f"grpc://127.0.0.1:{port}", timeout=10) as db:
        with pytest.raises(ServiceUnavailableError):
            db.list_collections()


def test_root_certificates_mistakes_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="grpcs://"):
        vecdb.connect("grpc://127.0.0.1:1", root_certificates=b"x")
    with pytest.raises(InvalidArgumentError, match="cannot read root_certificates"):
        vecdb.connect("grpcs://127.0.0.1:1", root_certificates=str(tmp_path / "missing.pem"))
    (tmp_path / "not.pem").write_text("hello")
    with pytest.raises(InvalidArgumentError, match="not a PEM certificate"):
        vecdb.connect("grpcs://127.0.0.1:1", root_certificates=tmp_path / "not.pem")


# --------------------------------------------------------------------------- pandas


@pytest.fixture(params=["embedded", "grpc"])
def result_backend(request: Any, tmp_path: Path, server_factory: Any) -> Iterator[Any]:
    """The two APIs whose sql() hands back a Result (REST answers JSON)."""
    if request.param == "embedded":
        with vecdb.connect(confined=True) as db:
            yield db
        return
    with server_factory(tmp_path / "data") as srv, vecdb.connect(srv.grpc_url) as db:
        yield db


def test_to_pandas_without_pandas_names_the_install(
    result_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = result_backend
    c = backend.create_collection("docs", dim=2, metric="l2", index="exact")
    c.upsert(ids=[1, 2], vectors=np.eye(2, dtype=np.float32))
    res = backend.sql("SELECT id FROM docs ORDER BY id")
    df = res.to_pandas()  # pandas is installed with the server extra
    assert df["id"].tolist() == [1, 2]
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if it were not installed
    res = backend.sql("SELECT id FROM docs ORDER BY id")
    with pytest.raises(ImportError, match=r"pip install 'vecdb\[pandas\]'"):
        res.to_pandas()
    assert res.fetchall() == [(1,), (2,)]
