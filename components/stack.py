"""The top component: config in, served models behind DataSphere aliases out."""

from __future__ import annotations

import pulumi

from components.client import ClientAccess, ClientAccessArgs, curl_example
from components.config_parsing import stack_slug
from components.cost import StackCost
from components.datasphere.api import alias_full_name, alias_headers
from components.datasphere.component import Datasphere, DatasphereArgs, NodeFoundation, alias_groups
from components.folder import Folder, FolderArgs
from components.identity import Identity, IdentityArgs
from components.image import Image, ImageArgs
from components.memory import MemoryEstimate
from components.model_settings import ModelSettings
from components.network import Network, NetworkArgs
from components.preview import Checked
from components.registry import Registry, RegistryArgs
from components.settings import Settings

# The outputs of one model, at the top of the stack's outputs while it serves just one.
ONE_MODEL_OUTPUTS = ("imageRef", "modelRevision", "instanceSpec", "nodeId", "aliasFullName",
                     "servedModelName", "headers", "curlExample", "memoryEstimate")


def resource_labels(stack: str) -> dict[str, str]:
    return {"managed-by": "pulumi", "project": "vllm-datasphere", "stack": stack_slug(stack)}


class VllmDatasphere(pulumi.ComponentResource):
    settings: Settings
    foundation: NodeFoundation
    images: dict[str, Image]
    datasphere: Datasphere
    memory: dict[str, MemoryEstimate]
    cost: StackCost
    client: ClientAccess | None

    def __init__(self, name: str, checked: Checked, stack: str, opts: pulumi.ResourceOptions | None = None
                 ) -> None:
        settings = self.settings = checked.settings
        self.memory = dict(checked.memory)
        self.cost = checked.cost
        super().__init__("vllm-datasphere:index:VllmDatasphere", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = resource_labels(stack)
        # Names are unique per folder, and folderId may point at a shared one: suffix the stack.
        base = f"{name}-{labels['stack']}"

        folder = Folder(f"{base}-folder", FolderArgs.from_settings(settings, labels), opts=child)
        network = Network(base, NetworkArgs.from_settings(settings, checked.existing_subnet, folder.folder_id,
                                                          labels), opts=child)
        registry = Registry(base, RegistryArgs(settings.registry_id, folder.folder_id, labels), opts=child)
        identity = Identity(base, IdentityArgs(
            folder.folder_id, registry.registry_id, network.subnet_folder_id, network.uses_nat_gateway,
            settings.node_registry_login), opts=child)
        self.images = {
            model.name: Image(f"{base}{model.resource_suffix}", ImageArgs(
                model, labels["stack"], registry.repository, identity.push_key.secret,
                push_after=identity.push_ready, hugging_face_token=settings.hugging_face_token), opts=child)
            for model in settings.models
        }
        self.foundation = NodeFoundation(
            folder_id=folder.folder_id,
            subnet_id=network.subnet_id,
            service_account_id=identity.service_account_id,
            registry_id=registry.registry_id,
            registry_login=settings.node_registry_login,
            registry_password=identity.node_login_secret,
        )
        self.datasphere = Datasphere(base, DatasphereArgs.from_settings(
            settings, stack=stack, foundation=self.foundation,
            image_refs={n: image.image_ref for n, image in self.images.items()},
            min_units_per_hour=checked.cost.rollout_units_per_hour, labels=labels), opts=child)
        self.client = (ClientAccess(f"{base}-client", ClientAccessArgs(folder.folder_id,
                                                                        settings.datasphere_project_id),
                                    opts=child)
                       if settings.client_service_account else None)
        self.register_outputs(self.outputs())

    def model_outputs(self, model: ModelSettings, members: list[ModelSettings]
                      ) -> dict[str, pulumi.Output[object]]:
        """What a client of one model needs, and what was made for it; `members` share its alias."""
        d = self.datasphere
        headers = self.foundation.folder_id.apply(lambda folder: alias_headers(model.alias_name, folder))
        return {
            "imageRef": self.images[model.name].image_ref,
            "modelRevision": pulumi.Output.from_input(model.model_revision),
            "instanceSpec": pulumi.Output.from_input(model.instance_spec),
            "nodeId": d.nodes[model.name].id,
            "aliasFullName": pulumi.Output.from_input(alias_full_name(model.alias_name)),
            "aliasId": d.aliases[model.alias_name].id,
            "aliasNodeIds": pulumi.Output.all(*(d.nodes[m.name].id for m in members)),
            "trafficPercent": pulumi.Output.from_input(model.traffic_percent),
            "servedModelName": pulumi.Output.from_input(model.served_model_name),
            "headers": headers,
            "curlExample": headers.apply(lambda h: curl_example(d.endpoint_url, h, model.served_model_name)),
            "memoryEstimate": pulumi.Output.from_input(self.memory[model.name].as_output()),
        }

    def outputs(self) -> dict[str, pulumi.Output[object]]:
        """The stack outputs; the client's key is the only secret among them."""
        f, d = self.foundation, self.datasphere
        groups = alias_groups(self.settings.models)
        per_model = {model.name: self.model_outputs(model, groups[model.alias_name])
                     for model in self.settings.models}
        outputs: dict[str, pulumi.Output[object]] = {
            "folderId": f.folder_id,
            "subnetId": f.subnet_id,
            "serviceAccountId": f.service_account_id,
            "registryId": f.registry_id,
            "projectId": pulumi.Output.from_input(d.project_id),
            "secretName": pulumi.Output.from_input(d.secret_name),
            "endpointUrl": pulumi.Output.from_input(d.endpoint_url),
            "models": pulumi.Output.from_input(per_model),
            "cost": pulumi.Output.from_input(self.cost.as_output()),
        }
        if len(per_model) == 1:
            [only] = per_model.values()
            outputs |= {key: only[key] for key in ONE_MODEL_OUTPUTS}
        if self.client is not None:
            outputs["clientServiceAccountId"] = self.client.service_account_id
            outputs["clientKeyJson"] = self.client.key_json
        return outputs
