"""The alias: the stable name clients call, sending all traffic to the current node.

When the node is replaced, the alias is updated to the new node (already serving) before
the engine deletes the old one, so callers of the alias never see the switch.
"""

from __future__ import annotations

from typing import Any

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

from components.cloud.provider import diff_props, is_known, require_text
from components.datasphere.api import alias_full_name
from components.datasphere.provider import DatasphereProvider


def _outputs(props: dict[str, Any]) -> dict[str, Any]:
    return {**props, "fullName": alias_full_name(props["name"])}


class AliasProvider(DatasphereProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = require_text(news, ["projectId", "folderId", "name", "nodeId"])
        name = news.get("name")
        if is_known(name) and isinstance(name, str) and not (
            name[:1].isalpha() and all(c.islower() or c.isdigit() or c == "-" for c in name)
        ):
            failures.append(CheckFailure("name", f"alias name {name!r} must be lowercase letters, digits "
                                         "and `-`, starting with a letter"))
        if is_known(news.get("public")) and not isinstance(news.get("public"), bool):
            failures.append(CheckFailure("public", f"public must be true or false, got {news['public']!r}"))
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        alias = self.client.create_alias(props["projectId"], props["folderId"], props["name"],
                                         props["nodeId"], bool(props.get("public")))
        return CreateResult(alias["id"], _outputs(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_props(olds, news, in_place=("nodeId", "public"),
                          replace=("projectId", "folderId", "name"))

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self.client.update_alias(id_, news["nodeId"], bool(news.get("public")))
        return UpdateResult(_outputs(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        alias = self.client.get_alias(id_)
        if alias is None:
            return ReadResult("", {})
        nodes = alias.get("nodes") or [{}]
        current = {"projectId": alias.get("projectId"), "folderId": alias.get("folderId"),
                   "name": alias.get("name"), "public": bool(alias.get("public")),
                   "nodeId": max(nodes, key=lambda n: n.get("trafficPercent", 0)).get("nodeId")}
        return ReadResult(id_, _outputs({**props, **current}))

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        self.client.delete_alias(id_)


class Alias(Resource, module="datasphere", name="Alias"):
    fullName: pulumi.Output[str]

    def __init__(self, name: str, project_id: pulumi.Input[str], folder_id: pulumi.Input[str],
                 alias_name: str, node_id: pulumi.Input[str], public: bool,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(AliasProvider(), name, {
            "projectId": project_id, "folderId": folder_id, "name": alias_name, "nodeId": node_id,
            "public": public, "fullName": None,
        }, opts)
