"""A node's bundle: every file its steps need, as one archive named by its sha256.

user_data (stage 0, infra/render/stage0.py) stays small and pins the hash; the files travel
as an object in the stack's bucket (infra/constructs/bundles.py). Nodes with the same files
share one bundle: a 16-node training cluster has two, the Ray head's and the workers'.

The archive is a gzip tar built byte for byte the same on every synth (sorted entries, fixed
owner and mtime, gzip mtime 0), so its hash only changes when a file does. It holds files
only, never directory entries: unpacked over `/`, tar must not touch the modes of /etc or
/usr/local/lib. Terraform's JSON cannot carry bytes, so the object holds the archive's base64
text; the node decodes it and checks the sha256 of the archive before unpacking anything.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from functools import cached_property

from .cloud_config import render_node_file
from .context import NodeContext
from .steps import node_files

#: The archive's mtime for every entry: tar on the node gets --touch, so it never shows.
_MTIME = 0


@dataclass(frozen=True)
class BundleFile:
    path: str
    """Absolute path on the node."""
    mode: str
    """Octal, as cloud-config spells it ("0755")."""
    content: str


@dataclass(frozen=True)
class Bundle:
    """The files one kind of node boots with, and the archive that carries them."""

    files: tuple[BundleFile, ...]

    @cached_property
    def archive(self) -> bytes:
        """The gzip tar, deterministic: the same files give the same bytes."""
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for f in sorted(self.files, key=lambda f: f.path):
                data = f.content.encode()
                info = tarfile.TarInfo(f.path.lstrip("/"))
                info.size, info.mode, info.mtime = len(data), int(f.mode, 8), _MTIME
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                tar.addfile(info, io.BytesIO(data))
        return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)

    @cached_property
    def sha256(self) -> str:
        """Of the archive: the name it goes by, and what stage 0 checks before unpacking."""
        return hashlib.sha256(self.archive).hexdigest()

    @property
    def size(self) -> int:
        """The archive's bytes."""
        return len(self.archive)

    @property
    def object_text(self) -> str:
        """The object's content: the archive in base64 (what Terraform uploads)."""
        return base64.b64encode(self.archive).decode()

    @property
    def object_name(self) -> str:
        """Its name in the bucket: a changed file is a new object, never an overwrite."""
        return object_name(self.sha256)

    def as_dict(self) -> dict[str, object]:
        return {"sha256": self.sha256, "size": self.size, "object": self.object_name}


def object_name(sha256: str) -> str:
    return f"bundle-{sha256}.tgz.b64"


def build_bundle(ctx: NodeContext) -> Bundle:
    """Node `ctx`'s bundle: its steps' scripts and units and gpuform.target."""
    return Bundle(
        tuple(BundleFile(f.path, f.mode, render_node_file(ctx, f)) for f in node_files(ctx))
    )


def unpack(archive: bytes) -> dict[str, tuple[str, str]]:
    """What stage 0 would install from `archive`: path -> (mode, content). For tests and review."""
    out = {}
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive)), mode="r:") as tar:
        for m in tar.getmembers():
            fh = tar.extractfile(m)
            assert fh is not None, m.name
            out["/" + m.name] = (f"{m.mode:04o}", fh.read().decode())
    return out
