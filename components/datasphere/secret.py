"""A DataSphere project secret. Its content goes to the API and nowhere else.

The state keeps a SHA-256 of the content, so that a changed key is noticed and updated in
place, but never the content: it is neither returned by the API nor by this provider.
"""

from __future__ import annotations

import hashlib
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

from components.cloud.provider import Inputs, is_known, require_text
from components.datasphere.provider import DatasphereProvider

NAME_RULE = "letters, digits, `-` and `_`, starting with a letter"


class SecretProps(TypedDict, total=False):
    projectId: str
    name: str
    content: str
    contentSha256: str
    description: str
    labels: dict[str, str]

def content_digest(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def _public(props: SecretProps, secret: dict[str, Any]) -> dict[str, Any]:
    return {
        "projectId": secret.get("projectId", props["projectId"]),
        "name": secret.get("name", props["name"]),
        "description": secret.get("description", props.get("description", "")),
        "labels": secret.get("labels", props.get("labels") or {}),
        "contentSha256": props["contentSha256"],
    }


class SecretProvider(DatasphereProvider):
    props_type = SecretProps
    # The content is compared through its hash (contentSha256): the API never returns it.
    inputs = Inputs(in_place=("contentSha256", "description", "labels"), replace=("projectId", "name"),
                    ignored=("content",))
    def check(self, _olds: SecretProps, news: SecretProps) -> CheckResult:
        failures = require_text(news, ["projectId", "name", "content"])
        name = news.get("name")
        if is_known(name) and isinstance(name, str) and not (
            name[:1].isalpha() and all(c.isalnum() or c in "-_" for c in name)
        ):
            failures.append(CheckFailure("name", f"secret name {name!r} must be {NAME_RULE}"))
        inputs = {k: v for k, v in news.items() if k != "content"}
        if is_known(news.get("content")) and isinstance(news.get("content"), str):
            inputs["contentSha256"] = content_digest(news["content"])
        return CheckResult({**inputs, "content": news.get("content")}, failures)

    def create(self, props: SecretProps) -> CreateResult:
        secret = self.client.create_secret(props["projectId"], props["name"], props["content"],
                                           props.get("description", ""), props.get("labels") or {})
        return CreateResult(secret["id"], _public(props, secret))

    def diff(self, _id: str, olds: SecretProps, news: SecretProps) -> DiffResult:
        return self.inputs.diff(olds, news)

    def update(self, id_: str, olds: SecretProps, news: SecretProps) -> UpdateResult:
        changes: dict[str, Any] = {}
        if olds.get("contentSha256") != news["contentSha256"]:
            changes["content"] = news["content"]
        for key in ("description", "labels"):
            if olds.get(key) != news.get(key):
                changes[key] = news.get(key)
        if changes:
            self.client.update_secret(id_, changes)
        return UpdateResult(_public(news, {}))

    def read(self, id_: str, props: SecretProps) -> ReadResult:
        secret = self.client.get_secret(id_)
        if secret is None:
            return ReadResult("", {})
        return ReadResult(id_, _public({"contentSha256": props.get("contentSha256", ""), **props}, secret))

    def delete(self, id_: str, _props: SecretProps) -> None:
        self.client.delete_secret(id_)


class ProjectSecret(Resource, module="datasphere", name="Secret"):
    name: pulumi.Output[str]

    def __init__(self, name: str, project_id: pulumi.Input[str], secret_name: str,
                 content: pulumi.Input[str], description: str, labels: dict[str, str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(SecretProvider(), name, {
            "projectId": project_id,
            "name": secret_name,
            "content": pulumi.Output.secret(content),
            "description": description,
            "labels": labels,
            "contentSha256": None,
        }, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["content"])))
