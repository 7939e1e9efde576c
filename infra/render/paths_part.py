"""The `paths` and `limits` context parts: where gpuform keeps its files on a node, and how
long each bounded wait lasts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PathsPart:
    """Where gpuform keeps its files on the node."""

    lib: str = "/usr/local/lib/gpuform"
    etc: str = "/etc/gpuform"
    state: str = "/var/lib/gpuform"
    logs: str = "/var/log/gpuform"
    units: str = "/etc/systemd/system"
    localdisk: str = "/mnt/localdisk"
    imds_url: str = "http://169.254.169.254/opc/v2/instance/metadata"
    oci_venv: str = "/opt/gpuform/oci-cli"
    """Where Ubuntu's OCI CLI and SDK go (a venv); Oracle Linux uses its packaged ones."""

    @property
    def imds_v2_url(self) -> str:
        """IMDS v2's root: instance/ (the document, `id`, metadata/) and vnics/ lie below."""
        return self.imds_url.rsplit("/", 2)[0]

    @property
    def node_env(self) -> str:
        return f"{self.etc}/node.env"

    @property
    def oci_client_env(self) -> str:
        """Names the OCI CLI and a Python with the oci SDK, for every step that reads OCI by
        instance principal; written by the oci-client step, which alone installs them."""
        return f"{self.etc}/oci-client.env"

    @property
    def roster_env(self) -> str:
        """A cluster network node's index and head IP, from the roster; they override the
        pool's metadata, which cannot hold anything per node."""
        return f"{self.etc}/roster.env"

    @property
    def ready_file(self) -> str:
        return f"{self.state}/ready"

    @property
    def cache_localdisk(self) -> str:
        return f"{self.localdisk}/gpuform/cache"

    @property
    def cache_boot(self) -> str:
        return f"{self.state}/cache"

    @property
    def docker_root(self) -> str:
        """Docker's data root on local NVMe: images of 10-30 GB stay off the boot volume."""
        return f"{self.localdisk}/docker"


@dataclass(frozen=True)
class LimitsPart:
    """Bounded waits (seconds) and the engine's restart limit."""

    imds_timeout_s: int = 120
    # Weights of DeepSeek-class models take tens of minutes to fetch.
    ready_timeout_s: int = 5400
    server_up_timeout_s: int = 600
    image_pull_timeout_s: int = 2400
    model_pull_timeout_s: int = 5400
    # The engine restarts after a crash, but at most start_limit_burst times in the interval;
    # then the unit fails for good instead of looping quietly.
    restart_sec: int = 30
    start_limit_burst: int = 4
    start_limit_interval_s: int = 10800
    # IAM is eventually consistent: the dynamic group and its policy are created next to the
    # nodes and may take minutes to reach the secret service, so the key fetch retries this long.
    secret_retry_s: int = 900
    # A cluster network's roster is written once every node of the pool runs and Terraform
    # has read their addresses; oci-hpc gives the cluster network's creation hours.
    roster_timeout_s: int = 7200
    # Stage 0 fetches its bundle this many times, 5 to 30 s apart (about two minutes and a
    # half): Terraform uploads it before the node launches, so only an unreachable Object
    # Storage or a dead PAR fails it, and neither heals by waiting longer.
    bundle_tries: int = 8
