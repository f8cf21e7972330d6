"""One role for one subject on one Cloud Registry: the push and pull rights, on the registry only."""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import Resource

from components.cloud.access_binding import AccessBindingProvider
from components.cloudregistry.api import CloudRegistryClient


class RegistryAccessBindingProps(TypedDict, total=False):
    registryId: str
    roleId: str
    subjectId: str
    subjectType: str
    settleSeconds: float

class RegistryAccessBindingProvider(AccessBindingProvider[CloudRegistryClient]):
    client_class = CloudRegistryClient
    resource_key = "registryId"
    props_type = RegistryAccessBindingProps

    def list_bindings(self, resource_id: str) -> list[dict[str, Any]]:
        return self.client.list_access_bindings(resource_id)

    def change_binding(self, resource_id: str, action: str, binding: dict[str, Any]) -> None:
        self.client.update_access_bindings(resource_id, action, binding)


class RegistryAccessBinding(Resource, module="cloudregistry", name="AccessBinding"):
    def __init__(self, name: str, registry_id: pulumi.Input[str], role_id: str,
                 subject_id: pulumi.Input[str], settle_seconds: float = 0.0,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(RegistryAccessBindingProvider(), name, {
            "registryId": registry_id, "roleId": role_id, "subjectId": subject_id,
            "subjectType": "serviceAccount", "settleSeconds": settle_seconds,
        }, opts)
