"""The one module that speaks the DataSphere API (see ../shared/datasphere-api.md).

Every path and field name of the published calls and of the contract fixed for the
unpublished ones (secrets, nodes, aliases) lives here, so a correction is a one-file change.
Callers pass and get plain Python values; this module turns them into requests, retries what
is worth retrying, waits for operations and turns failures into `ApiError`s that name the
resource and suggest a fix, without ever including a token or secret content.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# gRPC status codes as the Yandex Cloud APIs report them.
GRPC_CODE_NAMES = {
    1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}
HINTS = {
    3: "a value was refused: check the stack config named in the message",
    5: "it was deleted outside Pulumi: run `pulumi refresh`",
    6: "a resource of that name exists already: pick another name or `pulumi import` it",
    7: "the deployer lacks a role on the DataSphere project or folder (README, Prerequisites)",
    8: "a quota or the project's spend limit is exhausted: raise it or use a smaller configuration",
    9: "the project or resource is in a state that does not allow this yet: retry, or check the console",
    16: "the token is missing or expired: set YC_TOKEN or yandex:serviceAccountKeyFile",
}
RETRYABLE_STATUS = frozenset({429, 500, 503, 504})
# Statuses that mean the server did not act on the request, so even a POST may be sent again.
NOT_PROCESSED_STATUS = frozenset({429, 503})


@dataclass(frozen=True)
class Endpoints:
    datasphere: str = "https://datasphere.api.cloud.yandex.net"
    operation: str = "https://operation.api.cloud.yandex.net"
    iam: str = "https://iam.api.cloud.yandex.net"
    node_api: str = "https://node-api.datasphere.yandexcloud.net"


@dataclass(frozen=True)
class Timing:
    """Waits and deadlines; tests and the benchmark inject small intervals and a fake clock."""

    poll_interval: float = 10.0
    retry_deadline: float = 120.0
    request_timeout: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[], float] = random.random

    def backoff(self, attempt: int, base: float) -> float:
        """Capped exponential backoff with full jitter in the upper half."""
        delay = min(self.poll_interval, base * 2 ** attempt)
        return delay * (0.5 + 0.5 * self.jitter())


class ApiError(Exception):
    """A failed call: HTTP status, gRPC code, the resource it was about and what to do."""

    def __init__(self, status: int | None, code: int | None, message: str, resource: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.resource = resource
        name = GRPC_CODE_NAMES.get(code or 0, "UNKNOWN")
        self.code_name = name
        hint = HINTS.get(code or 0, "retry later; if it persists, check the DataSphere console")
        where = f"HTTP {status}, " if status else ""
        super().__init__(f"{resource}: {name} ({where}code {code}): {message}. Hint: {hint}")

    @property
    def not_found(self) -> bool:
        return self.status == 404 or self.code == 5


class OperationFailed(ApiError):
    """An operation that finished with `error`."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: Any
    text: str


def _decode(raw: bytes) -> tuple[Any, str]:
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text), text
    except json.JSONDecodeError:
        return None, text


def send(method: str, url: str, headers: Mapping[str, str], body: Any | None,
         timeout: float) -> HttpAnswer:
    """One HTTP exchange; connection failures raise `ConnectionError`."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,  # noqa: S310 - URLs from config
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            parsed, text = _decode(response.read())
            return HttpAnswer(response.status, parsed, text)
    except urllib.error.HTTPError as error:
        parsed, text = _decode(error.read())
        return HttpAnswer(error.code, parsed, text)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise ConnectionError(f"{method} {url.split('?')[0]}: {getattr(error, 'reason', error)}") from None


@dataclass(frozen=True)
class NodeSpec:
    """What a node is made of; `node_body` maps it onto the contract's field names."""

    project_id: str
    folder_id: str
    name: str
    description: str
    labels: Mapping[str, str]
    image: str
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
        "docker": {"image": spec.image, "username": "json_key",
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


@dataclass
class DatasphereClient:
    endpoints: Endpoints
    token: Callable[[], str]
    timing: Timing = field(default_factory=Timing)

    # --- transport --------------------------------------------------------------------------
    def call(self, method: str, url: str, resource: str, body: Any | None = None,
             headers: Mapping[str, str] | None = None) -> Any:
        """A management call with retries for 429/5xx and connection errors, within a deadline."""
        deadline = self.timing.clock() + self.timing.retry_deadline
        retryable = NOT_PROCESSED_STATUS if method == "POST" else RETRYABLE_STATUS
        attempt = 0
        while True:
            try:
                answer = send(method, url, {"Authorization": f"Bearer {self.token()}", **(headers or {})},
                              body, self.timing.request_timeout)
            except ConnectionError as error:
                if self.timing.clock() >= deadline:
                    raise ApiError(None, 14, str(error), resource) from None
            else:
                if answer.status < 400:
                    return answer.body
                if answer.status not in retryable or self.timing.clock() >= deadline:
                    raise self._error(answer, resource)
            self.timing.sleep(self.timing.backoff(attempt, base=self.timing.poll_interval / 20))
            attempt += 1

    @staticmethod
    def _error(answer: HttpAnswer, resource: str) -> ApiError:
        body = answer.body if isinstance(answer.body, dict) else {}
        return ApiError(answer.status, body.get("code"), body.get("message") or answer.text[:200], resource)

    def wait(self, operation: dict[str, Any], resource: str) -> dict[str, Any]:
        """Poll an operation until done; its `response`, or `OperationFailed`."""
        attempt = 0
        while not operation.get("done"):
            self.timing.sleep(self.timing.backoff(attempt, base=self.timing.poll_interval / 8))
            attempt += 1
            operation = self.call("GET", f"{self.endpoints.operation}/operations/{operation['id']}",
                                  resource)
        if "error" in operation:
            error = operation["error"]
            raise OperationFailed(None, error.get("code"), error.get("message", ""), resource)
        return operation.get("response") or {}

    def _v2(self, path: str) -> str:
        return f"{self.endpoints.datasphere}/datasphere/v2/{path}"

    def _patch(self, path: str, resource: str, changes: dict[str, Any], mask: list[str]) -> dict[str, Any]:
        body = {"updateMask": ",".join(mask), **changes}
        return self.wait(self.call("PATCH", self._v2(path), resource, body), resource)

    def _delete(self, path: str, resource: str) -> None:
        """Delete and wait; already gone counts as done."""
        try:
            self.wait(self.call("DELETE", self._v2(path), resource), resource)
        except ApiError as error:
            if not error.not_found:
                raise

    def _get_or_none(self, path: str, resource: str) -> dict[str, Any] | None:
        try:
            return self.call("GET", self._v2(path), resource)
        except ApiError as error:
            if error.not_found:
                return None
            raise

    # --- projects (published) --------------------------------------------------------------
    def get_project(self, project_id: str) -> dict[str, Any]:
        return self.call("GET", self._v2(f"projects/{project_id}"), f"project {project_id}")

    def update_project(self, project_id: str, settings: Mapping[str, str],
                       limits: Mapping[str, int | None]) -> dict[str, Any]:
        """PATCH only the given settings and limits; a None limit clears it."""
        mask = [f"settings.{k}" for k in settings] + [f"limits.{k}" for k in limits]
        changes = {"settings": dict(settings), "limits": {k: v for k, v in limits.items() if v is not None}}
        return self._patch(f"projects/{project_id}", f"project {project_id}", changes, mask)

    def list_project_access_bindings(self, project_id: str) -> list[dict[str, Any]]:
        """Every binding on the project, all pages (api-ref/Project/listAccessBindings)."""
        bindings: list[dict[str, Any]] = []
        page = ""
        while True:
            query = f"?pageSize=1000&pageToken={page}" if page else "?pageSize=1000"
            answer = self.call("GET", self._v2(f"projects/{project_id}:accessBindings{query}"),
                               f"access bindings of project {project_id}")
            bindings.extend(answer.get("accessBindings") or [])
            page = answer.get("nextPageToken") or ""
            if not page:
                return bindings

    def update_project_access_bindings(self, project_id: str, action: str, role_id: str,
                                       subject_id: str, subject_type: str) -> None:
        """ADD or REMOVE one binding (api-ref/Project/updateAccessBindings)."""
        delta = {"action": action, "accessBinding": {
            "roleId": role_id, "subject": {"id": subject_id, "type": subject_type}}}
        resource = f"{role_id} for {subject_type} {subject_id} on project {project_id}"
        operation = self.call("PATCH", self._v2(f"projects/{project_id}:updateAccessBindings"), resource,
                              {"accessBindingDeltas": [delta]})
        self.wait(operation, resource)

    # --- secrets ---------------------------------------------------------------------------
    def create_secret(self, project_id: str, name: str, content: str, description: str,
                      labels: Mapping[str, str]) -> dict[str, Any]:
        body = {"projectId": project_id, "name": name, "description": description,
                "labels": dict(labels), "content": content}
        resource = f"secret {name} in project {project_id}"
        return self.wait(self.call("POST", self._v2("secrets"), resource, body), resource)

    def get_secret(self, secret_id: str) -> dict[str, Any] | None:
        return self._get_or_none(f"secrets/{secret_id}", f"secret {secret_id}")

    def update_secret(self, secret_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """`changes` over content, description, labels."""
        return self._patch(f"secrets/{secret_id}", f"secret {secret_id}", changes, list(changes))

    def delete_secret(self, secret_id: str) -> None:
        self._delete(f"secrets/{secret_id}", f"secret {secret_id}")

    # --- nodes -----------------------------------------------------------------------------
    def start_node(self, spec: NodeSpec) -> dict[str, Any]:
        """POST the node and return its unfinished operation (`metadata.nodeId` is set from the start)."""
        resource = f"node {spec.name} in project {spec.project_id}"
        return self.call("POST", self._v2("nodes"), resource, node_body(spec))

    def get_node(self, node_id: str) -> dict[str, Any] | None:
        return self._get_or_none(f"nodes/{node_id}", f"node {node_id}")

    def update_node(self, node_id: str, spec: NodeSpec, mask: list[str]) -> dict[str, Any]:
        body = node_body(spec)
        unknown = set(mask) - set(NODE_UPDATABLE)
        if unknown:
            raise ValueError(f"node fields {sorted(unknown)} cannot change in place")
        return self._patch(f"nodes/{node_id}", f"node {node_id}", {k: body[k] for k in mask}, mask)

    def delete_node(self, node_id: str) -> None:
        self._delete(f"nodes/{node_id}", f"node {node_id}")

    # --- aliases ---------------------------------------------------------------------------
    def create_alias(self, project_id: str, folder_id: str, name: str, node_id: str,
                     public: bool) -> dict[str, Any]:
        body = {"projectId": project_id, "folderId": folder_id, "name": name, "public": public,
                "nodes": [{"nodeId": node_id, "trafficPercent": 100}], "metadata": {}}
        resource = f"alias {name} in project {project_id}"
        return self.wait(self.call("POST", self._v2("aliases"), resource, body), resource)

    def get_alias(self, alias_id: str) -> dict[str, Any] | None:
        return self._get_or_none(f"aliases/{alias_id}", f"alias {alias_id}")

    def update_alias(self, alias_id: str, node_id: str, public: bool) -> dict[str, Any]:
        changes = {"nodes": [{"nodeId": node_id, "trafficPercent": 100}], "public": public}
        return self._patch(f"aliases/{alias_id}", f"alias {alias_id}", changes, ["nodes", "public"])

    def delete_alias(self, alias_id: str) -> None:
        self._delete(f"aliases/{alias_id}", f"alias {alias_id}")

    # --- node-api (published) --------------------------------------------------------------
    def probe_models(self, folder_id: str, node_id: str) -> HttpAnswer:
        """One `GET /v1/models` through node-api, no retries: the caller is already polling."""
        headers = {"Authorization": f"Bearer {self.token()}", "x-node-id": node_id,
                   "x-folder-id": folder_id}
        return send("GET", f"{self.endpoints.node_api}/v1/models", headers, None,
                    self.timing.request_timeout)


def alias_full_name(name: str) -> str:
    return f"datasphere.user.{name}"


def alias_headers(alias_name: str, folder_id: str) -> dict[str, str]:
    """What a client sends, besides its bearer token, to call the node behind an alias."""
    return {"x-node-alias": alias_full_name(alias_name), "x-folder-id": folder_id}


def describe_answer(answer: HttpAnswer) -> str:
    """A short description of a node-api answer for error messages (no headers, no token)."""
    return f"HTTP {answer.status} {answer.text[:120]!r}"
