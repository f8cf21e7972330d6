"""The DataSphere project's default folder, service account, subnet and spend cap.

The project exists before the stack (it is the user's); the stack only changes its settings.
The values found before the first change are kept in the state, and destroy puts them back.
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

from components.datasphere.api import ApiError
from components.datasphere.base import (
    DatasphereProvider,
    diff_props,
    is_known,
    require_text,
    whole_number,
)

SETTINGS = {"serviceAccountId": "serviceAccountId", "defaultFolderId": "defaultFolderId",
            "subnetId": "subnetId"}
IN_PLACE = (*SETTINGS, "maxUnitsPerHour")


def _current(project: dict[str, Any]) -> dict[str, Any]:
    settings = project.get("settings") or {}
    limits = project.get("limits") or {}
    values: dict[str, Any] = {key: settings.get(field, "") for key, field in SETTINGS.items()}
    values["maxUnitsPerHour"] = int(limits.get("maxUnitsPerHour") or 0)
    return values


class ProjectSettingsProvider(DatasphereProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = require_text(news, ["projectId", *SETTINGS])
        cap = news.get("maxUnitsPerHour")
        if is_known(cap):
            cap = whole_number(cap)
            news = {**news, "maxUnitsPerHour": cap}
        if is_known(cap) and (cap is None or cap < 0):
            given = news.get("maxUnitsPerHour")
            failures.append(CheckFailure(
                "maxUnitsPerHour", f"maxUnitsPerHour must be a whole number >= 0 (0: no cap), got {given!r}"))
        return CheckResult(news, failures)

    def _apply(self, props: dict[str, Any], values: dict[str, Any]) -> None:
        cap = whole_number(values["maxUnitsPerHour"])
        self.client.update_project(
            props["projectId"],
            {field: values[key] for key, field in SETTINGS.items()},
            {"maxUnitsPerHour": cap or None},
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        previous = _current(self.client.get_project(props["projectId"]))
        self._apply(props, props)
        return CreateResult(props["projectId"], {**props, "previous": previous})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_props(olds, news, in_place=IN_PLACE, replace=("projectId",))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._apply(news, news)
        return UpdateResult({**news, "previous": olds["previous"]})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            project = self.client.get_project(id_)
        except ApiError as error:
            if error.not_found:
                return ReadResult("", {})
            raise
        return ReadResult(id_, {**props, "projectId": id_, **_current(project)})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        self._apply(props, props["previous"])


class ProjectSettings(Resource, module="datasphere", name="ProjectSettings"):
    def __init__(self, name: str, project_id: pulumi.Input[str], service_account_id: pulumi.Input[str],
                 default_folder_id: pulumi.Input[str], subnet_id: pulumi.Input[str],
                 max_units_per_hour: int, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(ProjectSettingsProvider(), name, {
            "projectId": project_id,
            "serviceAccountId": service_account_id,
            "defaultFolderId": default_folder_id,
            "subnetId": subnet_id,
            "maxUnitsPerHour": max_units_per_hour,
        }, opts)
