"""The subnet the DataSphere nodes run in, with a way out to Hugging Face where one is needed.

Either a new VPC network and subnet, routing 0.0.0.0/0 through a NAT gateway when a node downloads
weights at start-up (`weights: hub`; with every model's weights in its image the nodes need no
internet, and get no gateway), or an existing subnet that is looked up at preview, so that a subnet
in the wrong zone, or without a way out that a node needs, fails before anything is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_yandex_marketmaker as yandex

from components.config_parsing import ConfigProblem
from components.settings import Settings


@dataclass(frozen=True)
class ExistingSubnet:
    subnet_id: str
    folder_id: str
    uses_nat_gateway: bool


def find_subnet(settings: Settings) -> tuple[ExistingSubnet | None, list[ConfigProblem]]:
    """Look up `subnetId` before any resource is registered, so a wrong zone creates nothing."""
    if not settings.subnet_id:
        return None, []
    subnet = yandex.get_vpc_subnet(subnet_id=settings.subnet_id)
    if subnet.zone != settings.zone:
        return None, [ConfigProblem(
            "subnetId", settings.subnet_id,
            f"is in {subnet.zone}, but zone is {settings.zone}; node instances must run in the "
            f"subnet's zone. Fix: pulumi config set zone {subnet.zone}, or pick a subnet in "
            f"{settings.zone}",
        )]
    uses_nat_gateway = False
    if subnet.route_table_id:
        table = yandex.get_vpc_route_table(route_table_id=subnet.route_table_id)
        uses_nat_gateway = any(route.gateway_id for route in table.static_routes)
    if settings.needs_egress and not uses_nat_gateway:
        hub = [(i, m.name) for i, m in enumerate(settings.models) if m.weights == "hub" and m.listed]
        which = f" (models {', '.join(name for _, name in hub)})" if hub else ""
        to_image = " && ".join(f"pulumi config set --path 'models[{i}].weights' image" for i, _ in hub)
        return None, [ConfigProblem(
            "subnetId", settings.subnet_id,
            "has no route through a NAT gateway, and with weights hub a node downloads the weights from "
            f"Hugging Face at every start{which}: it could download nothing. Fix: "
            f"{to_image or 'pulumi config set weights image'} (the weights are baked into the image; the "
            "node needs no internet), or add a NAT gateway route to the subnet's route table, or pulumi "
            "config rm subnetId to let the stack create a network with one",
        )]
    return ExistingSubnet(settings.subnet_id, subnet.folder_id, uses_nat_gateway), []


@dataclass(frozen=True)
class NetworkArgs:
    """The subnet found at preview (`existing`), or the network to create in `folder_id`: with a NAT
    gateway when a node downloads weights at start-up."""

    existing: ExistingSubnet | None
    zone: str
    subnet_cidr: str
    needs_egress: bool
    folder_id: pulumi.Input[str]
    labels: Mapping[str, str]

    @classmethod
    def from_settings(cls, settings: Settings, existing: ExistingSubnet | None, folder_id: pulumi.Input[str],
                      labels: Mapping[str, str]) -> NetworkArgs:
        return cls(existing, settings.zone, settings.subnet_cidr, settings.needs_egress, folder_id, labels)


class Network(pulumi.ComponentResource):
    subnet_id: pulumi.Output[str]
    subnet_folder_id: pulumi.Output[str]
    uses_nat_gateway: bool

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("vllm-datasphere:index:Network", name, None, opts)
        if args.existing:
            self.subnet_id = pulumi.Output.from_input(args.existing.subnet_id)
            self.subnet_folder_id = pulumi.Output.from_input(args.existing.folder_id)
            self.uses_nat_gateway = args.existing.uses_nat_gateway
        else:
            self._create(name, args)
        self.register_outputs({"subnetId": self.subnet_id})

    def _create(self, name: str, args: NetworkArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        folder_id, labels = args.folder_id, dict(args.labels)
        network = yandex.VpcNetwork(name, folder_id=folder_id, name=name, labels=labels, opts=child)
        routes = self._egress(name, folder_id, network, labels) if args.needs_egress else None
        subnet = yandex.VpcSubnet(
            f"{name}-{args.zone}",
            folder_id=folder_id,
            network_id=network.id,
            zone=args.zone,
            v4_cidr_blocks=[args.subnet_cidr],
            route_table_id=routes.id if routes is not None else None,
            name=f"{name}-{args.zone}",
            labels=labels,
            opts=child,
        )
        self.subnet_id = subnet.id
        self.subnet_folder_id = pulumi.Output.from_input(folder_id)
        self.uses_nat_gateway = routes is not None

    def _egress(self, name: str, folder_id: pulumi.Input[str], network: yandex.VpcNetwork,
                labels: dict[str, str]) -> yandex.VpcRouteTable:
        """A NAT gateway and the route table that sends 0.0.0.0/0 through it."""
        child = pulumi.ResourceOptions(parent=self)
        gateway = yandex.VpcGateway(
            f"{name}-nat",
            folder_id=folder_id,
            name=f"{name}-nat",
            labels=labels,
            shared_egress_gateway=yandex.VpcGatewaySharedEgressGatewayArgs(),
            opts=child,
        )
        return yandex.VpcRouteTable(
            f"{name}-egress",
            folder_id=folder_id,
            network_id=network.id,
            name=f"{name}-egress",
            labels=labels,
            static_routes=[yandex.VpcRouteTableStaticRouteArgs(
                destination_prefix="0.0.0.0/0", gateway_id=gateway.id,
            )],
            opts=child,
        )
