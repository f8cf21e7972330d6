"""The one module that speaks the Cloud Registry API (docs/cloud-registry-api.md).

Published calls only (cloudapi `yandex/cloud/cloudregistry/v1`). Changes carry an
Idempotency-Key, so the shared client may send them again after any retryable failure.
Note the access-bindings update is a POST on a registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from components.cloud.http import ApiClient


class CloudRegistryClient(ApiClient):
    hints: ClassVar[Mapping[int, str]] = {
        7: "the deployer needs cloud-registry.admin on the registry (or cloud-registry.editor and "
           "cloud-registry.admin on its folder to create one) (README, Prerequisites)",
    }

    def _url(self, path: str) -> str:
        return f"{self.endpoints.registry}/cloud-registry/v1/registries{path}"

    def start_registry(self, folder_id: str, name: str, kind: str, type_: str, description: str,
                       labels: Mapping[str, str]) -> dict[str, Any]:
        """POST the registry; its unfinished operation has `metadata.registryId` from the start."""
        body = {"folderId": folder_id, "name": name, "kind": kind, "type": type_, "description": description,
                "labels": dict(labels)}
        return self.call("POST", self._url(""), f"registry {name} in folder {folder_id}", body,
                         idempotent=True, missing=f"folder {folder_id} (folderId) is not found")

    def list_registries(self, folder_id: str) -> list[dict[str, Any]]:
        """Every registry of a folder, all pages (api-ref/Registry/list)."""
        return self.pages(self._url(f"?folderId={folder_id}"), f"registries of folder {folder_id}",
                          "registries")

    def get_registry(self, registry_id: str) -> dict[str, Any] | None:
        return self.get_or_none(self._url(f"/{registry_id}"), f"registry {registry_id}")

    def update_registry(self, registry_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """`changes` over name, labels, description: the only fields that change in place."""
        return self.patch(self._url(f"/{registry_id}"), f"registry {registry_id}", changes, list(changes))

    def force_delete_registry(self, registry_id: str) -> None:
        """Delete the registry with every image in it; already gone counts as done."""
        self.delete(self._url(f"/{registry_id}:forceDelete"), f"registry {registry_id}", method="POST")

    def list_access_bindings(self, registry_id: str) -> list[dict[str, Any]]:
        return self.pages(self._url(f"/{registry_id}:listAccessBindings"),
                          f"access bindings of registry {registry_id}", "accessBindings")

    def update_access_bindings(self, registry_id: str, action: str, binding: dict[str, Any]) -> None:
        """ADD or REMOVE one binding."""
        subject = binding["subject"]
        resource = f"{binding['roleId']} for {subject['type']} {subject['id']} on registry {registry_id}"
        body = {"accessBindingDeltas": [{"action": action, "accessBinding": binding}]}
        missing = (f"registry {registry_id} (registryId) or service account {subject['id']} is not found"
                   if action == "ADD" else None)
        operation = self.call("POST", self._url(f"/{registry_id}:updateAccessBindings"), resource, body,
                              idempotent=True, missing=missing)
        self.wait(operation, resource)
