"""The DataSphere part: project settings, secrets, the node and its alias."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi

from components import platform
from components.datasphere.alias import Alias
from components.datasphere.api import alias_full_name
from components.datasphere.node import Node
from components.datasphere.project_settings import ProjectSettings
from components.datasphere.secret import ProjectSecret
from components.settings import Settings

if TYPE_CHECKING:
    from components.stack import NodeFoundation

HF_TOKEN_SECRET = "HF_TOKEN"  # noqa: S105 - the secret's name, not its value
HEALTH_PATH = "/health"
IDLE_TIMEOUT_SECONDS = 300


def node_name(base: str, image_ref: str) -> str:
    """Unique per image, so the new node can stand beside the old one during a rollout."""
    digest = image_ref.rsplit("@sha256:", 1)[-1]
    return f"{base}-{digest[:12]}"


class Datasphere(pulumi.ComponentResource):
    node: Node
    alias: Alias
    secret_name: str
    project_id: str
    alias_name: str
    alias_full_name: str
    endpoint_url: str

    def __init__(self, name: str, settings: Settings, foundation: NodeFoundation,
                 labels: dict[str, str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("vllm-datasphere:index:Datasphere", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        project_id = self.project_id = settings.datasphere_project_id

        project = ProjectSettings(
            name, project_id=project_id, service_account_id=foundation.service_account_id,
            default_folder_id=foundation.folder_id, subnet_id=foundation.subnet_id,
            max_units_per_hour=settings.max_units_per_hour, opts=child,
        )
        self.secret_name = f"{name}-pull-key"
        pull_key = ProjectSecret(
            self.secret_name, project_id=project_id, secret_name=self.secret_name,
            content=foundation.pull_key_secret,
            description=f"Pull-only API key the node pulls the vLLM image with (username "
                        f"{platform.REGISTRY_USERNAME})",
            labels=labels, opts=child,
        )
        needed_by_node: list[pulumi.Resource] = [project, pull_key]
        if settings.hugging_face_token is not None:
            needed_by_node.append(ProjectSecret(
                f"{name}-hf-token", project_id=project_id, secret_name=HF_TOKEN_SECRET,
                content=settings.hugging_face_token,
                description="Hugging Face token for gated model weights", labels=labels, opts=child,
            ))

        self.node = Node(name, {
            "projectId": project_id,
            "folderId": foundation.folder_id,
            "name": foundation.image_ref.apply(lambda ref: node_name(name, ref)),
            "description": f"vLLM serving {settings.served_model_name}",
            "labels": labels,
            "image": foundation.image_ref,
            "registryUsername": platform.REGISTRY_USERNAME,
            "passwordSecretName": self.secret_name,
            "port": platform.VLLM_PORT,
            "requestTimeoutSeconds": settings.request_timeout_seconds,
            "idleTimeoutSeconds": IDLE_TIMEOUT_SECONDS,
            "healthPath": HEALTH_PATH,
            "instanceSpec": settings.instance_spec,
            "zone": settings.zone,
            "instanceCount": settings.instance_count,
            "subnetId": foundation.subnet_id,
            "aclFolderIds": [foundation.folder_id],
            "servedModelName": settings.served_model_name,
            "readyTimeoutMinutes": settings.ready_timeout_minutes,
            "keepFailedNode": settings.keep_failed_node,
        }, opts=pulumi.ResourceOptions(parent=self, depends_on=needed_by_node))
        self.alias = Alias(name, project_id=project_id, folder_id=foundation.folder_id,
                           alias_name=settings.alias_name, node_id=self.node.id, public=False, opts=child)
        self.alias_name = settings.alias_name
        self.alias_full_name = alias_full_name(settings.alias_name)
        self.endpoint_url = f"{settings.endpoints['nodeApiEndpoint']}/v1"
        self.register_outputs({"nodeId": self.node.id, "aliasFullName": self.alias_full_name})
