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

from components.cloud.http import ApiError
from components.cloud.provider import (
    diff_props,
    is_known,
    require_text,
    whole_number,
)
from components.datasphere.provider import DatasphereProvider

SETTINGS = {"serviceAccountId": "serviceAccountId", "defaultFolderId": "defaultFolderId",
            "subnetId": "subnetId"}
IN_PLACE = (*SETTINGS, "maxUnitsPerHour")


def _current(project: dict[str, Any]) -> dict[str, Any]:
    settings = project.get("settings") or {}
    limits = project.get("limits") or {}
    values: dict[str, Any] = {key: settings.get(field, "") for key, field in SETTINGS.items()}
    values["maxUnitsPerHour"] = int(limits.get("maxUnitsPerHour") or 0)
    return values


def _managed_cap(props: dict[str, Any]) -> int | None:
    """The cap the stack sets, or None where it leaves the project's own limit alone."""
    return whole_number(props.get("maxUnitsPerHour")) or None


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

    def _apply(self, project_id: str, values: dict[str, Any], cap: int | None) -> None:
        """Set the three settings; the cap only when `cap` is given (0 clears it)."""
        limits = {} if cap is None else {"maxUnitsPerHour": cap or None}
        self.client.update_project(project_id, {field: values[key] for key, field in SETTINGS.items()},
                                   limits)

    def create(self, props: dict[str, Any]) -> CreateResult:
        previous = _current(self.client.get_project(props["projectId"]))
        self._apply(props["projectId"], props, _managed_cap(props))
        return CreateResult(props["projectId"], {**props, "previous": previous})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_props(olds, news, in_place=IN_PLACE, replace=("projectId",))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        previous = olds["previous"]
        cap = _managed_cap(news)
        if cap is None and _managed_cap(olds) is not None:
            cap = whole_number(previous["maxUnitsPerHour"])  # the stack stops capping: put back the old cap
        self._apply(news["projectId"], news, cap)
        return UpdateResult({**news, "previous": previous})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            project = self.client.get_project(id_)
        except ApiError as error:
            if error.not_found:
                return ReadResult("", {})
            raise
        current = _current(project)
        if _managed_cap(props) is None:
            current["maxUnitsPerHour"] = 0  # not the stack's to manage, so not drift
        return ReadResult(id_, {**props, "projectId": id_, **current})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        previous = props["previous"]
        cap = None if _managed_cap(props) is None else whole_number(previous["maxUnitsPerHour"])
        self._apply(props["projectId"], previous, cap)


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
