"""The top component: config in, a served model behind a DataSphere alias out."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.client import ClientAccess, curl_example
from components.datasphere.api import alias_headers
from components.datasphere.component import Datasphere
from components.folder import Folder
from components.identity import Identity
from components.image import Image
from components.memory import MemoryEstimate
from components.network import Network
from components.preview import Checked
from components.registry import Registry
from components.settings import stack_slug


@dataclass(frozen=True)
class NodeFoundation:
    """What the DataSphere part (project settings, secret, node, alias) is built on."""

    folder_id: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    service_account_id: pulumi.Output[str]
    registry_id: pulumi.Output[str]
    pull_key_secret: pulumi.Output[str]
    image_ref: pulumi.Output[str]


def resource_labels(stack: str) -> dict[str, str]:
    return {"managed-by": "pulumi", "project": "vllm-datasphere", "stack": stack_slug(stack)}


class VllmDatasphere(pulumi.ComponentResource):
    foundation: NodeFoundation
    datasphere: Datasphere
    memory: MemoryEstimate
    client: ClientAccess | None
    served_model_name: str

    def __init__(self, name: str, checked: Checked, opts: pulumi.ResourceOptions | None = None) -> None:
        settings, memory = checked.settings, checked.memory
        super().__init__("vllm-datasphere:index:VllmDatasphere", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = resource_labels(pulumi.get_stack())
        # Names are unique per folder, and folderId may point at a shared one: suffix the stack.
        base = f"{name}-{labels['stack']}"

        folder = Folder(f"{base}-folder", settings, labels, opts=child)
        network = Network(base, settings, checked.existing_subnet, folder.folder_id, labels, opts=child)
        registry = Registry(base, settings, folder.folder_id, labels, opts=child)
        identity = Identity(base, folder.folder_id, registry.registry_id,
                            network.subnet_folder_id, network.uses_nat_gateway, opts=child)
        image = Image(base, settings, labels["stack"], registry.repository, identity.push_key.secret,
                      push_after=identity.push_ready, opts=child)

        foundation = NodeFoundation(
            folder_id=folder.folder_id,
            subnet_id=network.subnet_id,
            service_account_id=identity.service_account_id,
            registry_id=registry.registry_id,
            pull_key_secret=identity.pull_key.secret,
            image_ref=image.image_ref,
        )
        self.foundation = foundation
        self.memory = memory
        self.datasphere = Datasphere(base, settings, foundation, labels, opts=child)
        self.client = (ClientAccess(f"{base}-client", folder.folder_id, settings.datasphere_project_id,
                                    opts=child)
                       if settings.client_service_account else None)
        self.served_model_name = settings.served_model_name
        self.register_outputs(self.outputs())

    def outputs(self) -> dict[str, pulumi.Output[object]]:
        """The stack outputs; the client's key is the only secret among them."""
        f, d = self.foundation, self.datasphere
        headers = f.folder_id.apply(lambda folder: alias_headers(d.alias_name, folder))
        outputs: dict[str, pulumi.Output[object]] = {
            "folderId": f.folder_id,
            "subnetId": f.subnet_id,
            "serviceAccountId": f.service_account_id,
            "registryId": f.registry_id,
            "imageRef": f.image_ref,
            "projectId": pulumi.Output.from_input(d.project_id),
            "secretName": pulumi.Output.from_input(d.secret_name),
            "nodeId": d.node.id,
            "aliasFullName": pulumi.Output.from_input(d.alias_full_name),
            "endpointUrl": pulumi.Output.from_input(d.endpoint_url),
            "servedModelName": pulumi.Output.from_input(self.served_model_name),
            "headers": headers,
            "curlExample": headers.apply(
                lambda h: curl_example(d.endpoint_url, h, self.served_model_name)),
            "memoryEstimate": pulumi.Output.from_input(self.memory.as_output()),
        }
        if self.client is not None:
            outputs["clientServiceAccountId"] = self.client.service_account_id
            outputs["clientKeyJson"] = self.client.key_json
        return outputs
