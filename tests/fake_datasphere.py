"""A fake DataSphere on 127.0.0.1 that behaves as docs/datasphere-api.md says.

One HTTP server plays the management API, the operation API, IAM, node-api and, through
`tests/fake_cloud_registry.py`, Cloud Registry and IAM API keys (their paths do not overlap).
It checks the bearer token and update masks, answers changes with unfinished operations that
finish after a few polls, keeps a started node answering 503 on `/v1/models` until its warm-up
has passed, injects faults on request, and records every request.
Time comes from an injectable clock, so a ten-minute start-up can be simulated.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fake_access import apply_deltas, page_of
from tests.fake_cloud_registry import FakeCloudRegistry
from tests.http_json import ApiFailure, PlainText, send_json

IAM_TOKEN = "t1.fake-iam-token-9f3e"
OAUTH_TOKEN = "y0_fake-oauth-token-1c2d"
API = "/datasphere/v2/"
# The contract's list calls (docs/datasphere-api.md): GET /datasphere/v2/<collection>?projectId=...
LISTED = ("nodes", "aliases", "secrets")
ORIGINAL_SETTINGS = {"serviceAccountId": "ajeoriginalsa0000000", "defaultFolderId": "b1goriginal000000000",
                     "subnetId": ""}
ORIGINAL_LIMITS = {"maxUnitsPerHour": 50}


@dataclass
class Recorded:
    method: str
    path: str
    authorization: str | None
    headers: dict[str, str]
    body: Any
    raw: str


@dataclass
class Operation:
    id: str
    description: str
    polls_left: int
    on_done: Callable[[], dict[str, Any]]
    metadata: dict[str, Any]
    error: dict[str, Any] | None = None
    done: bool = False
    response: dict[str, Any] | None = None


@dataclass
class FakeDatasphere:
    clock: Callable[[], float] = time.monotonic
    operation_polls: int = 2
    node_warmup_seconds: float = 0.2
    served_model: str = "Qwen/Qwen2.5-7B-Instruct"
    # What a node serves, by the start of its name (the stack names nodes <base>-<entry>-<digest>);
    # a node no prefix matches serves `served_model`.
    served_models: dict[str, str] = field(default_factory=dict)
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    secret_contents: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    faults: list[tuple[str, str, list[int]]] = field(default_factory=list)
    lost_answers: list[tuple[str, str, list[int]]] = field(default_factory=list)
    failing_operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    never_ready: bool = False
    jwts: list[str] = field(default_factory=list)
    access_bindings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    accepted_tokens: set[str] = field(default_factory=lambda: {IAM_TOKEN})
    community_zone: str = "ru-central1-a"
    # Collections whose every path answers 404, as a service that has no such calls does.
    unknown_paths: set[str] = field(default_factory=set)
    # The Retry-After header (seconds) that injected 429 and 503 answers carry, if any.
    retry_after: str | None = None
    # HTTP/1.1 with connections kept open, as the real APIs; HTTP/1.0 (one request a connection) else.
    keep_alive: bool = False

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self.server: ThreadingHTTPServer | None = None
        self.registry = FakeCloudRegistry(self)
        self.alias_calls: dict[str, int] = {}
        # What each node's vLLM says at /metrics, reading after reading (the last one stays).
        self.metrics: dict[str, list[str]] = {}
        self.sockets: list[socket.socket] = []

    # --- control ---------------------------------------------------------------------------
    def start(self) -> FakeDatasphere:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if fake.keep_alive else "HTTP/1.0"

            def setup(self) -> None:
                super().setup()
                with fake.lock:
                    fake.sockets.append(self.connection)

            def log_message(self, *_: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                send_json(self, *fake.handle(self.command, self.path, dict(self.headers.items()), raw))

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    @property
    def connections(self) -> int:
        """Connections clients opened to this fake."""
        return len(self.sockets)

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
        for connection in self.sockets:  # kept-open ones too: no client may reach a stopped fake
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_project(self, project_id: str) -> None:
        self.projects[project_id] = {
            "id": project_id, "communityId": "bt1community00000000", "name": "llm", "description": "",
            "labels": {}, "createdAt": "2026-01-01T00:00:00Z",
            "settings": ORIGINAL_SETTINGS.copy(),
            "limits": ORIGINAL_LIMITS.copy(),
        }

    def load(self, snapshot: dict[str, Any]) -> None:
        """Take over what another fake held (tests/fixtures/state-container-registry.json, "fake")."""
        for name in ("projects", "secrets", "secret_contents", "nodes", "aliases"):
            getattr(self, name).update(snapshot[name])
        taken = [int(i[3:]) for store in (self.secrets, self.nodes, self.aliases) for i in store]
        self._ids = itertools.count(max(taken, default=0) + 1)

    def inject(self, method: str, path_prefix: str, statuses: list[int]) -> None:
        """The next matching requests answer these statuses, in order."""
        self.faults.append((method, path_prefix, list(statuses)))

    def fail_next_operation(self, kind: str, code: int = 9,
                            message: str = "instance failed to start") -> None:
        self.failing_operations[kind] = {"code": code, "message": message, "details": []}

    def writes(self) -> list[Recorded]:
        """Every change asked of the management APIs (DataSphere, Cloud Registry, API keys)."""
        return [r for r in self.requests if r.method in {"POST", "PATCH", "DELETE"}
                and (r.path.startswith(API) or self.registry.owns(r.path))]

    # --- dispatch --------------------------------------------------------------------------
    def lose_answers(self, method: str, path_prefix: str, statuses: list[int]) -> None:
        """The next matching requests are carried out, but answered with these statuses, as when a
        gateway times out after the service acted: a retry must not do the work twice."""
        self.lost_answers.append((method, path_prefix, list(statuses)))

    @staticmethod
    def _next_fault(faults: list[tuple[str, str, list[int]]], method: str,
                    path: str) -> tuple[int, Any] | None:
        for index, (f_method, prefix, statuses) in enumerate(faults):
            if f_method == method and path.startswith(prefix) and statuses:
                status = statuses.pop(0)
                if not statuses:
                    del faults[index]
                code = {400: 3, 403: 7, 404: 5, 429: 8, 500: 13, 502: 14, 503: 14, 504: 4}.get(status, 2)
                return status, {"code": code, "message": "injected fault", "details": []}
        return None

    def handle(self, method: str, path: str, headers: dict[str, str], raw: str
               ) -> tuple[int, Any] | tuple[int, Any, dict[str, str]]:
        lower = {k.lower(): v for k, v in headers.items()}
        body = json.loads(raw) if raw else None
        with self.lock:
            self.requests.append(Recorded(method, path, lower.get("authorization"), lower, body, raw))
            fault = self._next_fault(self.faults, method, path)
            if fault and self.retry_after is not None and fault[0] in (429, 503):
                return (*fault, {"Retry-After": self.retry_after})
            if fault:
                return fault
            answer = self._answer(method, path, lower, body)
            return self._next_fault(self.lost_answers, method, path) or answer

    def _answer(self, method: str, path: str, lower: dict[str, str], body: Any) -> tuple[int, Any]:
        try:
            if path == "/iam/v1/tokens" and method == "POST":
                return 200, self._iam(body or {})
            if lower.get("authorization", "").removeprefix("Bearer ") not in self.accepted_tokens:
                raise ApiFailure(401, 16, "the request is not authenticated")
            if path.startswith("/operations/"):
                return 200, self._poll(path.removeprefix("/operations/"))
            if path.startswith("/v1/") or path == "/metrics":
                return self._node_api(lower, path)
            if self.registry.owns(path):
                return self.registry.handle(method, path, lower, body)
            if path.startswith(API):
                return 200, self._management(method, path.removeprefix(API).split("/"), body)
            raise ApiFailure(404, 5, f"no route {method} {path}")
        except ApiFailure as failure:
            return failure.status, {"code": failure.code, "message": failure.message, "details": []}

    def _iam(self, body: dict[str, Any]) -> dict[str, Any]:
        if "jwt" in body:
            self.jwts.append(body["jwt"])
            if body["jwt"].count(".") != 2:
                raise ApiFailure(400, 3, "malformed JWT")
        elif body.get("yandexPassportOauthToken") != OAUTH_TOKEN:
            raise ApiFailure(401, 16, "bad OAuth token")
        return {"iamToken": IAM_TOKEN, "expiresAt": "2099-01-01T00:00:00Z"}

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):017d}"

    def _operation(self, kind: str, description: str, on_done: Callable[[], dict[str, Any]],
                   metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        op = Operation(self._new_id("op"), description, self.operation_polls, on_done, metadata or {})
        op.error = self.failing_operations.pop(kind, None)
        self.operations[op.id] = op
        return self._operation_view(op)

    def _operation_view(self, op: Operation) -> dict[str, Any]:
        view = {"id": op.id, "description": op.description, "createdAt": "2026-11-28T00:00:00Z",
                "createdBy": "ajedeployer000000000", "modifiedAt": "2026-11-28T00:00:00Z",
                "done": op.done, "metadata": op.metadata}
        if op.done:
            view["error" if op.error else "response"] = op.error or op.response
        return view

    def _poll(self, operation_id: str) -> dict[str, Any]:
        op = self.operations.get(operation_id)
        if op is None:
            raise ApiFailure(404, 5, f"operation {operation_id} not found")
        if not op.done:
            op.polls_left -= 1
            if op.polls_left <= 0:
                op.done = True
                if op.error is None:
                    op.response = op.on_done()
        return self._operation_view(op)

    # --- management ------------------------------------------------------------------------
    def _management(self, method: str, parts: list[str], body: Any) -> dict[str, Any]:
        collection, ident = parts[0], (parts[1] if len(parts) > 1 else None)
        collection, _, query = collection.partition("?")
        if collection in self.unknown_paths:
            raise ApiFailure(404, 5, "Not Found")
        if method == "GET" and ident is None and collection in LISTED:
            return self._list(collection, dict(p.partition("=")[::2] for p in query.split("&") if p))
        if method == "PATCH" and not parts[-1].endswith(":updateAccessBindings") \
                and not (body or {}).get("updateMask"):
            raise ApiFailure(400, 3, "updateMask is required")
        handler = getattr(self, f"_{collection}", None)
        if handler is None:
            raise ApiFailure(404, 5, f"no collection {collection}")
        return handler(method, ident, body or {})

    def _list(self, collection: str, query: dict[str, str]) -> dict[str, Any]:
        """The contract's list calls: a project's items, a page at a time (pageSize, pageToken)."""
        self._find(self.projects, "project", query.get("projectId"))
        store = {"nodes": self.nodes, "aliases": self.aliases, "secrets": self.secrets}[collection]
        items = [self._node_view(i) if collection == "nodes" else i for i in store.values()
                 if i.get("projectId") == query["projectId"]]
        start, size = int(query.get("pageToken") or 0), int(query.get("pageSize") or 100)
        page: dict[str, Any] = {collection: items[start:start + size]} if items[start:start + size] else {}
        if start + size < len(items):
            page["nextPageToken"] = str(start + size)
        return page

    def _find(self, store: dict[str, dict[str, Any]], kind: str, ident: str | None) -> dict[str, Any]:
        if ident not in store:
            raise ApiFailure(404, 5, f"{kind} {ident} not found")
        return store[ident]

    def _communities(self, method: str, ident: str | None, _body: dict[str, Any]) -> dict[str, Any]:
        if method != "GET" or ident not in {p["communityId"] for p in self.projects.values()}:
            raise ApiFailure(404, 5, f"community {ident} not found")
        return {"id": ident, "name": "ml", "createdAt": "2026-01-01T00:00:00Z", "zoneId": self.community_zone}

    def _projects(self, method: str, ident: str | None, body: dict[str, Any]) -> dict[str, Any]:
        ident, _, query = (ident or "").partition("?")
        ident, _, verb = ident.partition(":")
        project = self._find(self.projects, "project", ident)
        if verb:
            page = dict(p.partition("=")[::2] for p in query.split("&") if p).get("pageToken")
            return self._project_access(method, ident, verb, body, int(page or 0))
        if method == "GET":
            return project
        for path in body["updateMask"].split(","):
            if path == "labels":
                project["labels"] = dict(body.get("labels") or {})
                continue
            section, key = path.split(".")
            value = (body.get(section) or {}).get(key)
            if value is None:
                project[section].pop(key, None)
            else:
                project[section][key] = value
        return self._operation("project", "update project", lambda: project)

    def _project_access(self, method: str, project_id: str, verb: str, body: dict[str, Any],
                        page: int) -> dict[str, Any]:
        """The published calls: list (one binding per page, to exercise paging) and update by deltas."""
        bindings = self.access_bindings.setdefault(project_id, [])
        if method == "GET" and verb == "accessBindings":
            return page_of(bindings, page)
        if method != "PATCH" or verb != "updateAccessBindings":
            raise ApiFailure(404, 5, f"no route {method} projects/{project_id}:{verb}")
        apply_deltas(bindings, body["accessBindingDeltas"])
        return self._operation("access", "update access bindings", dict, {"projectId": project_id})

    def _secrets(self, method: str, ident: str | None, body: dict[str, Any]) -> dict[str, Any]:
        if method == "POST":
            self._find(self.projects, "project", body.get("projectId"))
            if any(s["projectId"] == body["projectId"] and s["name"] == body["name"]
                   for s in self.secrets.values()):
                raise ApiFailure(409, 6, f"secret {body['name']} already exists")
            secret_id = self._new_id("sec")
            secret = {"id": secret_id, "projectId": body["projectId"], "name": body["name"],
                      "description": body.get("description", ""), "labels": body.get("labels", {}),
                      "createdAt": "2026-11-28T00:00:00Z"}

            def created() -> dict[str, Any]:
                self.secrets[secret_id] = secret
                self.secret_contents[secret_id] = body["content"]
                return secret

            return self._operation("secret", "create secret", created, {"secretId": secret_id})
        secret = self._find(self.secrets, "secret", ident)
        if method == "GET":
            return secret
        if method == "DELETE":
            def deleted() -> dict[str, Any]:
                self.secret_contents.pop(secret["id"], None)
                return self._drop(self.secrets, ident)

            return self._operation("secret", "delete secret", deleted)
        for key in body["updateMask"].split(","):
            if key == "content":
                self.secret_contents[secret["id"]] = body["content"]
            else:
                secret[key] = body[key]
        return self._operation("secret", "update secret", lambda: secret)

    def _drop(self, store: dict[str, dict[str, Any]], ident: str | None) -> dict[str, Any]:
        store.pop(ident or "", None)
        return {}

    def _nodes(self, method: str, ident: str | None, body: dict[str, Any]) -> dict[str, Any]:
        if method == "POST":
            self._find(self.projects, "project", body.get("projectId"))
            node_id = self._new_id("nod")
            node = {**body, "id": node_id, "createdAt": "2026-11-28T00:00:00Z",
                    "createdById": "ajedeployer000000000", "status": "CREATED", "ready_at": None,
                    "instances": [{"zoneId": z, "status": "PREPARING"} for z in body["zoneInstanceCount"]]}
            self.nodes[node_id] = node
            return self._operation("node", "create node", lambda: self._started(node),
                                   {"nodeId": node_id})
        node = self._find(self.nodes, "node", ident)
        if method == "GET":
            return self._node_view(node)
        if method == "DELETE":
            node["status"] = "DELETING"
            return self._operation("node", "delete node", lambda: self._drop(self.nodes, ident),
                                   {"nodeId": ident})
        for key in body["updateMask"].split(","):
            node[key] = body[key]
        node["status"], node["ready_at"] = "CREATED", None
        return self._operation("node", "update node", lambda: self._started(node), {"nodeId": ident})

    def _started(self, node: dict[str, Any]) -> dict[str, Any]:
        node["status"] = "HEALTHY"
        node["ready_at"] = self.clock() + self.node_warmup_seconds
        for instance in node["instances"]:
            instance["status"] = "HEALTHY"
        return self._node_view(node)

    @staticmethod
    def _node_view(node: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in node.items() if k != "ready_at"}

    def _aliases(self, method: str, ident: str | None, body: dict[str, Any]) -> dict[str, Any]:
        if method == "POST":
            self._check_traffic(body["nodes"])
            alias_id = self._new_id("als")
            alias = {**body, "id": alias_id, "fullName": f"datasphere.user.{body['name']}",
                     "createdAt": "2026-11-28T00:00:00Z"}

            def created() -> dict[str, Any]:
                self.aliases[alias_id] = alias
                return alias

            return self._operation("alias", "create alias", created)
        alias = self._find(self.aliases, "alias", ident)
        if method == "GET":
            return alias
        if method == "DELETE":
            return self._operation("alias", "delete alias", lambda: self._drop(self.aliases, ident))
        for key in body["updateMask"].split(","):
            if key == "nodes":
                self._check_traffic(body["nodes"])
            alias[key] = body[key]
        return self._operation("alias", "update alias", lambda: alias)

    def _check_traffic(self, nodes: list[dict[str, Any]]) -> None:
        if sum(n["trafficPercent"] for n in nodes) != 100:
            raise ApiFailure(400, 3, "traffic percentages must add up to 100")
        for entry in nodes:
            self._find(self.nodes, "node", entry["nodeId"])

    # --- node-api --------------------------------------------------------------------------
    def _node_api(self, headers: dict[str, str], path: str = "/v1/models") -> tuple[int, Any]:
        node_id = headers.get("x-node-id")
        alias_name = headers.get("x-node-alias")
        if alias_name:
            alias = next((a for a in self.aliases.values() if a["fullName"] == alias_name), None)
            if alias is None:
                return 404, {"code": 5, "message": f"alias {alias_name} not found"}
            node_id = self._route(alias)
        node = self.nodes.get(node_id or "")
        if node is None:
            return 404, {"code": 5, "message": f"node {node_id} not found"}
        if node["folderId"] != headers.get("x-folder-id"):
            return 403, {"code": 7, "message": "folder does not match the node"}
        ready_at = node["ready_at"]
        if self.never_ready or ready_at is None or self.clock() < ready_at or node["status"] != "HEALTHY":
            return 503, {"message": "model is loading"}
        if path == "/metrics":
            readings = self.metrics.get(node["id"]) or [""]
            return 200, PlainText(readings.pop(0) if len(readings) > 1 else readings[0])
        return 200, {"object": "list", "data": [{"id": self.model_of(node), "object": "model"}]}

    def model_of(self, node: dict[str, Any]) -> str:
        matches = [prefix for prefix in self.served_models if node["name"].startswith(prefix)]
        return self.served_models[max(matches, key=len)] if matches else self.served_model

    def _route(self, alias: dict[str, Any]) -> str:
        """The node a call of the alias reaches: of every 100 calls, each node takes its percentage."""
        turn = self.alias_calls.get(alias["id"], 0)
        self.alias_calls[alias["id"]] = turn + 1
        mark = turn % 100
        for entry in alias["nodes"]:
            if mark < entry["trafficPercent"]:
                return entry["nodeId"]
            mark -= entry["trafficPercent"]
        return alias["nodes"][-1]["nodeId"]
