"""ApiLoadBalancer: a public Network Load Balancer in front of the serving node."""

from __future__ import annotations

from dataclasses import dataclass

from ..tf import oci
from ..tf.cdk import Construct


@dataclass(frozen=True)
class ApiLoadBalancerProps:
    name: str
    compartment_id: str
    subnet_id: str
    nsg_id: str
    listen_port: int
    health_path: str
    """Answers 200 without an API key once the engine can serve (from the engine driver)."""
    engine_port: int
    target_instance_ids: tuple[str, ...]
    health_timeout_ms: int = 3_000
    """How long a health check may take (the engine driver's; SGLang's /health generates)."""


class ApiLoadBalancer(Construct):
    """TCP pass-through on `listen_port` to the engine, health-checked over HTTP."""

    def __init__(self, scope: Construct, id: str, props: ApiLoadBalancerProps) -> None:
        super().__init__(scope, id)
        self.nlb = oci.NetworkLoadBalancer(
            self,
            "nlb",
            oci.NlbArgs(
                compartment_id=props.compartment_id,
                display_name=f"{props.name}-api",
                subnet_id=props.subnet_id,
                is_private=False,
                network_security_group_ids=[props.nsg_id],
                is_preserve_source_destination=False,
            ),
        )
        backend_set = oci.NlbBackendSet(
            self,
            "engine",
            oci.NlbBackendSetArgs(
                name="engine",
                network_load_balancer_id=self.nlb.id,
                policy="FIVE_TUPLE",
                is_preserve_source=False,
                health_checker=oci.NlbHealthChecker(
                    protocol="HTTP",
                    port=props.engine_port,
                    url_path=props.health_path,
                    return_code=200,
                    # A check must end before the next one starts.
                    interval_in_millis=max(10_000, props.health_timeout_ms + 5_000),
                    timeout_in_millis=props.health_timeout_ms,
                    retries=3,
                ),
            ),
        )
        for i, target in enumerate(props.target_instance_ids):
            oci.NlbBackend(
                self,
                f"backend_{i}",
                oci.NlbBackendArgs(
                    backend_set_name=backend_set.attr("name"),
                    network_load_balancer_id=self.nlb.id,
                    port=props.engine_port,
                    target_id=target,
                ),
            )
        oci.NlbListener(
            self,
            "api",
            oci.NlbListenerArgs(
                name="api",
                network_load_balancer_id=self.nlb.id,
                default_backend_set_name=backend_set.attr("name"),
                port=props.listen_port,
                protocol="TCP",
            ),
        )
        self.url = f"http://{self.nlb.public_ip}:{props.listen_port}/v1"
