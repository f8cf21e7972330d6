"""The DataSphere part: project settings, secrets, a node per model and an alias per alias name."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components import platform
from components.config_parsing import stack_slug
from components.datasphere.alias import Alias
from components.datasphere.api import alias_full_name
from components.datasphere.node import Node
from components.datasphere.project_settings import ProjectSettings
from components.datasphere.secret import ProjectSecret
from components.model_settings import ModelSettings
from components.settings import Settings

HEALTH_PATH = "/health"
IDLE_TIMEOUT_SECONDS = 300


def node_name(base: str, image_ref: str) -> str:
    """Unique per image, so the new node can stand beside the old one during a rollout."""
    digest = image_ref.rsplit("@sha256:", 1)[-1]
    return f"{base}-{digest[:12]}"


def alias_groups(models: tuple[ModelSettings, ...]) -> dict[str, list[ModelSettings]]:
    """The models behind each alias name, in the order of the config."""
    groups: dict[str, list[ModelSettings]] = defaultdict(list)
    for model in models:
        groups[model.alias_name].append(model)
    return dict(groups)


@dataclass(frozen=True)
class NodeFoundation:
    """What the DataSphere part (project settings, secret, nodes, aliases) is built on."""

    folder_id: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    service_account_id: pulumi.Output[str]
    registry_id: pulumi.Output[str]
    # The node's registry login: its username, and the password the project secret holds.
    registry_login: str
    registry_password: pulumi.Output[str]


@dataclass(frozen=True)
class DatasphereArgs:
    """Everything the DataSphere part is made from: the project and its spend cap (with the most the
    stack's nodes use in an hour, for the cap's check), the models and how their nodes run, what they
    stand on, and each model's image."""

    stack: str
    project_id: str
    adopt_project_settings: bool
    max_units_per_hour: int
    min_units_per_hour: int
    models: tuple[ModelSettings, ...]
    one_model_form: bool
    zone: str
    request_timeout_seconds: int
    ready_timeout_minutes: float
    keep_failed_node: bool
    node_api_url: str
    foundation: NodeFoundation
    image_refs: Mapping[str, pulumi.Output[str]]
    labels: Mapping[str, str]

    @classmethod
    def from_settings(cls, settings: Settings, *, stack: str, foundation: NodeFoundation,
                      image_refs: Mapping[str, pulumi.Output[str]], min_units_per_hour: int,
                      labels: Mapping[str, str]) -> DatasphereArgs:
        return cls(stack=stack, project_id=settings.datasphere_project_id,
                   adopt_project_settings=settings.adopt_project_settings,
                   max_units_per_hour=settings.max_units_per_hour, min_units_per_hour=min_units_per_hour,
                   models=settings.models, one_model_form=settings.one_model_form, zone=settings.zone,
                   request_timeout_seconds=settings.request_timeout_seconds,
                   ready_timeout_minutes=settings.ready_timeout_minutes,
                   keep_failed_node=settings.keep_failed_node, node_api_url=settings.endpoints.node_api,
                   foundation=foundation, image_refs=image_refs, labels=labels)


class Datasphere(pulumi.ComponentResource):
    nodes: dict[str, Node]
    aliases: dict[str, Alias]
    secret_name: str
    project_id: str
    endpoint_url: str

    def __init__(self, name: str, args: DatasphereArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("vllm-datasphere:index:Datasphere", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        foundation, labels = args.foundation, dict(args.labels)
        project_id = self.project_id = args.project_id

        project = ProjectSettings(
            name, project_id=project_id, service_account_id=foundation.service_account_id,
            default_folder_id=foundation.folder_id, subnet_id=foundation.subnet_id,
            max_units_per_hour=args.max_units_per_hour, min_units_per_hour=args.min_units_per_hour,
            owner_stack=stack_slug(args.stack),
            adopt=args.adopt_project_settings, opts=child,
        )
        # One secret a login: switching makes a new secret and a new node, the old ones go after.
        login = foundation.registry_login
        self.secret_name = (f"{name}-pull-key" if login == platform.REGISTRY_USERNAME
                            else f"{name}-pull-{login.replace('_', '-')}")
        pull_key = ProjectSecret(
            self.secret_name, project_id=project_id, secret_name=self.secret_name,
            content=foundation.registry_password,
            description=f"What the node logs in to the registry with (username {login}): "
                        f"{platform.NODE_REGISTRY_LOGINS[login]}",
            labels=labels, opts=child,
        )
        needed_by_node: list[pulumi.Resource] = [project, pull_key]

        self.nodes = {}
        for model in args.models:
            node_base = f"{name}{model.resource_suffix}"
            image_ref = args.image_refs[model.name]
            self.nodes[model.name] = Node(node_base, {
                "projectId": project_id,
                "folderId": foundation.folder_id,
                "name": image_ref.apply(lambda ref, base=node_base: node_name(base, ref)),
                "description": f"vLLM serving {model.served_model_name}",
                "labels": labels,
                "image": image_ref,
                "registryUsername": login,
                "passwordSecretName": self.secret_name,
                "port": platform.VLLM_PORT,
                "requestTimeoutSeconds": args.request_timeout_seconds,
                "idleTimeoutSeconds": IDLE_TIMEOUT_SECONDS,
                "healthPath": HEALTH_PATH,
                "instanceSpec": model.instance_spec,
                "zone": args.zone,
                "instanceCount": model.instance_count,
                "subnetId": foundation.subnet_id,
                "aclFolderIds": [foundation.folder_id],
                "servedModelName": model.served_model_name,
                "readyTimeoutMinutes": args.ready_timeout_minutes,
                "keepFailedNode": args.keep_failed_node,
            }, opts=pulumi.ResourceOptions(parent=self, depends_on=needed_by_node))

        # The one-model form's alias keeps its resource name; in `models`, an alias is named by its
        # alias name, so it stays while the entries behind it come and go.
        self.aliases = {
            alias: Alias(name if args.one_model_form else alias, project_id=project_id,
                         folder_id=foundation.folder_id, alias_name=alias,
                         nodes=[{"nodeId": self.nodes[m.name].id, "trafficPercent": m.traffic_percent}
                                for m in members],
                         public=False, opts=child)
            for alias, members in alias_groups(args.models).items()
        }
        self.endpoint_url = f"{args.node_api_url}/v1"
        self.register_outputs({"nodeIds": {n: node.id for n, node in self.nodes.items()},
                               "aliasFullNames": [alias_full_name(a) for a in self.aliases]})
