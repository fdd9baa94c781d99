"""Credentials made at test time for the security tests: a PKI (openssl), htpasswd entries and
ES256 JWTs with their JWKS, and raw gRPC and HTTP probes that report what a listener answered."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import time
from pathlib import Path

import grpc
import requests


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class Pki:
    """A CA with a server certificate for localhost/127.0.0.1 and a client certificate."""

    def __init__(self, directory: Path, name: str = "ca"):
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", f"/CN=spoor test {name}", "-keyout", "ca.key", "-out", "ca.pem", cwd=directory)
        self._leaf("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1")
        self._leaf("client", "client", "extendedKeyUsage=clientAuth")

    def _leaf(self, name: str, common_name: str, extension: str) -> None:
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={common_name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=self.dir)
        (self.dir / f"{name}.ext").write_text(extension + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=self.dir)

    def path(self, name: str) -> str:
        return str(self.dir / name)

    def server_tls_yaml(self, mutual: bool = False, reload_interval: str | None = None) -> str:
        lines = [f"cert_file: {self.path('server.pem')}", f"key_file: {self.path('server.key')}"]
        if mutual:
            lines.append(f"client_ca_file: {self.path('ca.pem')}")
        if reload_interval:
            lines.append(f"reload_interval: {reload_interval}")
        return "{" + ", ".join(lines) + "}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """An OIDC issuer's ES256 key, its JWKS file, and tokens it signs."""

    def __init__(self, directory: Path, url: str = "https://issuer.spoor.test"):
        self.dir, self.url = directory, url
        directory.mkdir(parents=True, exist_ok=True)
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "jwt.key", cwd=directory)
        openssl("ec", "-in", "jwt.key", "-pubout", "-outform", "DER", "-out", "jwt.pub.der", cwd=directory)
        point = (directory / "jwt.pub.der").read_bytes()[-64:]
        jwks = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
                          "x": b64url(point[:32]), "y": b64url(point[32:])}]}
        self.jwks_file = directory / "jwks.json"
        self.jwks_file.write_text(json.dumps(jwks))

    def token(self, audience: str = "spoor", subject: str = "alice", lifetime: int = 600) -> str:
        header = b64url(json.dumps({"alg": "ES256", "typ": "JWT", "kid": "k1"}).encode())
        now = int(time.time())
        claims = {"iss": self.url, "aud": audience, "sub": subject, "iat": now, "exp": now + lifetime}
        signing_input = f"{header}.{b64url(json.dumps(claims).encode())}"
        (self.dir / "input").write_bytes(signing_input.encode())
        openssl("dgst", "-sha256", "-sign", "jwt.key", "-out", "sig.der", "input", cwd=self.dir)
        return f"{signing_input}.{b64url(der_to_raw_ecdsa((self.dir / 'sig.der').read_bytes()))}"


def der_to_raw_ecdsa(der: bytes) -> bytes:
    """An ASN.1 ECDSA signature (SEQUENCE of two INTEGERs) as JOSE's fixed 64-byte r||s."""
    assert der[0] == 0x30
    index = 2 if der[1] < 0x80 else 3
    parts = []
    for _ in range(2):
        assert der[index] == 0x02
        length = der[index + 1]
        value = der[index + 2:index + 2 + length].lstrip(b"\x00")
        parts.append(value.rjust(32, b"\x00"))
        index += 2 + length
    return b"".join(parts)


def sha_htpasswd(user: str, password: str) -> str:
    """An htpasswd line with Apache's {SHA} hash."""
    return f"{user}:{{SHA}}{base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()}"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def grpc_call(port: int, method: str, ca: Path, authorization: str | None, client: tuple[bytes, bytes] | None = None):
    """Calls `method` with an empty message over TLS; returns the status code."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=client[1] if client else None,
        certificate_chain=client[0] if client else None,
    )
    metadata = [("authorization", authorization)] if authorization else []
    with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
        call = channel.unary_unary(method, request_serializer=lambda m: m, response_deserializer=lambda m: m)
        try:
            call(b"", metadata=metadata, timeout=10)
            return grpc.StatusCode.OK
        except grpc.RpcError as error:
            return error.code()


def http_call(port: int, method: str, path: str, ca: Path, authorization: str | None, body: bytes = b"",
              content_type: str | None = None, client: tuple[str, str] | None = None) -> int:
    headers = {}
    if authorization:
        headers["Authorization"] = authorization
    if content_type:
        headers["Content-Type"] = content_type
    response = requests.request(method, f"https://localhost:{port}{path}", data=body, headers=headers,
                                verify=str(ca), cert=client, timeout=10)
    return response.status_code
