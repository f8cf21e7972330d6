"""One role for one subject on a DataSphere project, through the published access-bindings calls.

Only this binding is added or removed (an `updateAccessBindings` delta), never the project's
whole list, so bindings made by people in the console are left alone. Create is idempotent
(a binding already there is adopted), and refresh re-reads the project's list.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource

from components.datasphere.base import DatasphereProvider, diff_props, is_known, require_text

SUBJECT_TYPES = ("serviceAccount", "userAccount", "federatedUser", "system")
KEYS = ("projectId", "roleId", "subjectId", "subjectType")


def binding_id(props: dict[str, Any]) -> str:
    return "/".join(props[key] for key in KEYS)


class ProjectAccessBindingProvider(DatasphereProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = require_text(news, KEYS)
        subject_type = news.get("subjectType")
        if is_known(subject_type) and subject_type not in SUBJECT_TYPES:
            failures.append(CheckFailure("subjectType", f"subjectType {subject_type!r} is not one of "
                                         f"{', '.join(SUBJECT_TYPES)}"))
        return CheckResult(news, failures)

    def _present(self, props: dict[str, Any]) -> bool:
        return any(b.get("roleId") == props["roleId"]
                   and (b.get("subject") or {}).get("id") == props["subjectId"]
                   for b in self.client.list_project_access_bindings(props["projectId"]))

    def create(self, props: dict[str, Any]) -> CreateResult:
        if not self._present(props):
            self.client.update_project_access_bindings(props["projectId"], "ADD", props["roleId"],
                                                       props["subjectId"], props["subjectType"])
        return CreateResult(binding_id(props), props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_props(olds, news, in_place=(), replace=KEYS)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        if not props:
            props = dict(zip(KEYS, id_.split("/"), strict=True))
        return ReadResult(id_ if self._present(props) else "", props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if self._present(props):
            self.client.update_project_access_bindings(props["projectId"], "REMOVE", props["roleId"],
                                                       props["subjectId"], props["subjectType"])


class ProjectAccessBinding(Resource, module="datasphere", name="ProjectAccessBinding"):
    def __init__(self, name: str, project_id: pulumi.Input[str], role_id: str,
                 subject_id: pulumi.Input[str], subject_type: str = "serviceAccount",
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(ProjectAccessBindingProvider(), name, {
            "projectId": project_id, "roleId": role_id, "subjectId": subject_id,
            "subjectType": subject_type,
        }, opts)
