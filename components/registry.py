"""The Cloud Registry the vLLM image is pushed to: one the stack creates, or an existing `registryId`.

An existing registry is read at preview, so a wrong id, or one that cannot hold a pushed Docker
image, stops the preview before anything is created. The stack never changes or deletes it: it
only adds its own role bindings there (and removes them on destroy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components import platform
from components.cloud.credentials import CredentialsError
from components.cloud.http import ApiError
from components.cloud.provider import program_client
from components.cloudregistry.api import CloudRegistryClient
from components.cloudregistry.registry import CloudRegistry
from components.config_parsing import ConfigProblem
from components.settings import Settings

FIX_OWN_REGISTRY = "or pulumi config rm registryId to let the stack create its own"


def registry_problems(settings: Settings) -> list[ConfigProblem]:
    """Why `registryId` cannot be used: not found, not readable, or not a registry a Docker image can be
    pushed to (empty: it can, or the stack makes its own)."""
    if not settings.registry_id:
        return []
    registry_id = settings.registry_id

    def refuse(message: str) -> list[ConfigProblem]:
        return [ConfigProblem("registryId", registry_id, message)]

    try:
        registry = program_client(CloudRegistryClient).get_registry(registry_id)
    except (ApiError, CredentialsError) as error:
        return refuse(f"could not be read: {error}. Fix: give the deployer cloud-registry.viewer (and "
                      f"cloud-registry.admin, to grant the stack's roles) on it, {FIX_OWN_REGISTRY}")
    if registry is None:
        return refuse("is not found (deleted, or in a cloud these credentials cannot see). Fix: pulumi "
                      "config set registryId <id from `yc cloud-registry registry list`>, "
                      f"{FIX_OWN_REGISTRY}")
    kind, type_ = registry.get("kind"), registry.get("type")
    if kind != platform.REGISTRY_KIND:
        return refuse(f"is a {kind} registry ({registry.get('name')}), not a Docker one. Fix: set "
                      f"registryId to a Docker registry, {FIX_OWN_REGISTRY}")
    if type_ not in platform.PUSHABLE_REGISTRY_TYPES:
        return refuse(f"is a {type_} Docker registry ({registry.get('name')}), which takes no pushes. "
                      f"Fix: set registryId to a LOCAL Docker registry, {FIX_OWN_REGISTRY}")
    return []


@dataclass(frozen=True)
class RegistryArgs:
    """An existing Cloud Registry (`registry_id`), or the one to create in `folder_id`."""

    registry_id: str | None
    folder_id: pulumi.Input[str]
    labels: Mapping[str, str]


class Registry(pulumi.ComponentResource):
    registry: CloudRegistry | None
    registry_id: pulumi.Output[str]
    repository: pulumi.Output[str]

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("vllm-datasphere:index:Registry", name, None, opts)
        if args.registry_id:
            self.registry = None
            self.registry_id = pulumi.Output.from_input(args.registry_id)
        else:
            self.registry = CloudRegistry(
                name, folder_id=args.folder_id, registry_name=name,
                description=f"vLLM images of stack {args.labels['stack']} (managed by Pulumi)",
                labels=dict(args.labels), kind=platform.REGISTRY_KIND, type_=platform.REGISTRY_TYPE,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.registry_id = self.registry.id
        self.repository = pulumi.Output.concat(
            platform.REGISTRY_HOST, "/", self.registry_id, "/", platform.IMAGE_REPOSITORY)
        self.register_outputs({"registryId": self.registry_id, "repository": self.repository})
