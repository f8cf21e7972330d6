"""One role for one subject on a DataSphere project (the client service account's developer role)."""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import Resource

from components.cloud.access_binding import AccessBindingProvider
from components.datasphere.api import DatasphereClient


class ProjectAccessBindingProps(TypedDict, total=False):
    projectId: str
    roleId: str
    subjectId: str
    subjectType: str
    # Optional, as for every binding (components/cloud/access_binding.py); the stack sets none here.
    settleSeconds: float

class ProjectAccessBindingProvider(AccessBindingProvider[DatasphereClient]):
    client_class = DatasphereClient
    resource_key = "projectId"
    props_type = ProjectAccessBindingProps

    def list_bindings(self, resource_id: str) -> list[dict[str, Any]]:
        return self.client.list_project_access_bindings(resource_id)

    def change_binding(self, resource_id: str, action: str, binding: dict[str, Any]) -> None:
        self.client.update_project_access_bindings(resource_id, action, binding)


class ProjectAccessBinding(Resource, module="datasphere", name="ProjectAccessBinding"):
    def __init__(self, name: str, project_id: pulumi.Input[str], role_id: str,
                 subject_id: pulumi.Input[str], subject_type: str = "serviceAccount",
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(ProjectAccessBindingProvider(), name, {
            "projectId": project_id, "roleId": role_id, "subjectId": subject_id,
            "subjectType": subject_type,
        }, opts)
