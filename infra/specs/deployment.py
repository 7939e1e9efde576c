"""Where a stack goes and who may reach it."""

from __future__ import annotations

import re
from ipaddress import IPv4Network, collapse_addresses

from pydantic import Field, field_validator, model_validator

from .base import Spec

_NAME = re.compile(r"[a-z][a-z0-9-]{1,38}[a-z0-9]", re.ASCII)
_REGION = re.compile(r"[a-z]{2}-[a-z]+-\d", re.ASCII)
_SSH_KEY = re.compile(r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( .*)?", re.ASCII)
_ANYWHERE = IPv4Network("0.0.0.0/0")


class Deployment(Spec):
    """Name, region, network ranges and the CIDRs allowed in.

    Tenancy and compartment OCIDs are never in a spec: they are Terraform variables.
    """

    name: str = Field(description="Stack name: lowercase letters, digits and dashes.")
    region: str = Field(description="OCI region identifier, e.g. us-ashburn-1.")
    vcn_cidr: IPv4Network = IPv4Network("10.0.0.0/16")
    public_subnet_cidr: IPv4Network = IPv4Network("10.0.0.0/24")
    private_subnet_cidr: IPv4Network = IPv4Network("10.0.16.0/20")
    ssh_allowed_cidrs: tuple[IPv4Network, ...] = Field(min_length=1)
    api_allowed_cidrs: tuple[IPv4Network, ...] = Field(min_length=1)
    ssh_public_key: str | None = Field(
        default=None,
        description="OpenSSH public key; when unset, the Terraform variable ssh_public_key.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.fullmatch(v):
            raise ValueError(
                "use 3-40 lowercase letters, digits and dashes, starting with a letter"
            )
        return v

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        if not _REGION.fullmatch(v):
            raise ValueError("use an OCI region identifier such as us-ashburn-1 or eu-frankfurt-1")
        return v

    @field_validator(
        "vcn_cidr",
        "public_subnet_cidr",
        "private_subnet_cidr",
        "ssh_allowed_cidrs",
        "api_allowed_cidrs",
        mode="before",
    )
    @classmethod
    def _cidr_text(cls, v: object) -> object:
        # pydantic reads a bare number as an address (198 -> 0.0.0.198/32): nobody means that.
        for item in v if isinstance(v, list | tuple) else (v,):
            if not isinstance(item, str | IPv4Network):
                raise ValueError(
                    f"{item!r} is not a CIDR; write it as a string such as '198.51.100.0/24'"
                )
        return v

    @field_validator("ssh_allowed_cidrs")
    @classmethod
    def _ssh_not_anywhere(cls, v: tuple[IPv4Network, ...]) -> tuple[IPv4Network, ...]:
        # 0.0.0.0/1 and 128.0.0.0/1 together are the internet as surely as 0.0.0.0/0.
        if _ANYWHERE in collapse_addresses(v):
            raise ValueError("SSH open to the internet; name your office or VPN range instead")
        return v

    @field_validator("ssh_public_key")
    @classmethod
    def _ssh_key(cls, v: str | None) -> str | None:
        if v is not None and not _SSH_KEY.fullmatch(v.strip()):
            raise ValueError("not an OpenSSH public key; paste the one line of your id_*.pub")
        return v.strip() if v else v

    @model_validator(mode="after")
    def _cidrs_fit(self) -> Deployment:
        for field in ("public_subnet_cidr", "private_subnet_cidr"):
            sub: IPv4Network = getattr(self, field)
            if not sub.subnet_of(self.vcn_cidr):
                raise ValueError(
                    f"{field} {sub} lies outside vcn_cidr {self.vcn_cidr}; pick a range inside it"
                )
        if self.public_subnet_cidr.overlaps(self.private_subnet_cidr):
            raise ValueError(
                f"public_subnet_cidr {self.public_subnet_cidr} overlaps private_subnet_cidr "
                f"{self.private_subnet_cidr}; give them disjoint ranges"
            )
        return self
