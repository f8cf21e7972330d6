"""The one module that speaks the IAM API-keys calls (docs/cloud-registry-api.md, "Docker data plane").

`POST /iam/v1/apiKeys` answers at once, without an operation, and it is the only answer that
ever shows the key's secret. Its callers keep that secret as a Pulumi secret and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from components.cloud.http import ApiClient, ApiError


class IamClient(ApiClient):
    hints: ClassVar[Mapping[int, str]] = {
        7: "the deployer needs iam.serviceAccounts.apiKeyAdmin (or admin) on the service account or its "
           "folder to manage its API keys",
    }

    def _keys(self, path: str = "") -> str:
        return f"{self.endpoints.iam}/iam/v1/apiKeys{path}"

    def create_api_key(self, service_account_id: str, description: str,
                       scopes: Sequence[str]) -> tuple[dict[str, Any], str]:
        """The new key's description and its secret, which no later call returns."""
        body = {"serviceAccountId": service_account_id, "description": description, "scopes": list(scopes)}
        answer = self.call("POST", self._keys(), f"API key of service account {service_account_id}", body,
                           missing=f"service account {service_account_id} is not found")
        return answer["apiKey"], answer["secret"]

    def get_api_key(self, key_id: str) -> dict[str, Any] | None:
        return self.get_or_none(self._keys(f"/{key_id}"), f"API key {key_id}")

    def delete_api_key(self, key_id: str) -> None:
        """Delete and wait for the operation; already gone counts as done."""
        resource = f"API key {key_id}"
        try:
            answer = self.call("DELETE", self._keys(f"/{key_id}"), resource)
        except ApiError as error:
            if error.not_found:
                return
            raise
        if isinstance(answer, dict) and "done" in answer:
            self.wait(answer, resource)
