"""The DataSphere node serving the vLLM image, ready when create returns.

Create waits for the operation, then for readiness: `GET /v1/models` through node-api
answers 200 and lists the served model (a node reports HEALTHY long before the model is
loaded; 503s meanwhile are expected). If anything fails, the node is deleted and the error
says what was last seen and what usually causes it. Changing the image, endpoint or health
check replaces the node, create-before-delete, so the alias can move to the new, ready node
before the old one goes.
"""

from __future__ import annotations

from dataclasses import dataclass
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

from components.cloud.http import ApiError, HttpAnswer
from components.cloud.provider import (
    Inputs,
    delete_after_failure,
    is_known,
    require_text,
    whole_number,
)
from components.datasphere.api import DatasphereClient, NodeSpec, describe_answer
from components.datasphere.provider import DatasphereProvider


class NodeProps(TypedDict, total=False):
    """The node's inputs (numbers cross the engine's boundary as floats)."""

    projectId: str
    folderId: str
    name: str
    description: str
    labels: dict[str, str]
    image: str
    registryUsername: str
    passwordSecretName: str
    port: float
    requestTimeoutSeconds: float
    idleTimeoutSeconds: float
    healthPath: str
    instanceSpec: str
    zone: str
    instanceCount: float
    subnetId: str
    aclFolderIds: list[str]
    servedModelName: str
    readyTimeoutMinutes: float
    keepFailedNode: bool


class NodeState(NodeProps, total=False):
    """The inputs and what refresh reads besides."""

    status: str

# Node inputs the API can change in place (NODE_UPDATABLE), keyed by our input names.
IN_PLACE_FIELDS = {
    "name": ["name"], "description": ["description"], "labels": ["labels"], "folderId": ["folderId"],
    "instanceSpec": ["instanceSpec"], "instanceCount": ["zoneInstanceCount"],
    "zone": ["zoneInstanceCount", "zoneSubnetId"], "subnetId": ["zoneSubnetId"],
    "aclFolderIds": ["acl"],
}
REPLACE_FIELDS = ("projectId", "image", "registryUsername", "passwordSecretName", "port",
                  "requestTimeoutSeconds", "idleTimeoutSeconds", "healthPath")
# Provider-side settings: they change how create waits (and what it does after a failed start), not the node.
LOCAL_FIELDS = ("servedModelName", "readyTimeoutMinutes", "keepFailedNode")
LIKELY_CAUSES = (
    "the node cannot pull the image (the pull key secret, or the puller role on the registry)",
    "the model does not fit the GPU memory of the configuration",
    "the weights cannot be downloaded (no NAT route, a gated model without a token)",
)


class NodeStartFailed(Exception):
    """Create failed; the node was deleted. The message has what was last seen."""


def spec_from(props: NodeProps) -> NodeSpec:
    # Whole numbers arrive from the engine as floats; the API wants integers.
    return NodeSpec(
        project_id=props["projectId"], folder_id=props["folderId"], name=props["name"],
        description=props.get("description", ""), labels=props.get("labels") or {},
        image=props["image"], registry_username=props["registryUsername"],
        password_secret_name=props["passwordSecretName"], port=int(props["port"]),
        timeout_seconds=int(props["requestTimeoutSeconds"]),
        idle_timeout_seconds=int(props["idleTimeoutSeconds"]),
        health_path=props["healthPath"], instance_spec=props["instanceSpec"], zone=props["zone"],
        instance_count=int(props["instanceCount"]), subnet_id=props["subnetId"],
        acl_folder_ids=tuple(props.get("aclFolderIds") or ()),
    )


def serves_model(answer: HttpAnswer, model: str) -> bool:
    if answer.status != 200 or not isinstance(answer.body, dict):
        return False
    return any(entry.get("id") == model for entry in answer.body.get("data") or [])


@dataclass
class Readiness:
    """What the wait last saw, for the error message."""

    node_status: str = "unknown"
    last_answer: str = "no probe had run yet"

    def describe(self) -> str:
        return f"last node status {self.node_status}, last /v1/models answer {self.last_answer}"


def probe(client: DatasphereClient, folder_id: str, node_id: str, model: str, seen: Readiness
          ) -> tuple[bool, bool]:
    """One look at `/v1/models`: whether it serves `model`, and whether the answer is a loading node's."""
    try:
        answer = client.probe_models(folder_id, node_id)
    except ConnectionError as error:
        seen.last_answer = f"connection error: {error}"
        return False, True
    seen.last_answer = describe_answer(answer)
    # 503 is the model loading; anything else may mean the node changed: look again.
    return serves_model(answer, model), answer.status == 503


def wait_until_serving(client: DatasphereClient, node_id: str, folder_id: str, model: str,
                       timeout_seconds: float, seen: Readiness, node: dict[str, Any] | None = None) -> None:
    """Return once node-api lists `model`, at most one poll interval after it does.

    Until the node is HEALTHY its status is polled with backoff (`node`, the operation's answer, may
    say so already, saving a read). The model loads only after that, so the first probe of
    `/v1/models` comes one interval later, and each next one exactly one interval after the start of
    the last: a start-up of unknown length needs a probe in every interval to be seen within one, and
    a shorter gap (jitter, backoff) would only add calls. At the deadline it looks once more, unless it
    just did, so that a start shorter than one interval is never failed unseen. These poll one node;
    they retry nothing.
    """
    timing = client.timing
    deadline = timing.clock() + timeout_seconds
    attempt = 0
    probed_at: float | None = None
    probe_at: float | None = None  # when /v1/models is probed next; None until the node is HEALTHY
    while True:
        wait = timing.backoff(attempt, base=timing.poll_interval / 8)
        if probe_at is None:
            if node is None:
                node = client.get_node(node_id)
                attempt += 1
                if node is None:
                    raise NodeStartFailed(f"node {node_id} disappeared while starting ({seen.describe()})")
            seen.node_status = node.get("status", "unknown")
            if seen.node_status == "HEALTHY":
                probe_at = timing.clock() + (0.0 if probed_at is not None else timing.poll_interval)
            node = None
        if probe_at is not None and timing.clock() >= probe_at:
            probed_at = timing.clock()
            served, loading = probe(client, folder_id, node_id, model, seen)
            if served:
                return
            probe_at = probed_at + timing.poll_interval if loading else None
        if probe_at is not None:
            wait = probe_at - timing.clock()
        if timing.clock() >= deadline:
            if probed_at != timing.clock() and probe(client, folder_id, node_id, model, seen)[0]:
                return
            raise TimeoutError(f"not serving {model!r} within {timeout_seconds / 60:g} min")
        timing.sleep(max(0.0, min(wait, deadline - timing.clock())))


class NodeProvider(DatasphereProvider):
    props_type = NodeProps
    inputs = Inputs(in_place=(*IN_PLACE_FIELDS, *LOCAL_FIELDS), replace=REPLACE_FIELDS)

    def check(self, _olds: NodeState, news: NodeProps) -> CheckResult:
        failures = require_text(news, ["projectId", "folderId", "name", "image", "registryUsername",
                                       "passwordSecretName", "instanceSpec", "zone", "subnetId",
                                       "servedModelName", "healthPath"])
        image = news.get("image")
        if is_known(image) and isinstance(image, str) and "@sha256:" not in image:
            failures.append(CheckFailure("image", f"image {image!r} must be pinned by digest "
                                         "(repo@sha256:...), or a rebuilt image would not roll out"))
        news = dict(news)
        for key, low, high in (("port", 1, 65535), ("requestTimeoutSeconds", 1, 3600),
                               ("idleTimeoutSeconds", 1, 86400), ("instanceCount", 1, 64)):
            value = news.get(key)
            if not is_known(value):
                continue
            number = whole_number(value)
            if number is None or not low <= number <= high:
                failures.append(CheckFailure(key, f"{key} must be a whole number from {low} to {high}, "
                                             f"got {value!r}"))
            else:
                news[key] = number
        minutes = news.get("readyTimeoutMinutes")
        if is_known(minutes) and not (isinstance(minutes, int | float) and minutes > 0):
            failures.append(CheckFailure("readyTimeoutMinutes",
                                         f"readyTimeoutMinutes must be a number above 0, got {minutes!r}"))
        return CheckResult(news, failures)

    def _wait_ready(self, props: NodeProps, node_id: str, seen: Readiness,
                    node: dict[str, Any] | None = None) -> None:
        wait_until_serving(self.client, node_id, props["folderId"], props["servedModelName"],
                           float(props["readyTimeoutMinutes"]) * 60, seen, node)

    def create(self, props: NodeProps) -> CreateResult:
        resource = f"node {props['name']}"
        seen = Readiness()
        node_id = None
        try:
            operation = self.client.start_node(spec_from(props))
            node_id = (operation.get("metadata") or {}).get("nodeId")
            node = self.client.wait(operation, resource)
            node_id = node.get("id", node_id)
            self._wait_ready(props, node_id, seen, node)
        except (ApiError, TimeoutError, ConnectionError, NodeStartFailed) as error:
            cleanup = (self._kept(props) if props.get("keepFailedNode") and node_id
                       else delete_after_failure("node", node_id, self.client.delete_node))
            causes = "; ".join(LIKELY_CAUSES)
            raise NodeStartFailed(
                f"{resource} (id {node_id or 'not assigned'}) did not start: {error}. "
                f"Seen: {seen.describe()}. {cleanup} Likely causes: {causes}."
            ) from None
        return CreateResult(node_id, props)

    @staticmethod
    def _kept(props: NodeProps) -> str:
        return ("The node was kept (keepFailedNode) so that its logs can be read: DataSphere console, "
                f"project {props['projectId']}, Nodes, {props['name']}, Logs. It takes no traffic (the alias "
                "moves to a node only once it serves) but it bills while it runs, and Pulumi does not own "
                "it: delete it there when done.")

    def diff(self, _id: str, olds: NodeState, news: NodeProps) -> DiffResult:
        return self.inputs.diff(olds, news)

    def update(self, id_: str, olds: NodeState, news: NodeProps) -> UpdateResult:
        mask = sorted({path for key, paths in IN_PLACE_FIELDS.items()
                       if olds.get(key) != news.get(key) for path in paths})
        if mask:
            self.client.update_node(id_, spec_from(news), mask)
            seen = Readiness()
            try:
                self._wait_ready(news, id_, seen)
            except (TimeoutError, NodeStartFailed) as error:
                raise NodeStartFailed(f"node {news['name']} ({id_}) updated ({', '.join(mask)}) but is not "
                                      f"serving: {error}. Seen: {seen.describe()}.") from None
        return UpdateResult(news)

    def read(self, id_: str, props: NodeState) -> ReadResult:
        node = self.client.get_node(id_)
        if node is None:
            return ReadResult("", {})
        counts = node.get("zoneInstanceCount") or {}
        zone = next(iter(counts), props.get("zone"))
        current = {
            "projectId": node.get("projectId"), "folderId": node.get("folderId"), "name": node.get("name"),
            "description": node.get("description", ""), "labels": node.get("labels") or {},
            "image": (node.get("docker") or {}).get("image"),
            "registryUsername": (node.get("docker") or {}).get("username"),
            "passwordSecretName": (node.get("docker") or {}).get("passwordSecretName"),
            "port": (node.get("endpoint") or {}).get("port"),
            "requestTimeoutSeconds": (node.get("endpoint") or {}).get("timeoutSeconds"),
            "idleTimeoutSeconds": (node.get("endpoint") or {}).get("idleTimeoutSeconds"),
            "healthPath": (node.get("healthCheck") or {}).get("path"),
            "instanceSpec": node.get("instanceSpec"), "zone": zone,
            "instanceCount": counts.get(zone), "subnetId": (node.get("zoneSubnetId") or {}).get(zone),
            "aclFolderIds": list((node.get("acl") or {}).get("folderIds") or []),
            "status": node.get("status"),
        }
        return ReadResult(id_, {**props, **current})

    def delete(self, id_: str, _props: NodeState) -> None:
        self.client.delete_node(id_)


class Node(Resource, module="datasphere", name="Node"):
    """Its id is the node id."""

    def __init__(self, name: str, props: NodeProps, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(NodeProvider(), name, props, opts)

