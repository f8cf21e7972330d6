"""A service-account API key limited to the scopes it is made for, with its secret kept secret.

The secret is shown once, by create; the state keeps it encrypted (`additional_secret_outputs`),
and refresh keeps it from the state, since no read returns it. Any change of the account, the
scopes or the description makes a new key (create before delete), which is also how a key is
rotated: `pulumi up --replace <its urn>`.
"""

from __future__ import annotations

from typing import TypedDict

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource

from components.cloud.provider import CloudProvider, Inputs, is_known, require_text
from components.iam.api import IamClient

KEYS = ("serviceAccountId", "scopes", "description")


class ApiKeyProps(TypedDict, total=False):
    serviceAccountId: str
    scopes: list[str]
    description: str


class ApiKeyState(ApiKeyProps, total=False):
    """The inputs and the key's secret, shown once at create and kept (a secret output)."""

    secret: str

class ApiKeyProvider(CloudProvider[IamClient]):
    props_type = ApiKeyProps
    inputs = Inputs(replace=KEYS)
    client_class = IamClient

    def check(self, _olds: ApiKeyState, news: ApiKeyProps) -> CheckResult:
        failures = require_text(news, ["serviceAccountId"])
        scopes = news.get("scopes")
        if is_known(scopes) and not (isinstance(scopes, list) and scopes
                                     and all(isinstance(s, str) and s.startswith("yc.") for s in scopes)):
            failures.append(CheckFailure("scopes", "scopes must name at least one scope such as "
                                         f"yc.cloud-registry.artifacts.pull, got {scopes!r}"))
        return CheckResult(news, failures)

    def create(self, props: ApiKeyProps) -> CreateResult:
        key, secret = self.client.create_api_key(props["serviceAccountId"], props.get("description", ""),
                                                 props["scopes"])
        return CreateResult(key["id"], {**props, "secret": secret, "createdAt": key.get("createdAt", "")})

    def diff(self, _id: str, olds: ApiKeyState, news: ApiKeyProps) -> DiffResult:
        return self.inputs.diff(olds, news)

    def read(self, id_: str, props: ApiKeyState) -> ReadResult:
        key = self.client.get_api_key(id_)
        if key is None:
            return ReadResult("", {})
        current = {"serviceAccountId": key.get("serviceAccountId"),
                   "description": key.get("description", ""),
                   "scopes": list(key.get("scopes") or props.get("scopes") or []),
                   "createdAt": key.get("createdAt", "")}
        return ReadResult(id_, {**props, **current})

    def delete(self, id_: str, _props: ApiKeyState) -> None:
        self.client.delete_api_key(id_)


class ApiKey(Resource, module="iam", name="ApiKey"):
    """Its id is the key id; `secret` is the password a registry login takes (username `api_key`)."""

    secret: pulumi.Output[str]

    def __init__(self, name: str, service_account_id: pulumi.Input[str], scopes: list[str],
                 description: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(ApiKeyProvider(), name, {
            "serviceAccountId": service_account_id, "scopes": scopes, "description": description,
            "secret": None, "createdAt": None,
        }, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["secret"])))
