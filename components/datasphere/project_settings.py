"""The DataSphere project's default folder, service account, subnet and spend cap, and who owns them.

The project exists before the stack (it is the user's); the stack only changes its settings. The
values found before the first change are kept in the state, and destroy puts them back. The settings
are project-wide, so two stacks on one project would overwrite each other: the stack that sets them
marks the project with the label `vllm-datasphere-owner` (its stack name and a token of its own), and
another stack refuses to touch a project so marked, or one whose settings point at anything this stack
neither set nor found there at its first create, unless told to adopt it (`adoptProjectSettings`).
Destroy puts the old values back only while the settings are still the ones this stack wrote.
"""

from __future__ import annotations

import secrets
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

from components.cloud.http import ApiError
from components.cloud.provider import (
    Inputs,
    is_known,
    require_text,
    whole_number,
)
from components.datasphere.provider import DatasphereProvider

SETTINGS = {"serviceAccountId": "serviceAccountId", "defaultFolderId": "defaultFolderId",
            "subnetId": "subnetId"}
# `adopt` too: turning it on is how a stack takes a project back.
IN_PLACE = (*SETTINGS, "maxUnitsPerHour", "ownerStack", "adopt")
# Checked, never sent: the least cap under which the stack's nodes run, updates included
# (components/cost.py). It changes nothing in the project, so it is not diffed.
CHECK_ONLY = ("minUnitsPerHour",)
# A project label (keys and values: lowercase letters, digits, `-` and `_`, api-ref/Project/update).
OWNER_LABEL = "vllm-datasphere-owner"
ADOPT_FIX = "pulumi config set adoptProjectSettings true"


class ProjectSettingsProps(TypedDict, total=False):
    projectId: str
    serviceAccountId: str
    defaultFolderId: str
    subnetId: str
    maxUnitsPerHour: float
    minUnitsPerHour: float
    ownerStack: str
    adopt: bool


class ProjectSettingsState(ProjectSettingsProps, total=False):
    """The inputs, and what the state keeps beside them (`_state`)."""

    previous: dict[str, Any]
    owner: str
    written: dict[str, str]

class ProjectTaken(Exception):
    """The project's settings are another stack's (or were changed by hand); nothing was written."""


def owner_stack(label: str) -> str:
    """The stack named by an owner label `<stack>-<token>`."""
    return label.rsplit("-", 1)[0]


def taken_by_label(project_id: str, label: str) -> str:
    """Why a project marked by another stack is refused, and the fix (also said at preview)."""
    other = owner_stack(label)
    return (f"DataSphere project {project_id} is set up by stack {other} (project label "
            f"{OWNER_LABEL}={label}): its service account, folder and subnet serve that stack's nodes, "
            f"and this stack would overwrite them. Fix: serve the model from stack {other} (add it to "
            f"that stack's models), or {ADOPT_FIX} to take the project over knowingly (stack {other}'s "
            "nodes then run with this stack's service account and subnet)")


def _current(project: dict[str, Any]) -> dict[str, Any]:
    settings = project.get("settings") or {}
    limits = project.get("limits") or {}
    values: dict[str, Any] = {key: settings.get(field, "") for key, field in SETTINGS.items()}
    values["maxUnitsPerHour"] = int(limits.get("maxUnitsPerHour") or 0)
    return values


def _labels(project: dict[str, Any]) -> dict[str, str]:
    return dict(project.get("labels") or {})


def _managed_cap(props: ProjectSettingsProps) -> int | None:
    """The cap the stack sets, or None where it leaves the project's own limit alone."""
    return whole_number(props.get("maxUnitsPerHour")) or None


def _marked(props: ProjectSettingsProps, project: dict[str, Any],
            owner: str | None) -> tuple[str, dict[str, str]]:
    """This stack's owner label (a new one without `owner`) and the project's labels carrying it."""
    owner = owner or f"{props['ownerStack']}-{secrets.token_hex(4)}"
    return owner, {**_labels(project), OWNER_LABEL: owner}


def _written(props: ProjectSettingsState) -> dict[str, str]:
    """What this stack last wrote (a state from before ownership kept it in the settings keys)."""
    return props.get("written") or {key: props.get(key, "") for key in SETTINGS}


def _state(props: ProjectSettingsProps, previous: dict[str, Any], owner: str) -> dict[str, Any]:
    """What the state keeps beside the inputs: the values found first, the mark, and what was written."""
    return {"previous": previous, "owner": owner, "written": {key: props[key] for key in SETTINGS}}


def _cap_too_low(cap: int, needed: int) -> str:
    return (f"maxUnitsPerHour {cap} is below {needed:,}, the units an hour this stack's nodes use during a "
            "rollout (each new node beside its old one); DataSphere would stop them. Fix: pulumi config set "
            f"maxUnitsPerHour {needed}, or 0 for no cap")


class ProjectSettingsProvider(DatasphereProvider):
    props_type = ProjectSettingsProps
    inputs = Inputs(in_place=IN_PLACE, replace=("projectId",), ignored=CHECK_ONLY)

    def check(self, _olds: ProjectSettingsState, news: ProjectSettingsProps) -> CheckResult:
        failures = require_text(news, ["projectId", *SETTINGS, "ownerStack"])
        cap = news.get("maxUnitsPerHour")
        if is_known(cap):
            cap = whole_number(cap)
            news = {**news, "maxUnitsPerHour": cap}
        if is_known(cap) and (cap is None or cap < 0):
            given = news.get("maxUnitsPerHour")
            failures.append(CheckFailure(
                "maxUnitsPerHour", f"maxUnitsPerHour must be a whole number >= 0 (0: no cap), got {given!r}"))
        needed = news.get("minUnitsPerHour", 0)
        needed = whole_number(needed) if is_known(needed) else None
        if is_known(cap) and cap is not None and needed and 0 < cap < needed:
            failures.append(CheckFailure("maxUnitsPerHour", _cap_too_low(cap, needed)))
        if is_known(news.get("adopt")) and not isinstance(news.get("adopt"), bool):
            failures.append(CheckFailure("adopt", f"adopt must be true or false, got {news['adopt']!r}"))
        return CheckResult(news, failures)

    def _apply(self, project_id: str, values: dict[str, Any], cap: int | None,
               labels: dict[str, str]) -> None:
        """Set the three settings and the labels; the cap only when `cap` is given (0 clears it)."""
        limits = {} if cap is None else {"maxUnitsPerHour": cap or None}
        self.client.update_project(project_id, {field: values[key] for key, field in SETTINGS.items()},
                                   limits, labels)

    def create(self, props: ProjectSettingsProps) -> CreateResult:
        project_id = props["projectId"]
        project = self.client.get_project(project_id)
        label = _labels(project).get(OWNER_LABEL)
        if label and not props.get("adopt"):
            raise ProjectTaken(taken_by_label(project_id, label) + ". Nothing was changed.")
        owner, labels = _marked(props, project, None)
        self._apply(project_id, props, _managed_cap(props), labels)
        return CreateResult(project_id, {**props, **_state(props, _current(project), owner)})

    def diff(self, _id: str, olds: ProjectSettingsState, news: ProjectSettingsProps) -> DiffResult:
        return self.inputs.diff(olds, news)

    def _refusal(self, olds: ProjectSettingsState, project: dict[str, Any]) -> str | None:
        """Why this stack must not write the project's settings now, or None."""
        project_id = olds["projectId"]
        label = _labels(project).get(OWNER_LABEL)
        if label and label != olds.get("owner"):
            return taken_by_label(project_id, label)
        current, written, previous = _current(project), _written(olds), olds["previous"]
        for key in SETTINGS:
            if current[key] not in (written[key], previous[key]):
                return (f"DataSphere project {project_id}: its {key} is {current[key]!r}, which this stack "
                        f"neither set ({written[key]!r}) nor found there at its first create "
                        f"({previous[key]!r}): another stack or a person changed it. Fix: find who uses the "
                        f"project, or {ADOPT_FIX} to take it over knowingly")
        return None

    def update(self, _id: str, olds: ProjectSettingsState, news: ProjectSettingsProps) -> UpdateResult:
        project_id = news["projectId"]
        project = self.client.get_project(project_id)
        refusal = self._refusal(olds, project)
        if refusal and not news.get("adopt"):
            raise ProjectTaken(refusal + ". Nothing was changed.")
        previous = olds["previous"]
        cap = _managed_cap(news)
        if cap is None and _managed_cap(olds) is not None:
            cap = whole_number(previous["maxUnitsPerHour"])  # the stack stops capping: put back the old cap
        owner, labels = _marked(news, project, olds.get("owner"))
        self._apply(project_id, news, cap, labels)
        return UpdateResult({**news, **_state(news, previous, owner)})

    def read(self, id_: str, props: ProjectSettingsState) -> ReadResult:
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

    def delete(self, _id: str, props: ProjectSettingsState) -> None:
        try:
            project = self.client.get_project(props["projectId"])
        except ApiError as error:
            if error.not_found:
                return
            raise
        current, written = _current(project), _written(props)
        if _labels(project).get(OWNER_LABEL) not in (None, props.get("owner")) or any(
                current[key] != written[key] for key in SETTINGS):
            return  # another stack (or a person) took the project over: its settings are not ours to reset
        previous = props["previous"]
        cap = None if _managed_cap(props) is None else whole_number(previous["maxUnitsPerHour"])
        labels = {k: v for k, v in _labels(project).items() if k != OWNER_LABEL}
        self._apply(props["projectId"], previous, cap, labels)


class ProjectSettings(Resource, module="datasphere", name="ProjectSettings"):
    def __init__(self, name: str, project_id: pulumi.Input[str], service_account_id: pulumi.Input[str],
                 default_folder_id: pulumi.Input[str], subnet_id: pulumi.Input[str],
                 max_units_per_hour: int, min_units_per_hour: int, owner_stack: str, adopt: bool,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(ProjectSettingsProvider(), name, {
            "projectId": project_id,
            "serviceAccountId": service_account_id,
            "defaultFolderId": default_folder_id,
            "subnetId": subnet_id,
            "maxUnitsPerHour": max_units_per_hour,
            "minUnitsPerHour": min_units_per_hour,
            "ownerStack": owner_stack,
            "adopt": adopt,
        }, opts)
