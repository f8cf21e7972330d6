"""Cloud Registry and IAM API keys, as docs/cloud-registry-api.md describes them, inside the fake cloud.

Plugged into `FakeDatasphere`, which owns the HTTP server, the bearer-token check, the request log,
fault injection and the operations (polled at the same `/operations/` path as DataSphere's).
It follows the published contract: changes answer unfinished operations, a registry's id is in
the first answer's metadata, updates need a mask over name/labels/description, the access-bindings
update is a POST (a PATCH finds no route), lists are paged (one item a page, to exercise paging),
a repeated Idempotency-Key gets the first answer again, and an API key's secret is shown once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fake_access import apply_deltas, page_of
from tests.http_json import ApiFailure

if TYPE_CHECKING:
    from tests.fake_datasphere import FakeDatasphere

REGISTRY_API = "/cloud-registry/v1/registries"
API_KEYS = "/iam/v1/apiKeys"
KINDS = ("MAVEN", "NPM", "DOCKER", "NUGET", "DEBIAN", "PYPI", "BINARY", "GO")
TYPES = ("LOCAL", "REMOTE", "VIRTUAL", "TRANSITIONAL")
NAME = re.compile(r"^[a-z][-a-z0-9]{1,61}[a-z0-9]$")
UPDATABLE = ("name", "labels", "description")


@dataclass
class FakeCloudRegistry:
    cloud: FakeDatasphere
    registries: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: dict[str, list[str]] = field(default_factory=dict)
    bindings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    api_keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets_shown: dict[str, str] = field(default_factory=dict)
    idempotent: dict[str, str] = field(default_factory=dict)

    def owns(self, path: str) -> bool:
        return path.startswith((REGISTRY_API, API_KEYS))

    def add_registry(self, name: str, kind: str = "DOCKER", type_: str = "LOCAL",
                     folder_id: str = "b1gteamfolder0000000") -> str:
        """A registry made outside the stack, as a team's shared one would be."""
        registry_id = self.cloud._new_id("cn1")
        self.registries[registry_id] = self._registry(registry_id, {
            "folderId": folder_id, "name": name, "kind": kind, "type": type_, "labels": {}}, "ACTIVE")
        return registry_id

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        """One request; an `ApiFailure` raised here is answered by the fake cloud."""
        key = headers.get("idempotency-key")
        if method == "POST" and key and key in self.idempotent:
            return 200, self.cloud._operation_view(self.cloud.operations[self.idempotent[key]])
        path, _, query = path.partition("?")
        params = dict(p.partition("=")[::2] for p in query.split("&") if p)
        self.listed_folder = params.get("folderId", "")
        if path.startswith(API_KEYS):
            answer = self._api_keys(method, path.removeprefix(API_KEYS).strip("/"), body or {})
        else:
            answer = self._registries(method, path.removeprefix(REGISTRY_API).strip("/"), body or {},
                                      int(params.get("pageToken") or 0))
        if method == "POST" and key and "done" in answer:
            self.idempotent[key] = answer["id"]
        return 200, answer

    # --- registries --------------------------------------------------------------------------
    @staticmethod
    def _registry(registry_id: str, body: dict[str, Any], status: str) -> dict[str, Any]:
        return {"id": registry_id, "folderId": body["folderId"], "name": body.get("name", ""),
                "description": body.get("description", ""), "kind": body["kind"], "type": body["type"],
                "status": status, "labels": body.get("labels") or {}, "properties": {},
                "createdAt": "2026-11-29T00:00:00Z", "modifiedAt": "2026-11-29T00:00:00Z"}

    def _find(self, registry_id: str) -> dict[str, Any]:
        if registry_id not in self.registries:
            raise ApiFailure(404, 5, f"registry {registry_id} not found")
        return self.registries[registry_id]

    def _registries(self, method: str, ident: str, body: dict[str, Any], page: int) -> dict[str, Any]:
        ident, _, verb = ident.partition(":")
        if not ident and method == "POST":
            return self._create(body)
        if not ident and method == "GET":
            return page_of([r for r in self.registries.values() if r["folderId"] == self.listed_folder], page,
                           "registries")
        registry = self._find(ident)
        if verb:
            return self._verb(method, registry, verb, body, page)
        if method == "GET":
            return registry
        if method == "PATCH":
            mask = (body.get("updateMask") or "").split(",")
            if not body.get("updateMask") or not set(mask) <= set(UPDATABLE):
                raise ApiFailure(400, 3, f"updateMask must list some of {', '.join(UPDATABLE)}")
            for key in mask:
                registry[key] = body.get(key)
            return self.cloud._operation("registry", "update registry", lambda: registry,
                                         {"registryId": ident})
        if method == "DELETE":
            if self.images.get(ident):
                raise ApiFailure(409, 9, f"registry {ident} is not empty")
            return self._delete(ident)
        raise ApiFailure(404, 5, f"no route {method} registries/{ident}")

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("folderId"):
            raise ApiFailure(400, 3, "folderId is required")
        if body.get("kind") not in KINDS or body.get("type") not in TYPES[:3]:
            raise ApiFailure(400, 3, f"bad kind {body.get('kind')!r} or type {body.get('type')!r}")
        if body.get("name") and not NAME.match(body["name"]):
            raise ApiFailure(400, 3, f"bad registry name {body['name']!r}")
        if any(r["folderId"] == body["folderId"] and r["name"] == body.get("name") and body.get("name")
               for r in self.registries.values()):
            raise ApiFailure(409, 6, f"registry {body['name']} already exists")
        registry_id = self.cloud._new_id("cn1")
        registry = self.registries[registry_id] = self._registry(registry_id, body, "CREATING")

        def created() -> dict[str, Any]:
            registry["status"] = "ACTIVE"
            return registry

        return self.cloud._operation("registry", "create registry", created, {"registryId": registry_id})

    def _delete(self, registry_id: str) -> dict[str, Any]:
        self.registries[registry_id]["status"] = "DELETING"

        def deleted() -> dict[str, Any]:
            self.registries.pop(registry_id, None)
            self.images.pop(registry_id, None)
            self.bindings.pop(registry_id, None)
            return {}

        return self.cloud._operation("registry", "delete registry", deleted, {"registryId": registry_id})

    def _verb(self, method: str, registry: dict[str, Any], verb: str, body: dict[str, Any],
              page: int) -> dict[str, Any]:
        registry_id = registry["id"]
        bindings = self.bindings.setdefault(registry_id, [])
        if method == "POST" and verb == "forceDelete":
            return self._delete(registry_id)
        if method == "GET" and verb == "listAccessBindings":
            return page_of(bindings, page)
        if method == "POST" and verb == "updateAccessBindings":
            apply_deltas(bindings, body["accessBindingDeltas"])
            return self.cloud._operation("access", "update access bindings", dict,
                                         {"registryId": registry_id})
        raise ApiFailure(404, 5, f"no route {method} registries/{registry_id}:{verb}")

    # --- IAM API keys ------------------------------------------------------------------------
    def _api_keys(self, method: str, ident: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "POST" and not ident:
            if not body.get("serviceAccountId") or not body.get("scopes"):
                raise ApiFailure(400, 3, "serviceAccountId and scopes are required")
            key_id = self.cloud._new_id("aje")
            key = {"id": key_id, "serviceAccountId": body["serviceAccountId"],
                   "createdAt": "2026-11-29T00:00:00Z", "description": body.get("description", ""),
                   "scopes": list(body["scopes"])}
            self.api_keys[key_id] = key
            secret = self.secrets_shown[key_id] = f"AQVN-fake-api-key-secret-{key_id}"
            return {"apiKey": key, "secret": secret}
        if ident not in self.api_keys:
            raise ApiFailure(404, 5, f"API key {ident} not found")
        if method == "GET":
            return self.api_keys[ident]
        if method == "DELETE":
            return self.cloud._operation("apikey", "delete API key",
                                         lambda: self.cloud._drop(self.api_keys, ident), {"apiKeyId": ident})
        raise ApiFailure(404, 5, f"no route {method} apiKeys/{ident}")
