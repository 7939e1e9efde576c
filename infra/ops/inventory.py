"""What a deployed stack is made of, read from its Terraform outputs (`terraform output -json`)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import UserError
from .files import check_regular

#: `terraform output` reads local state in well under a second; a remote backend that does not
#: answer (or a wrapper script that hangs) must not hold a day-2 command for long.
TERRAFORM_TIMEOUT_S = 60.0
#: A 1,000-node stack's outputs are well under 1 MiB.
MAX_OUTPUTS_BYTES = 16 << 20


_NAME = re.compile(r"[a-z][a-z0-9-]{0,80}")
_HOSTNAME = re.compile(r"[a-z0-9-]{0,63}")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


def _matching(value: str, pattern: re.Pattern[str], what: str) -> str:
    if pattern.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not {what}")
    return value


def _address(value: str, *, empty_ok: bool = False) -> str:
    if empty_ok and value == "":
        return value  # a harness without a bastion (tests/boot) names none
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None
    return value


# Names, hostnames and addresses become lines of an ssh config (`Host NAME`, `HostName IP`):
# a newline or a space there would add an option of the outputs' choosing (ProxyCommand).
NodeName = Annotated[str, AfterValidator(lambda v: _matching(v, _NAME, "a node name"))]
Hostname = Annotated[str, AfterValidator(lambda v: _matching(v, _HOSTNAME, "a hostname label"))]
LoginName = Annotated[
    str, AfterValidator(lambda v: _matching(v, _USER, "a login name such as opc or ubuntu"))
]
Address = Annotated[str, AfterValidator(_address)]
BastionAddress = Annotated[str, AfterValidator(lambda v: _address(v, empty_ok=True))]


class Node(BaseModel):
    """One GPU node, as the stack's `nodes` output describes it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    index: int = Field(ge=0)
    name: NodeName
    hostname: Hostname
    role: Literal["head", "worker"]
    replica: int = Field(ge=0)
    head: int = Field(ge=0)
    """Index of the head node of this node's replica."""
    private_ip: Address
    ray_role: Literal["head", "worker"] | None = None
    steps: tuple[str, ...] = ()
    """The node's systemd units in boot order; `gpuform.target` groups them."""
    ray_container: str = "gpuform-ray"
    """The container `ray status` runs in, on a Ray head (gpuform-ray.service runs it)."""
    instance_id: str | None = None
    """OCI instance OCID, when the outputs carry it (for `status`' instance state)."""


class Inventory(BaseModel):
    """The nodes, the bastion and the endpoint of one deployed stack."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    stack: str
    nodes: tuple[Node, ...] = Field(min_length=1)
    bastion_public_ip: BastionAddress
    bastion_user: LoginName = "opc"
    ssh_user: LoginName
    endpoint_url: str | None = None
    region: str | None = None
    bastion_port: int = 22
    """SSH port of the bastion and the nodes; 22 on OCI, anything in tests."""
    node_port: int = 22

    @field_validator("endpoint_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        # status and wait GET <endpoint_url>/models: only an http(s) URL with a host can answer.
        if v is None:
            return v
        try:
            parts = urlsplit(v)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as err:
            raise ValueError(f"{v!r} is not a URL ({err})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not an http(s) URL such as http://203.0.113.8:8000/v1")
        return v

    def ray_members(self, head: Node) -> tuple[Node, ...]:
        """The nodes of `head`'s Ray cluster (its replica's nodes that run Ray)."""
        return tuple(n for n in self.nodes if n.head == head.index and n.ray_role is not None)

    @classmethod
    def from_outputs(cls, stack: str, outputs: Mapping[str, Any]) -> Inventory:
        """Build from `terraform output -json` ({"name": {"value": ...}}) or plain values."""
        values = {k: v["value"] if _wrapped(v) else v for k, v in outputs.items()}
        _same_stack(stack, values)
        missing = [k for k in ("nodes", "bastion_public_ip", "ssh_user") if k not in values]
        if missing:
            raise UserError(
                f"stack {stack!r}: Terraform outputs lack {', '.join(missing)}; "
                "re-synthesize and apply it with a gpuform that exports them"
            )
        try:
            return cls.model_validate({**values, "stack": stack})
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            why = first["msg"].removeprefix("Value error, ")
            raise UserError(f"stack {stack!r}: output {where}: {why}") from None

    @classmethod
    def from_file(cls, stack: str, path: Path) -> Inventory:
        """Read a saved `terraform output -json` (or a plain JSON object of values)."""
        check_regular(path, "--inventory", MAX_OUTPUTS_BYTES)
        try:
            data = json.loads(path.read_text())
        except OSError as err:
            raise UserError(f"--inventory = {str(path)!r}: {err.strerror}") from None
        except (ValueError, RecursionError) as err:
            why = "nested too deeply" if isinstance(err, RecursionError) else str(err)
            raise UserError(f"--inventory = {str(path)!r}: not JSON ({why})") from None
        if not isinstance(data, dict):
            raise UserError(f"--inventory = {str(path)!r}: expected a JSON object of outputs")
        return cls.from_outputs(stack, data)

    @classmethod
    def from_terraform(cls, stack: str, out_dir: Path, terraform: str = "terraform") -> Inventory:
        """Run `terraform output -json` in the stack's synthesized folder."""
        folder = out_dir / "stacks" / stack
        if not folder.is_dir():
            raise UserError(
                f"stack {stack!r}: no {folder}; run `gpuform synth {stack}` and deploy it first"
            )
        exe = shutil.which(terraform)
        if exe is None:
            raise UserError(
                f"{terraform!r} is not on PATH; install Terraform >= 1.5 (or pass --terraform tofu)"
            )
        code, stdout, stderr = _run_bounded([exe, "output", "-json", "-no-color"], folder)
        if code is None:
            raise UserError(
                f"stack {stack!r}: `{terraform} output` in {folder} did not finish in "
                f"{TERRAFORM_TIMEOUT_S:g}s (a state backend that does not answer?); stopped it. "
                f"Run it yourself, save its JSON and pass --inventory FILE"
            )
        if code != 0:
            why = _first_error_line(stderr) or f"exit code {code}"
            raise UserError(f"stack {stack!r}: `{terraform} output` in {folder} failed: {why}")
        try:
            outputs = json.loads(stdout or "{}")
        except ValueError:
            raise UserError(
                f"stack {stack!r}: `{terraform} output -json` printed no JSON"
            ) from None
        if not outputs:
            raise UserError(
                f"stack {stack!r} has no Terraform outputs: it was never deployed "
                f"(cdktf deploy {stack}, or make deploy STACK={stack})"
            )
        return cls.from_outputs(stack, outputs)


def _same_stack(stack: str, values: Mapping[str, Any]) -> None:
    """Refuse another stack's outputs: exec on them would run on that stack's nodes."""
    named = values.get("stack")
    if named is not None:
        if named != stack:
            raise UserError(
                f"stack {stack!r}: these outputs are stack {named!r}'s; name that stack, "
                f"or pass the outputs of {stack!r}"
            )
        return
    # Outputs from before the `stack` output: every node is named <stack>-node-<index>.
    nodes = values.get("nodes")
    if not isinstance(nodes, list):
        return  # model validation says what is wrong with them
    for node in (n for n in nodes if isinstance(n, dict) and {"name", "index"} <= n.keys()):
        if node["name"] != f"{stack}-node-{node['index']}":
            raise UserError(
                f"stack {stack!r}: these outputs name node {node['name']!r}, not "
                f"{stack}-node-{node['index']}: they are another stack's; name that stack, "
                f"or pass the outputs of {stack!r}"
            )


def _run_bounded(argv: list[str], cwd: Path) -> tuple[int | None, str, str]:
    """Run `argv`; (None, ...) when it outlives TERRAFORM_TIMEOUT_S, its whole group killed.

    subprocess.run's timeout kills only the child, then waits for the pipes to close: a
    wrapper script's own children (terraform under a shell, a credential helper) hold them
    open and the wait never ends. A session of its own lets one kill reach them all.
    """
    proc = subprocess.Popen(
        argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=TERRAFORM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return None, "", ""
    except BaseException:  # Ctrl-C: nothing of it may outlive us
        _kill_group(proc)
        raise
    return proc.returncode, stdout, stderr


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _wrapped(v: object) -> bool:
    return isinstance(v, dict) and "value" in v and set(v) <= {"value", "type", "sensitive"}


def _first_error_line(stderr: str) -> str:
    # Terraform boxes its errors ("│ Error: ..."); the first such line is the one that says why.
    lines = [line.strip("│ ╷╵").strip() for line in stderr.splitlines()]
    errors = [line for line in lines if line.startswith("Error:")]
    return (errors or [line for line in lines if line] or [""])[0]
