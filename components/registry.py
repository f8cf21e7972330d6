"""The Container Registry the vLLM image is pushed to."""

from __future__ import annotations

import pulumi
import pulumi_yandex_marketmaker as yandex

from components import platform


class Registry(pulumi.ComponentResource):
    registry: yandex.ContainerRegistry
    registry_id: pulumi.Output[str]
    repository: pulumi.Output[str]

    def __init__(self, name: str, folder_id: pulumi.Input[str], labels: dict[str, str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("vllm-datasphere:index:Registry", name, None, opts)
        self.registry = yandex.ContainerRegistry(
            name,
            folder_id=folder_id,
            name=name,
            labels=labels,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.registry_id = self.registry.id
        self.repository = pulumi.Output.concat(platform.REGISTRY_HOST, "/", self.registry.id, "/vllm")
        self.register_outputs({"registryId": self.registry_id, "repository": self.repository})
