"""The preview reports every problem of a stack in one error, before any resource is registered."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from components.cloud.http import ApiError
from components.config_parsing import ConfigError
from components.datasphere.contract import check_contract
from tests.fake_datasphere import IAM_TOKEN, FakeDatasphere
from tests.fake_hub import fake_hub
from tests.program import PROJECT, Registration, run_program

LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"


def problems_of(config: dict, **kwargs: object) -> dict[str, str]:
    """Each problem's message by its key; a list's items (extraVllmArgs) by `key=item`."""
    registered: list[Registration] = []
    with pytest.raises(ConfigError) as error:
        run_program(config, registrations=registered, preview=True, **kwargs)
    assert registered == [], "nothing may be registered while a problem stands"
    found: dict[str, str] = {}
    for problem in error.value.problems:
        key = f"{problem.key}={problem.value}" if problem.key.endswith("extraVllmArgs") else problem.key
        assert key not in found, f"{key} reported twice"
        found[key] = problem.message
    return found


def test_config_model_and_project_problems_come_in_one_round(project_api: FakeDatasphere) -> None:
    found = problems_of({f"{PROJECT}:zone": "ru-central1-c", f"{PROJECT}:model": LLAMA_70B,
                         f"{PROJECT}:datasphereProjectId": "bt1missing0000000000"})
    assert set(found) == {"zone", "instanceSpec", "weights", "datasphereProjectId"}
    assert found["instanceSpec"].startswith(f"{LLAMA_70B} does not fit")
    assert found["weights"].startswith(f"{LLAMA_70B} is gated on Hugging Face, and with weights hub")
    assert found["datasphereProjectId"] == (
        "is not found: no DataSphere project has this id (or it was deleted). Fix: pulumi config set "
        "datasphereProjectId <id from the DataSphere project page>")


def test_a_refused_setting_skips_the_checks_that_read_it() -> None:
    found = problems_of({f"{PROJECT}:instanceSpec": "g7.1", f"{PROJECT}:model": LLAMA_70B})
    assert list(found) == ["instanceSpec"], "no memory verdict on a configuration the user did not choose"
    assert found["instanceSpec"].startswith("is not one of: auto, gt4.1")


def test_a_project_the_deployer_cannot_read_names_the_role(project_api: FakeDatasphere) -> None:
    project_api.inject("GET", "/datasphere/v2/projects/", [403])
    found = problems_of({})
    assert found == {"datasphereProjectId": (
        "could not be read: the deployer has no role on the project. Fix: give it "
        "datasphere.community-projects.editor on the project (README, Prerequisites), or pulumi config set "
        "datasphereProjectId <id from the DataSphere project page>")}


def test_a_subnet_in_another_zone_and_a_missing_project_together() -> None:
    subnet = {"subnetId": "e2lsubnet00000000000", "zone": "ru-central1-b", "folderId": "b1gnet0000000000000a",
              "routeTableId": ""}
    found = problems_of({f"{PROJECT}:subnetId": "e2lsubnet00000000000",
                         f"{PROJECT}:datasphereProjectId": "bt1missing0000000000"},
                        subnets={"e2lsubnet00000000000": subnet})
    assert set(found) == {"subnetId", "datasphereProjectId"}
    assert "Fix: pulumi config set zone ru-central1-b" in found["subnetId"]


def test_the_project_its_community_and_the_contract_are_read_once_and_never_written(
        project_api: FakeDatasphere) -> None:
    before = len(project_api.requests)
    run_program(preview=True)
    reads = project_api.requests[before:]
    lists = [("GET", f"/datasphere/v2/{kind}?projectId=bt1project0000000000&pageSize=1")
             for kind in ("nodes", "aliases", "secrets")]
    assert [(r.method, r.path) for r in reads] == [("GET", "/datasphere/v2/projects/bt1project0000000000"),
                                                   ("GET", "/datasphere/v2/communities/bt1community00000000"),
                                                   *lists]


def test_a_platform_without_the_contracts_node_calls_fails_the_preview(
        project_api: FakeDatasphere, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(project_api, "unknown_paths", {"nodes"})
    found = problems_of({})
    assert list(found) == ["datasphereEndpoint"]
    message = found["datasphereEndpoint"]
    assert message.startswith(
        "does not answer the calls for nodes, aliases and project secrets as this stack assumes: GET "
        "/datasphere/v2/nodes?projectId=bt1project0000000000: no such call (HTTP 404, code 5: Not Found). "
        "DataSphere publishes no API for these; the stack follows the contract in docs/datasphere-api.md")
    assert "pulumi config set datasphereEndpoint <url>" in message
    assert IAM_TOKEN not in message


@pytest.mark.parametrize(("answer", "verdict"), [
    ({"nodes": [{"id": "nod1"}], "nextPageToken": "1"}, "holds"),
    ({}, "holds"),                                     # no nodes: the list is left out, as v2 does
    ({"items": [{"id": "nod1"}]}, "differs"),         # another shape
    ([{"id": "nod1"}], "differs"),
])
def test_the_shape_of_an_answer_is_judged(answer: object, verdict: str) -> None:
    client = SimpleNamespace(list_first=lambda collection, project_id: answer)
    [nodes, *_] = check_contract(client, "bt1project0000000000")
    assert nodes.verdict == verdict


@pytest.mark.parametrize(("status", "code", "verdict"), [
    (404, 5, "no such call"), (405, None, "no such call"), (501, 12, "no such call"), (400, 3, "differs"),
    (403, 7, "cannot tell"), (503, 14, "cannot tell"), (None, 14, "cannot tell"),
])
def test_the_status_of_an_answer_is_judged(status: int | None, code: int | None, verdict: str) -> None:
    def refuse(collection: str, project_id: str) -> None:
        raise ApiError(status, code, "refused", f"{collection} of project {project_id}")

    [nodes, *_] = check_contract(SimpleNamespace(list_first=refuse), "bt1project0000000000")
    assert nodes.verdict == verdict
    assert "None" not in nodes.seen


def test_a_call_that_cannot_be_judged_is_a_warning_not_a_refusal(
        project_api: FakeDatasphere, caplog: pytest.LogCaptureFixture) -> None:
    project_api.inject("GET", "/datasphere/v2/aliases", [403])
    with caplog.at_level(logging.WARNING):
        run_program(preview=True)
    [warning] = [r.getMessage() for r in caplog.records if "contract" in r.getMessage()]
    assert warning.startswith("DataSphere contract (docs/datasphere-api.md): GET /datasphere/v2/aliases?"
                              "projectId=bt1project0000000000: cannot tell (HTTP 403")


def test_a_zone_other_than_the_communitys_is_refused(project_api: FakeDatasphere,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(project_api, "community_zone", "ru-central1-b")
    found = problems_of({})
    assert found == {"zone": "differs from the zone of the DataSphere community of project "
                             "bt1project0000000000, ru-central1-b, where its nodes run. Fix: pulumi config "
                             "set zone ru-central1-b"}
    assert run_program({f"{PROJECT}:zone": "ru-central1-b"}, preview=True).outputs["projectId"]


def test_a_large_gated_model_is_refused_for_everything_in_one_round(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Gated, too big, two flag mistakes and a bad id, with no token and nothing cached: one preview says
    all five."""
    monkeypatch.setenv("VLLM_DATASPHERE_CACHE", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with fake_hub([LLAMA_70B]) as (url, _):
        monkeypatch.setenv("HF_ENDPOINT", url)
        flags = '["--enable-prefix-cache", "--max-num-seqs", "8", "9000"]'
        found = problems_of({f"{PROJECT}:model": LLAMA_70B, f"{PROJECT}:datasphereProjectId": "bt1-bad",
                             f"{PROJECT}:extraVllmArgs": flags})
        assert set(found) == {"weights", "instanceSpec", "datasphereProjectId", "extraVllmArgs=9000",
                              "extraVllmArgs=--enable-prefix-cache"}
        assert found["weights"].startswith(f"{LLAMA_70B} is gated on Hugging Face, and with weights hub")
        assert found["instanceSpec"].startswith(f"{LLAMA_70B} does not fit: vLLM needs about")
        assert "Did you mean --enable-prefix-caching?" in found["extraVllmArgs=--enable-prefix-cache"]
        assert found["extraVllmArgs=9000"].startswith("is a value that no flag before it takes")
        with_image = problems_of({f"{PROJECT}:model": LLAMA_70B, f"{PROJECT}:weights": "image"})
        assert set(with_image) == {"huggingFaceToken", "instanceSpec"}
    assert not list(tmp_path.rglob("*.json")), "a config read without access is not cached"
