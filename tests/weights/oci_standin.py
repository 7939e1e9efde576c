"""OCI's side of an instance-principal read, on loopback, for the real oci SDK to talk to.

One HTTP proxy stands in for the three services the SDK and the pull reach, at the addresses
they really use (the pull's process gets HTTP_PROXY/HTTPS_PROXY pointing here, and a CA of ours
in REQUESTS_CA_BUNDLE and SSL_CERT_FILE):

- IMDS, http://169.254.169.254/opc/v2/ (oci/auth/signers/instance_principals_security_token_
  signer.py): `instance/region`, `identity/cert.pem`, `identity/key.pem` and
  `identity/intermediate.pem`, only with `Authorization: Bearer Oracle` as IMDS v2 demands.
  The leaf certificate names the tenancy as `OU=opc-tenant:OCID` (oci/auth/auth_utils.py,
  get_tenancy_id_from_certificate).
- The federation endpoint, https://auth.REGION.oraclecloud.com/v1/x509 (oci/auth/
  federation_client.py): it checks the request the way Auth Service must before it trusts it:
  the draft-cavage signature (keyId `TENANCY/fed-x509/SHA1-FINGERPRINT`, headers `date
  (request-target) content-length content-type x-content-sha256`) with the leaf certificate's
  key, the body's sha256, the leaf certificate as the one IMDS handed out, issued by the
  intermediate. It answers `{"token": JWT}` and remembers the session public key sent with it.
- Object Storage, https://objectstorage.REGION.oraclecloud.com/n/NS/b/BUCKET/o/NAME: every GET
  must carry `Authorization: Signature ... keyId="ST$TOKEN"` over `date (request-target) host`,
  signed with the session key of that token, and a Date within five minutes; anything else is
  401 NotAuthenticated, as Object Storage answers. Ranged GETs are served (206).
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import json
import re
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jwt
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.x509.oid import NameOID

TENANCY = "ocid1.tenancy.oc1..aaaagpuformtest"
REGION, REGION_SHORT = "us-ashburn-1", "iad"
IMDS = "169.254.169.254"
AUTH_HOST = f"auth.{REGION}.oraclecloud.com"
OS_HOST = f"objectstorage.{REGION}.oraclecloud.com"
_SIG = re.compile(r'(\w+)="([^"]*)"')


def _key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert(
    subject: list[x509.NameAttribute[Any]],
    key: RSAPrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: RSAPrivateKey,
    ca: bool,
    dns: tuple[str, ...] = (),
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name(subject)
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if dns:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), False)
    return b.sign(issuer_key, hashes.SHA256())


def _pem(c: x509.Certificate) -> bytes:
    return c.public_bytes(serialization.Encoding.PEM)


def _bare(pem: bytes) -> str:
    """A PEM without its armour lines and newlines, as the SDK sends certificates and keys."""
    return "".join(ln for ln in pem.decode().splitlines() if not ln.startswith("-----"))


@dataclass
class Seen:
    imds: list[str] = field(default_factory=list)
    federation: list[str] = field(default_factory=list)
    """One entry per token request: "ok" or why it was refused."""
    objects: list[tuple[str, str]] = field(default_factory=list)
    """(path, "ok" or why it was refused) per Object Storage request."""


@dataclass
class Oci:
    proxy: str
    ca_file: Path
    namespace: str
    bucket: str
    seen: Seen

    def env(self) -> dict[str, str]:
        """What the pull's process needs to reach these stand-ins at OCI's own addresses."""
        return {
            "HTTP_PROXY": self.proxy,
            "HTTPS_PROXY": self.proxy,
            "http_proxy": self.proxy,
            "https_proxy": self.proxy,
            "NO_PROXY": "",
            "no_proxy": "",
            "REQUESTS_CA_BUNDLE": str(self.ca_file),
            "SSL_CERT_FILE": str(self.ca_file),
        }


def verify_signature(
    method: str, path: str, headers: Any, key: RSAPublicKey, key_id: str, required: list[str]
) -> str:
    """ "ok", or why a draft-cavage signed request must be refused."""
    auth = headers.get("Authorization", "")
    if not auth.startswith("Signature "):
        return "no Signature authorization"
    params = dict(_SIG.findall(auth))
    if params.get("keyId") != key_id:
        return f"keyId {params.get('keyId', '')[:40]!r} is not the expected one"
    if params.get("algorithm") != "rsa-sha256" or params.get("version") != "1":
        return "not an rsa-sha256 version 1 signature"
    signed = params.get("headers", "").split()
    if any(h not in signed for h in required):
        return f"signed headers {signed} lack one of {required}"
    lines = []
    for h in signed:
        if h == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {path}")
        elif headers.get(h) is None:
            return f"signed header {h} is not in the request"
        else:
            lines.append(f"{h}: {headers.get(h)}")
    try:
        key.verify(
            base64.b64decode(params.get("signature", "")),
            "\n".join(lines).encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError):
        return "the signature does not verify"
    date = email.utils.parsedate_to_datetime(headers.get("date", "Thu, 01 Jan 1970 00:00:00 GMT"))
    if abs(time.time() - date.timestamp()) > 300:
        return "the Date header is more than five minutes off"
    return "ok"


@contextmanager
def oci_standin(files: dict[str, bytes], namespace: str, bucket: str, tmp: Path) -> Iterator[Oci]:
    """The stand-ins, serving `files` (object name -> bytes) from NAMESPACE/BUCKET."""
    ca_key, inter_key, leaf_key, tls_key = _key(), _key(), _key(), _key()
    ca = _cert([x509.NameAttribute(NameOID.COMMON_NAME, "gpuform test CA")], ca_key, None,
               ca_key, True)  # fmt: skip
    inter = _cert([x509.NameAttribute(NameOID.COMMON_NAME, "PKISVC Identity Intermediate")],
                  inter_key, ca, ca_key, True)  # fmt: skip
    leaf = _cert(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "ocid1.instance.oc1.iad.gpuformtest"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "opc-certtype:instance"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"opc-tenant:{TENANCY}"),
        ],
        leaf_key, inter, inter_key, False,
    )  # fmt: skip
    tls = _cert([x509.NameAttribute(NameOID.COMMON_NAME, AUTH_HOST)], tls_key, ca, ca_key, False,
                (AUTH_HOST, OS_HOST))  # fmt: skip
    ca_file, tls_cert, tls_keyfile = tmp / "ca.pem", tmp / "tls.pem", tmp / "tls.key"
    ca_file.write_bytes(_pem(ca))
    tls_cert.write_bytes(_pem(tls))
    tls_keyfile.write_bytes(
        tls_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_ctx.load_cert_chain(str(tls_cert), str(tls_keyfile))
    imds = {
        "/opc/v2/instance/region": REGION_SHORT.encode(),
        "/opc/v2/identity/cert.pem": _pem(leaf),
        "/opc/v2/identity/intermediate.pem": _pem(inter),
        "/opc/v2/identity/key.pem": leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
    }
    token_key = _key()
    sessions: dict[str, RSAPublicKey] = {}  # token -> the session public key it was issued for
    seen = Seen()
    lock = threading.Lock()
    fingerprint = ":".join(f"{b:02X}" for b in leaf.fingerprint(hashes.SHA1()))

    class Service(BaseHTTPRequestHandler):
        """Requests inside a CONNECT tunnel, after TLS: Auth Service or Object Storage."""

        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {"Content-Type": "application/json"}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _refuse(self, status: int, code: str, why: str) -> None:
            self._send(status, json.dumps({"code": code, "message": why}).encode())

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Host") != AUTH_HOST or self.path != "/v1/x509":
                return self._refuse(404, "NotFound", self.path)
            why = verify_signature(
                "POST", self.path, self.headers, leaf.public_key(),  # type: ignore[arg-type]
                f"{TENANCY}/fed-x509/{fingerprint}",
                ["date", "(request-target)", "content-length", "content-type", "x-content-sha256"],
            )  # fmt: skip
            want_sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
            if why == "ok" and self.headers.get("x-content-sha256") != want_sha:
                why = "x-content-sha256 is not the body's"
            doc = json.loads(body or b"{}") if why == "ok" else {}
            if why == "ok" and doc.get("certificate") != _bare(_pem(leaf)):
                why = "the certificate is not the instance's"
            if why == "ok" and doc.get("intermediateCertificates") != [_bare(_pem(inter))]:
                why = "the intermediate certificate is missing"
            if why == "ok":
                try:
                    leaf.verify_directly_issued_by(inter)
                    pem = (
                        "-----BEGIN PUBLIC KEY-----\n"
                        + doc["publicKey"]
                        + "\n-----END PUBLIC KEY-----\n"
                    )
                    session = serialization.load_pem_public_key(pem.encode())
                except (KeyError, ValueError, TypeError, InvalidSignature) as err:
                    why = f"bad token request ({err})"
            with lock:
                seen.federation.append(why)
            if why != "ok":
                return self._refuse(401, "NotAuthenticated", why)
            now = int(time.time())
            claims = {"sub": leaf.subject.rfc4514_string(), "iat": now, "exp": now + 1200,
                      "tenant": TENANCY, "ptype": "instance"}  # fmt: skip
            token = jwt.encode(claims, token_key, algorithm="RS256")
            with lock:
                sessions[token] = session  # type: ignore[assignment]
            self._send(200, json.dumps({"token": token}).encode())

        def do_GET(self) -> None:
            prefix = f"/n/{namespace}/b/{bucket}/o/"
            if self.headers.get("Host") != OS_HOST or not self.path.startswith(prefix):
                return self._refuse(404, "NotFound", self.path)
            key_id = dict(_SIG.findall(self.headers.get("Authorization", ""))).get("keyId", "")
            token = key_id[3:] if key_id.startswith("ST$") else ""
            with lock:
                session = sessions.get(token)
            why = (
                verify_signature("GET", self.path, self.headers, session, key_id,
                                 ["date", "(request-target)", "host"])
                if session else "keyId names no token that Auth Service issued"
            )  # fmt: skip
            with lock:
                seen.objects.append((self.path, why))
            if why != "ok":
                return self._refuse(401, "NotAuthenticated", why)
            name = unquote(self.path[len(prefix) :])
            if name not in files:
                return self._refuse(404, "ObjectNotFound", name)
            data = files[name]
            m = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
            if m:
                a, b = int(m[1]), min(int(m[2]), len(data) - 1)
                hdr = {"Content-Range": f"bytes {a}-{b}/{len(data)}",
                       "Content-Type": "application/octet-stream"}  # fmt: skip
                return self._send(206, data[a : b + 1], hdr)
            self._send(200, data, {"Content-Type": "application/octet-stream"})

        def log_message(self, format: str, *args: Any) -> None:
            return

    class Proxy(BaseHTTPRequestHandler):
        """IMDS over plain HTTP (absolute-URI requests); CONNECT tunnels to the HTTPS services."""

        def do_GET(self) -> None:
            host = self.headers.get("Host", "")
            path = "/" + self.path.split("://", 1)[-1].split("/", 1)[-1]
            if host not in (IMDS, "[fd00:c1::a9fe:a9fe]") or path not in imds:
                body, status = b"not found", 404
            elif self.headers.get("Authorization") != "Bearer Oracle":
                body, status = b"IMDS v2 needs Authorization: Bearer Oracle", 401
            else:
                body, status = imds[path], 200
            with lock:
                seen.imds.append(f"{path} {status}")
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_CONNECT(self) -> None:
            if self.path not in (f"{AUTH_HOST}:443", f"{OS_HOST}:443"):
                self.send_error(403)
                return
            self.send_response(200, "Connection Established")
            self.end_headers()
            self.wfile.flush()
            try:
                conn = tls_ctx.wrap_socket(self.connection, server_side=True)
            except (ssl.SSLError, OSError):
                return
            Service(conn, self.client_address, self.server)
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Oci(f"http://127.0.0.1:{server.server_address[1]}", ca_file, namespace, bucket, seen)
    finally:
        server.shutdown()
        server.server_close()
