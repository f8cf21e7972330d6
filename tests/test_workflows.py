"""The CI workflows do what the README promises: least permissions, no secrets for forks, a gate on deploy."""

from __future__ import annotations

from typing import Any

import yaml

from tests.program import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
SAME_REPOSITORY = "github.event.pull_request.head.repo.full_name == github.repository"


def load(name: str) -> dict[Any, Any]:
    # BaseLoader keeps `on` a string (YAML 1.1 would read it as true).
    return yaml.load((WORKFLOWS / name).read_text(), Loader=yaml.BaseLoader)


def test_pull_requests_are_tested_then_previewed_with_least_permissions() -> None:
    workflow = load("pull-request.yml")
    assert list(workflow["on"]) == ["pull_request"]
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"] == {
        "group": "${{ github.workflow }}-${{ github.event.pull_request.number }}",
        "cancel-in-progress": "true",
    }
    jobs = workflow["jobs"]
    assert [s.get("run") for s in jobs["test"]["steps"]][-1] == "./scripts/test.sh"
    assert "permissions" not in jobs["test"]
    preview = jobs["preview"]
    assert preview["if"] == SAME_REPOSITORY
    assert preview["needs"] == "test"
    assert preview["permissions"] == {"contents": "read", "pull-requests": "write"}
    action = preview["steps"][-1]
    assert action["uses"].startswith("pulumi/actions@")
    assert {k: action["with"][k] for k in ("command", "comment-on-pr", "edit-pr-comment", "policyPacks")} == {
        "command": "preview", "comment-on-pr": "true", "edit-pr-comment": "true", "policyPacks": "policy"}


def test_forks_get_a_notice_and_no_secrets() -> None:
    jobs = load("pull-request.yml")["jobs"]
    notice = jobs["fork-notice"]
    assert notice["if"] == SAME_REPOSITORY.replace("==", "!=")
    assert "secrets." not in yaml.safe_dump(notice)
    assert "::notice" in notice["steps"][0]["run"]
    # Only the preview job, which forks never run, reads secrets.
    assert "secrets." not in yaml.safe_dump(jobs["test"])


def test_deploy_is_manual_and_behind_the_protected_environment() -> None:
    workflow = load("deploy.yml")
    assert list(workflow["on"]) == ["workflow_dispatch"]
    assert workflow["permissions"] == {"contents": "read"}
    up = workflow["jobs"]["up"]
    assert up["environment"] == "production"
    assert up["steps"][-1]["with"]["command"] == "up"
    assert workflow["concurrency"]["cancel-in-progress"] == "false"


def test_checkouts_do_not_keep_the_token() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        for job in load(path.name)["jobs"].values():
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] == "false", path.name
