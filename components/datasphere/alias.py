"""The alias: the stable name clients call, spreading traffic over its nodes by percentage.

When a node is replaced, the alias is updated to the new node (already serving) before the engine
deletes the old one, so callers of the alias never see the switch. Moving traffic between the nodes
of a canary is an update of the alias alone: no node is touched.
"""

from __future__ import annotations

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

from components.cloud.provider import Inputs, is_known, require_text, whole_number
from components.datasphere.api import alias_full_name
from components.datasphere.provider import DatasphereProvider

Share = dict[str, Any]


def _outputs(props: AliasProps) -> dict[str, Any]:
    return {**props, "fullName": alias_full_name(props["name"])}


def shares_of(props: AliasProps) -> list[Share]:
    """The alias's nodes and their traffic, whole numbers; a state from before canaries kept one `nodeId`."""
    nodes = props.get("nodes")
    if nodes is None:
        return [{"nodeId": props.get("nodeId"), "trafficPercent": 100}]
    return [{"nodeId": n.get("nodeId"), "trafficPercent": whole_number(n.get("trafficPercent"))}
            for n in nodes]


def _share_failures(nodes: Any) -> list[CheckFailure]:
    if not is_known(nodes):
        return []
    if not isinstance(nodes, list) or not nodes or not all(isinstance(n, dict) for n in nodes):
        return [CheckFailure("nodes", f"nodes must be a non-empty list of {{nodeId, trafficPercent}}, "
                             f"got {nodes!r}")]
    failures = []
    percents = [n.get("trafficPercent") for n in nodes]
    for percent in percents:
        number = whole_number(percent) if is_known(percent) else 0
        if number is None or not 0 <= number <= 100:
            failures.append(CheckFailure("nodes", f"trafficPercent must be a whole number from 0 to 100, "
                                         f"got {percent!r}"))
    total = sum(whole_number(p) or 0 for p in percents)
    if not failures and all(is_known(p) for p in percents) and total != 100:
        failures.append(CheckFailure("nodes", f"the nodes' trafficPercent must add up to 100: {percents}"))
    known_ids = [n.get("nodeId") for n in nodes if is_known(n.get("nodeId"))]
    if len(set(known_ids)) != len(known_ids):
        failures.append(CheckFailure("nodes", f"a node is named twice: {known_ids}"))
    return failures


class AliasProps(TypedDict, total=False):
    projectId: str
    folderId: str
    name: str
    nodes: list[dict[str, Any]]
    public: bool
    fullName: str

class AliasProvider(DatasphereProvider):
    props_type = AliasProps
    # fullName is a placeholder for the output the API gives.
    inputs = Inputs(in_place=("nodes", "public"), replace=("projectId", "folderId", "name"),
                    ignored=("fullName",))
    def check(self, _olds: AliasProps, news: AliasProps) -> CheckResult:
        failures = require_text(news, ["projectId", "folderId", "name"])
        name = news.get("name")
        if is_known(name) and isinstance(name, str) and not (
            name[:1].isalpha() and all(c.islower() or c.isdigit() or c == "-" for c in name)
        ):
            failures.append(CheckFailure("name", f"alias name {name!r} must be lowercase letters, digits "
                                         "and `-`, starting with a letter"))
        if is_known(news.get("public")) and not isinstance(news.get("public"), bool):
            failures.append(CheckFailure("public", f"public must be true or false, got {news['public']!r}"))
        failures += _share_failures(news.get("nodes"))
        return CheckResult(news, failures)

    def create(self, props: AliasProps) -> CreateResult:
        alias = self.client.create_alias(props["projectId"], props["folderId"], props["name"],
                                         shares_of(props), bool(props.get("public")))
        return CreateResult(alias["id"], _outputs(props))

    def diff(self, _id: str, olds: AliasProps, news: AliasProps) -> DiffResult:
        return self.inputs.diff({**olds, "nodes": shares_of(olds)}, {**news, "nodes": shares_of(news)})

    def update(self, id_: str, _olds: AliasProps, news: AliasProps) -> UpdateResult:
        self.client.update_alias(id_, shares_of(news), bool(news.get("public")))
        return UpdateResult(_outputs(news))

    def read(self, id_: str, props: AliasProps) -> ReadResult:
        alias = self.client.get_alias(id_)
        if alias is None:
            return ReadResult("", {})
        current = {"projectId": alias.get("projectId"), "folderId": alias.get("folderId"),
                   "name": alias.get("name"), "public": bool(alias.get("public")),
                   "nodes": [{"nodeId": n.get("nodeId"), "trafficPercent": n.get("trafficPercent")}
                             for n in alias.get("nodes") or []]}
        kept = {k: v for k, v in props.items() if k != "nodeId"}  # a state from before canaries had it
        return ReadResult(id_, _outputs({**kept, **current}))

    def delete(self, id_: str, _props: AliasProps) -> None:
        self.client.delete_alias(id_)


class Alias(Resource, module="datasphere", name="Alias"):
    fullName: pulumi.Output[str]

    def __init__(self, name: str, project_id: pulumi.Input[str], folder_id: pulumi.Input[str],
                 alias_name: str, nodes: list[dict[str, pulumi.Input[Any]]], public: bool,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(AliasProvider(), name, {
            "projectId": project_id, "folderId": folder_id, "name": alias_name, "nodes": nodes,
            "public": public, "fullName": None,
        }, opts)
