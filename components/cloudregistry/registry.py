"""A Cloud Registry the stack creates, owns and, on destroy, empties and deletes.

The registry id is known from the create call's first answer (`metadata.registryId`), so a
create that fails while the operation runs deletes what it started: nothing is left behind.
Name, labels and description change in place (with an update mask); a change of folder, kind
or type is a new registry (the stack's own registry is always a local Docker one, so only a
move to another folder does that in practice). A registry the stack did not create (config
`registryId`) is never declared as this resource, so nothing here can delete it.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    UpdateResult,
)

from components.cloud.http import ApiError
from components.cloud.provider import (
    CloudProvider,
    Inputs,
    delete_after_failure,
    is_known,
    require_text,
)
from components.cloudregistry.api import CloudRegistryClient

NAME = re.compile(r"^[a-z][-a-z0-9]{1,61}[a-z0-9]$")
# Source: cloudapi yandex/cloud/cloudregistry/v1/registry.proto (Registry.Kind, Registry.Type);
# TRANSITIONAL is left out: only a migration from Container Registry makes one.
KINDS = ("DOCKER", "MAVEN", "NPM", "NUGET", "DEBIAN", "PYPI", "BINARY", "GO")
TYPES = ("LOCAL", "REMOTE", "VIRTUAL")
IN_PLACE = ("name", "labels", "description")
REPLACE = ("folderId", "kind", "type")


def _outputs(props: RegistryProps, registry: dict[str, Any]) -> dict[str, Any]:
    current = {key: registry[key] for key in (*REPLACE, *IN_PLACE) if key in registry}
    return {**props, **current, "status": registry.get("status", props.get("status", ""))}


class RegistryProps(TypedDict, total=False):
    folderId: str
    name: str
    kind: str
    type: str
    description: str
    labels: dict[str, str]
    status: str

class RegistryProvider(CloudProvider[CloudRegistryClient]):
    props_type = RegistryProps
    # status is a placeholder for the output the API gives.
    inputs = Inputs(in_place=IN_PLACE, replace=REPLACE, ignored=("status",))
    client_class = CloudRegistryClient

    def check(self, _olds: RegistryProps, news: RegistryProps) -> CheckResult:
        failures = require_text(news, ["folderId", "kind", "type"])
        for key, allowed in (("kind", KINDS), ("type", TYPES)):
            value = news.get(key)
            if is_known(value) and isinstance(value, str) and value and value not in allowed:
                failures.append(CheckFailure(key, f"{key} {value!r} is not one of {', '.join(allowed)}"))
        name = news.get("name")
        if is_known(name) and name and not (isinstance(name, str) and NAME.match(name)):
            failures.append(CheckFailure("name", f"registry name {name!r} must be 3-63 lowercase letters, "
                                         "digits and hyphens, starting with a letter and not ending with a "
                                         "hyphen"))
        return CheckResult(news, failures)

    def create(self, props: RegistryProps) -> CreateResult:
        resource = f"registry {props.get('name') or '(unnamed)'} in folder {props['folderId']}"
        operation = self.client.start_registry(props["folderId"], props.get("name", ""), props["kind"],
                                               props["type"], props.get("description", ""),
                                               props.get("labels") or {})
        registry_id = (operation.get("metadata") or {}).get("registryId")
        try:
            registry = self.client.wait(operation, resource)
        except ApiError as error:
            cleanup = delete_after_failure("registry", registry_id, self.client.force_delete_registry)
            raise RuntimeError(f"{error} {cleanup}") from None
        return CreateResult(registry.get("id", registry_id), _outputs(props, registry))

    def diff(self, _id: str, olds: RegistryProps, news: RegistryProps) -> DiffResult:
        """A new registry in the same folder under the same name must wait for the old one to go
        (names are taken as unique per folder); elsewhere the new one comes first."""
        result = self.inputs.diff(olds, news)
        same_name = bool(news.get("name")) and olds.get("name") == news.get("name")
        if result.replaces and "folderId" not in result.replaces and same_name:
            result.delete_before_replace = True
        return result

    def update(self, id_: str, olds: RegistryProps, news: RegistryProps) -> UpdateResult:
        changes = {key: news.get(key) for key in IN_PLACE if olds.get(key) != news.get(key)}
        registry = self.client.update_registry(id_, changes) if changes else {}
        return UpdateResult(_outputs(news, registry))

    def read(self, id_: str, props: RegistryProps) -> ReadResult:
        registry = self.client.get_registry(id_)
        if registry is None:
            return ReadResult("", {})
        registry.setdefault("description", "")
        registry.setdefault("labels", {})
        return ReadResult(id_, _outputs(props, registry))

    def delete(self, id_: str, _props: RegistryProps) -> None:
        self.client.force_delete_registry(id_)


class CloudRegistry(Resource, module="cloudregistry", name="Registry"):
    """Its id is the registry id."""

    status: pulumi.Output[str]

    def __init__(self, name: str, folder_id: pulumi.Input[str], registry_name: str, description: str,
                 labels: dict[str, str], kind: str = "DOCKER", type_: str = "LOCAL",
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(RegistryProvider(), name, {
            "folderId": folder_id, "name": registry_name, "kind": kind, "type": type_,
            "description": description, "labels": labels, "status": None,
        }, opts)
