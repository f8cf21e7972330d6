"""The one module that speaks the DataSphere API (see docs/datasphere-api.md).

Every path and field name of the published calls and of the contract fixed for the
unpublished ones (secrets, nodes, aliases) lives here, so a correction is a one-file change.
Callers pass and get plain Python values; the shared client (components/cloud/http.py) sends
them, retries what is worth retrying and waits for operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from components.cloud.http import ApiClient, HttpAnswer, send


@dataclass(frozen=True)
class NodeSpec:
    """What a node is made of; `node_body` maps it onto the contract's field names."""

    project_id: str
    folder_id: str
    name: str
    description: str
    labels: Mapping[str, str]
    image: str
    registry_username: str
    password_secret_name: str
    port: int
    timeout_seconds: int
    idle_timeout_seconds: int
    health_path: str
    instance_spec: str
    zone: str
    instance_count: int
    subnet_id: str
    acl_folder_ids: tuple[str, ...]
    maintenance_limit: int = 1


# Node paths the contract lets PATCH change in place.
NODE_UPDATABLE = ("name", "description", "labels", "folderId", "instanceSpec",
                  "zoneInstanceCount", "zoneSubnetId", "maintenanceLimit", "acl")


def node_body(spec: NodeSpec) -> dict[str, Any]:
    return {
        "projectId": spec.project_id,
        "folderId": spec.folder_id,
        "name": spec.name,
        "description": spec.description,
        "labels": dict(spec.labels),
        "docker": {"image": spec.image, "username": spec.registry_username,
                   "passwordSecretName": spec.password_secret_name},
        "endpoint": {"type": "HTTP", "port": spec.port, "timeoutSeconds": spec.timeout_seconds,
                     "idleTimeoutSeconds": spec.idle_timeout_seconds},
        "healthCheck": {"type": "HTTP", "port": spec.port, "path": spec.health_path,
                        "timeoutSeconds": 5, "intervalSeconds": 10, "failsThreshold": 3,
                        "passesThreshold": 1},
        "instanceSpec": spec.instance_spec,
        "zoneInstanceCount": {spec.zone: spec.instance_count},
        "zoneSubnetId": {spec.zone: spec.subnet_id},
        "maintenanceLimit": spec.maintenance_limit,
        "acl": {"folderIds": list(spec.acl_folder_ids)},
    }


class DatasphereClient(ApiClient):
    hints: ClassVar[Mapping[int, str]] = {
        7: "the deployer lacks a role on the DataSphere project or folder (README, Prerequisites)",
        8: "a quota or the project's spend limit is exhausted: raise it or use a smaller configuration",
    }

    def _v2(self, path: str) -> str:
        return f"{self.endpoints.datasphere}/datasphere/v2/{path}"

    # --- projects (published) --------------------------------------------------------------
    def get_project(self, project_id: str) -> dict[str, Any]:
        return self.call("GET", self._v2(f"projects/{project_id}"), f"project {project_id}")

    def get_community(self, community_id: str) -> dict[str, Any]:
        """The community a project belongs to; `zoneId` is where its nodes run (api-ref/Community/get)."""
        return self.call("GET", self._v2(f"communities/{community_id}"), f"community {community_id}")

    def update_project(self, project_id: str, settings: Mapping[str, str],
                       limits: Mapping[str, int | None],
                       labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        """PATCH only the given settings and limits (a None limit clears it), and the whole label map
        when `labels` is given (api-ref/Project/update: `labels` is one field of the mask)."""
        mask = [f"settings.{k}" for k in settings] + [f"limits.{k}" for k in limits]
        changes: dict[str, Any] = {"settings": dict(settings),
                                   "limits": {k: v for k, v in limits.items() if v is not None}}
        if labels is not None:
            mask.append("labels")
            changes["labels"] = dict(labels)
        return self.patch(self._v2(f"projects/{project_id}"), f"project {project_id}", changes, mask)

    def list_project_access_bindings(self, project_id: str) -> list[dict[str, Any]]:
        """Every binding on the project, all pages (api-ref/Project/listAccessBindings)."""
        return self.pages(self._v2(f"projects/{project_id}:accessBindings"),
                          f"access bindings of project {project_id}", "accessBindings")

    def update_project_access_bindings(self, project_id: str, action: str, binding: dict[str, Any]) -> None:
        """ADD or REMOVE one binding (api-ref/Project/updateAccessBindings: a PATCH here)."""
        subject = binding["subject"]
        resource = f"{binding['roleId']} for {subject['type']} {subject['id']} on project {project_id}"
        operation = self.call("PATCH", self._v2(f"projects/{project_id}:updateAccessBindings"), resource,
                              {"accessBindingDeltas": [{"action": action, "accessBinding": binding}]})
        self.wait(operation, resource)

    # --- secrets ---------------------------------------------------------------------------
    def create_secret(self, project_id: str, name: str, content: str, description: str,
                      labels: Mapping[str, str]) -> dict[str, Any]:
        body = {"projectId": project_id, "name": name, "description": description,
                "labels": dict(labels), "content": content}
        resource = f"secret {name} in project {project_id}"
        operation = self.call("POST", self._v2("secrets"), resource, body,
                              missing=f"project {project_id} (datasphereProjectId) is not found")
        return self.wait(operation, resource)

    def get_secret(self, secret_id: str) -> dict[str, Any] | None:
        return self.get_or_none(self._v2(f"secrets/{secret_id}"), f"secret {secret_id}")

    def update_secret(self, secret_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """`changes` over content, description, labels."""
        return self.patch(self._v2(f"secrets/{secret_id}"), f"secret {secret_id}", changes, list(changes))

    def delete_secret(self, secret_id: str) -> None:
        self.delete(self._v2(f"secrets/{secret_id}"), f"secret {secret_id}")

    # --- nodes -----------------------------------------------------------------------------
    def start_node(self, spec: NodeSpec) -> dict[str, Any]:
        """POST the node and return its unfinished operation (`metadata.nodeId` is set from the start)."""
        resource = f"node {spec.name} in project {spec.project_id}"
        missing = (f"project {spec.project_id} (datasphereProjectId), the folder, the subnet or the secret "
                   f"{spec.password_secret_name} the node names is not found")
        return self.call("POST", self._v2("nodes"), resource, node_body(spec), missing=missing)

    def get_node(self, node_id: str) -> dict[str, Any] | None:
        return self.get_or_none(self._v2(f"nodes/{node_id}"), f"node {node_id}")

    def update_node(self, node_id: str, spec: NodeSpec, mask: list[str]) -> dict[str, Any]:
        body = node_body(spec)
        unknown = set(mask) - set(NODE_UPDATABLE)
        if unknown:
            raise ValueError(f"node fields {sorted(unknown)} cannot change in place")
        return self.patch(self._v2(f"nodes/{node_id}"), f"node {node_id}", {k: body[k] for k in mask}, mask)

    def delete_node(self, node_id: str) -> None:
        self.delete(self._v2(f"nodes/{node_id}"), f"node {node_id}")

    # --- aliases ---------------------------------------------------------------------------
    def create_alias(self, project_id: str, folder_id: str, name: str, nodes: list[Mapping[str, Any]],
                     public: bool) -> dict[str, Any]:
        """`nodes`: each node's `nodeId` and `trafficPercent` (adding up to 100)."""
        body = {"projectId": project_id, "folderId": folder_id, "name": name, "public": public,
                "nodes": _alias_nodes(nodes), "metadata": {}}
        resource = f"alias {name} in project {project_id}"
        node_ids = ", ".join(str(n["nodeId"]) for n in nodes)
        missing = f"project {project_id} (datasphereProjectId) or node {node_ids} is not found"
        operation = self.call("POST", self._v2("aliases"), resource, body, missing=missing)
        return self.wait(operation, resource)

    def get_alias(self, alias_id: str) -> dict[str, Any] | None:
        return self.get_or_none(self._v2(f"aliases/{alias_id}"), f"alias {alias_id}")

    def update_alias(self, alias_id: str, nodes: list[Mapping[str, Any]], public: bool) -> dict[str, Any]:
        changes = {"nodes": _alias_nodes(nodes), "public": public}
        return self.patch(self._v2(f"aliases/{alias_id}"), f"alias {alias_id}", changes, ["nodes", "public"])

    def delete_alias(self, alias_id: str) -> None:
        self.delete(self._v2(f"aliases/{alias_id}"), f"alias {alias_id}")

    # --- the contract's read-only calls (components/datasphere/contract.py checks them) ------
    def list_first(self, collection: str, project_id: str) -> Any:
        """`GET /datasphere/v2/<collection>?projectId=...`: the first page, of one item at most."""
        return self.call("GET", self._v2(f"{collection}?projectId={project_id}&pageSize=1"),
                         f"{collection} of project {project_id}")

    # --- node-api (published) --------------------------------------------------------------
    def probe_models(self, folder_id: str, node_id: str) -> HttpAnswer:
        """One `GET /v1/models` through node-api, no retries: the caller is already polling."""
        headers = {"Authorization": f"Bearer {self.token()}", "x-node-id": node_id,
                   "x-folder-id": folder_id}
        return send("GET", f"{self.endpoints.node_api}/v1/models", headers, None,
                    self.timing.request_timeout)


def _alias_nodes(nodes: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"nodeId": n["nodeId"], "trafficPercent": int(n["trafficPercent"])} for n in nodes]


def alias_full_name(name: str) -> str:
    return f"datasphere.user.{name}"


def alias_headers(alias_name: str, folder_id: str) -> dict[str, str]:
    """What a client sends, besides its bearer token, to call the node behind an alias."""
    return {"x-node-alias": alias_full_name(alias_name), "x-folder-id": folder_id}


def describe_answer(answer: HttpAnswer) -> str:
    """A short description of a node-api answer for error messages (no headers, no token)."""
    return f"HTTP {answer.status} {answer.text[:120]!r}"
