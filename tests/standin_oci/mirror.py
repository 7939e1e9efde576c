"""Install the stand-in where Terraform looks for oracle/oci: a filesystem mirror in the
unpacked layout (developer.hashicorp.com/terraform/cli/config/config-file#filesystem_mirror),
and a CLI configuration that takes providers from it and from nowhere else.

    <root>/mirror/registry.terraform.io/oracle/oci/<version>/linux_amd64/
        terraform-provider-oci_v<version>     a launcher: this venv's Python, then server.serve
    <root>/terraformrc                         provider_installation { filesystem_mirror {...} }
    <root>/certs/standin-{cert,key}.pem       the plugin's TLS identity (made once, here, so the
                                               plugin never imports `cryptography`: it starts
                                               several times per Terraform command)
"""

from __future__ import annotations

import os
import platform
import stat
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .schema import load
from .server import CERT_FILE, KEY_FILE
from .store import STATE_ENV

REPO = Path(__file__).resolve().parents[2]
SOURCE = "registry.terraform.io/oracle/oci"


@dataclass(frozen=True)
class Mirror:
    root: Path
    version: str

    @property
    def cli_config(self) -> Path:
        return self.root / "terraformrc"

    @property
    def plugin(self) -> Path:
        return (
            self.root
            / "mirror"
            / SOURCE
            / self.version
            / _platform()
            / f"terraform-provider-oci_v{self.version}"
        )

    def env(self, state: Path) -> dict[str, str]:
        """The environment a Terraform run against the stand-in needs (added to os.environ)."""
        return {
            **os.environ,
            # This machine exports TF_CLI_CONFIG_FILE=/root/.terraformrc; ours must win.
            "TF_CLI_CONFIG_FILE": str(self.cli_config),
            "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            # `terraform providers lock` (cdktf deploy runs it after init) asks the origin
            # registry unless told where the mirror is; the CLI config does not reach it.
            "TF_CLI_ARGS_providers_lock": f"-fs-mirror={self.root / 'mirror'}",
            STATE_ENV: str(state),
        }


def _platform() -> str:
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return f"{sys.platform}_{machine}"


def _write_cert(certs: Path) -> None:
    """A self-signed CA certificate for "localhost", as go-plugin's AutoMTLS expects of a
    plugin (hashicorp/go-plugin mtls.go: the client pins the certificate from the handshake)."""
    if (certs / CERT_FILE).exists() and (certs / KEY_FILE).exists():
        return
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    certs.mkdir(parents=True, exist_ok=True)
    (certs / CERT_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (certs / KEY_FILE).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


LAUNCHER = """#!{python}
# The stand-in oracle/oci provider (tests/standin_oci): Terraform starts this as its plugin.
import sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from tests.standin_oci.server import serve
serve(Path({certs!r}))
"""


def install(root: Path) -> Mirror:
    """The mirror, CLI config and certificate under `root` (idempotent)."""
    mirror = Mirror(root, load().version)
    _write_cert(root / "certs")
    mirror.plugin.parent.mkdir(parents=True, exist_ok=True)
    mirror.plugin.write_text(
        LAUNCHER.format(python=sys.executable, repo=str(REPO), certs=str(root / "certs")),
        encoding="utf-8",
    )
    mirror.plugin.chmod(mirror.plugin.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    mirror.cli_config.write_text(
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{root / "mirror"}"\n'
        f'    include = ["{SOURCE}"]\n'
        "  }\n"
        "}\n",
        encoding="utf-8",
    )
    return mirror
