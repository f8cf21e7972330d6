"""The whole stack's dynamic part end to end: the program's own pickled providers (Cloud Registry,
API keys, DataSphere), run in the SDK's provider host against the fake cloud. Every scenario asserts
on the fake's state and request log."""

from __future__ import annotations

import json

import pytest

from tests.cloud import (
    ALIAS,
    EVERYTHING,
    FAST,
    NODE,
    PROJECT_ID,
    PULL_KEY,
    PUSH_KEY,
    REGISTRY,
    SECRET,
    SETTINGS,
    calling_the_alias,
    deploy,
    up_one,
)
from tests.fake_datasphere import API, IAM_TOKEN, ORIGINAL_LIMITS, ORIGINAL_SETTINGS, FakeDatasphere
from tests.program import ProgramRun, run_program
from tests.provider_host import Engine, ProviderError, dynamic_inputs


@pytest.fixture(scope="module")
def program() -> ProgramRun:
    return run_program(FAST | {"vllm-datasphere:maxUnitsPerHour": "849600"})


def test_full_create(fake: FakeDatasphere, engine: Engine, program: ProgramRun) -> None:
    assert deploy(engine, program) == dict.fromkeys(EVERYTHING, "created")
    node_inputs = engine.state[NODE].inputs

    project = fake.projects[PROJECT_ID]
    assert project["settings"] == {"serviceAccountId": program.outputs["serviceAccountId"],
                                   "defaultFolderId": program.outputs["folderId"],
                                   "subnetId": program.outputs["subnetId"]}
    assert project["limits"] == {"maxUnitsPerHour": 849600}

    [registry] = fake.registry.registries.values()
    assert (registry["name"], registry["kind"], registry["type"], registry["status"]) == (
        "vllm-dev", "DOCKER", "LOCAL", "ACTIVE")
    assert engine.state[REGISTRY].id == registry["id"]
    keys = {k["scopes"][0]: k for k in fake.registry.api_keys.values()}
    assert set(keys) == {"yc.cloud-registry.artifacts.pull", "yc.cloud-registry.artifacts.push"}
    pull_key, push_key = keys["yc.cloud-registry.artifacts.pull"], keys["yc.cloud-registry.artifacts.push"]
    assert pull_key["serviceAccountId"] == program.outputs["serviceAccountId"]
    assert sorted(fake.registry.bindings[registry["id"]], key=lambda b: b["roleId"]) == [
        {"roleId": "cloud-registry.artifacts.puller",
         "subject": {"id": program.outputs["serviceAccountId"], "type": "serviceAccount"}},
        {"roleId": "cloud-registry.artifacts.pusher",
         "subject": {"id": push_key["serviceAccountId"], "type": "serviceAccount"}}]

    [secret] = fake.secrets.values()
    assert secret["name"] == node_inputs["passwordSecretName"] == program.outputs["secretName"]
    assert fake.secret_contents[secret["id"]] == fake.registry.secrets_shown[pull_key["id"]]
    assert fake.registry.secrets_shown[push_key["id"]] not in fake.secret_contents.values()

    [node] = fake.nodes.values()
    image = engine.real(program.outputs["imageRef"])
    assert image.startswith(f"registry.yandexcloud.net/{registry['id']}/vllm@sha256:")
    assert node["docker"] == {"image": image, "username": "api_key", "passwordSecretName": secret["name"]}
    assert node["endpoint"] == {"type": "HTTP", "port": 8000, "timeoutSeconds": 180,
                                "idleTimeoutSeconds": 300}
    assert node["healthCheck"]["path"] == "/health"
    assert node["instanceSpec"] == "g2.1"
    assert node["zoneInstanceCount"] == {"ru-central1-a": 1}
    assert node["zoneSubnetId"] == {"ru-central1-a": program.outputs["subnetId"]}
    assert node["acl"] == {"folderIds": [program.outputs["folderId"]]}

    [alias] = fake.aliases.values()
    assert alias["fullName"] == program.outputs["aliasFullName"] == "datasphere.user.vllm-dev"
    assert alias["nodes"] == [{"nodeId": node["id"], "trafficPercent": 100}]
    assert alias["public"] is False
    assert engine.state[ALIAS].outputs["fullName"] == "datasphere.user.vllm-dev"

    probes = [r for r in fake.requests if r.path == "/v1/models"]
    assert probes, "create must wait for the model through node-api"
    assert all(r.headers["x-node-id"] == node["id"] for r in probes)
    assert all(r.headers["x-folder-id"] == program.outputs["folderId"] for r in probes)
    assert all(r.authorization == f"Bearer {IAM_TOKEN}" for r in fake.requests if r.path != "/iam/v1/tokens")
    assert all(r.body.get("updateMask") for r in fake.requests if r.method == "PATCH")


def test_create_returns_only_once_the_model_is_served(fake: FakeDatasphere, engine: Engine,
                                                       program: ProgramRun) -> None:
    deploy(engine, program)
    probes = [r for r in fake.requests if r.path == "/v1/models"]
    node_gets = [r for r in fake.requests if r.method == "GET" and r.path.startswith(f"{API}nodes/")]
    assert len(probes) >= 2, "503s while the model loads are waited through"
    assert node_gets == [], "the operation's answer already said HEALTHY: no read of the node"


def test_second_run_with_the_same_inputs_changes_nothing(fake: FakeDatasphere, engine: Engine,
                                                         program: ProgramRun) -> None:
    deploy(engine, program)
    writes_before = len(fake.writes())
    assert deploy(engine, program) == dict.fromkeys(EVERYTHING, "same")
    assert len(fake.writes()) == writes_before


def test_image_change_rolls_out_through_the_alias_without_errors(fake: FakeDatasphere, engine: Engine,
                                                                 program: ProgramRun) -> None:
    deploy(engine, program)
    old_node = engine.state[NODE].id
    with calling_the_alias(fake, "datasphere.user.vllm-dev", program.outputs["folderId"]) as answers:
        changed = run_program(FAST | {"vllm-datasphere:maxUnitsPerHour": "849600",
                                      "vllm-datasphere:maxModelLen": "8192"})
        assert changed.outputs["imageRef"] != program.outputs["imageRef"]
        result = deploy(engine, changed)

    assert result == dict.fromkeys(EVERYTHING, "same") | {NODE: "replaced", ALIAS: "updated"}
    new_node = engine.state[NODE].id
    assert new_node != old_node
    assert list(fake.nodes) == [new_node]
    assert fake.nodes[new_node]["docker"]["image"] == engine.real(changed.outputs["imageRef"])
    assert next(iter(fake.aliases.values()))["nodes"] == [{"nodeId": new_node, "trafficPercent": 100}]
    assert len(answers) > 10
    assert set(answers) == {200}, "a client of the alias saw an error during the rollout"

    writes = [(r.method, r.path) for r in fake.writes()]
    created = writes.index(("POST", f"{API}nodes"), 1)
    moved = next(i for i, w in enumerate(writes) if w[0] == "PATCH" and "aliases" in w[1])
    deleted = writes.index(("DELETE", f"{API}nodes/{old_node}"))
    assert created < moved < deleted


def test_refresh_sees_a_node_deleted_behind_the_stacks_back(fake: FakeDatasphere, engine: Engine,
                                                            program: ProgramRun) -> None:
    deploy(engine, program)
    del fake.nodes[engine.state[NODE].id]
    assert engine.refresh(NODE) == "gone"
    assert engine.refresh(ALIAS) == "refreshed"
    assert deploy(engine, program)[NODE] == "created"
    assert len(fake.nodes) == 1


def test_refresh_sees_drift_and_the_next_up_repairs_it_in_place(fake: FakeDatasphere, engine: Engine,
                                                                program: ProgramRun) -> None:
    deploy(engine, program)
    node_id = engine.state[NODE].id
    fake.nodes[node_id]["instanceSpec"] = "g2.2"
    assert engine.refresh(NODE) == "refreshed"
    assert engine.state[NODE].outputs["instanceSpec"] == "g2.2"
    assert deploy(engine, program)[NODE] == "updated"
    assert fake.nodes[node_id]["instanceSpec"] == "g2.1"
    patch = [r for r in fake.writes() if r.method == "PATCH" and r.path == f"{API}nodes/{node_id}"]
    assert patch[-1].body["updateMask"] == "instanceSpec"


def test_destroy_leaves_nothing_and_restores_the_project(fake: FakeDatasphere, engine: Engine,
                                                         program: ProgramRun) -> None:
    deploy(engine, program)
    engine.destroy_all()
    assert fake.nodes == {}
    assert fake.aliases == {}
    assert fake.secrets == {}
    assert fake.secret_contents == {}
    assert fake.registry.registries == {}
    assert fake.registry.api_keys == {}
    assert fake.registry.bindings == {}
    assert engine.state == {}
    assert fake.projects[PROJECT_ID]["settings"] == ORIGINAL_SETTINGS
    assert fake.projects[PROJECT_ID]["limits"] == ORIGINAL_LIMITS


def test_a_project_cap_the_stack_does_not_set_is_left_alone(fake: FakeDatasphere, engine: Engine) -> None:
    run = run_program(FAST)
    deploy(engine, run)
    assert fake.projects[PROJECT_ID]["limits"] == ORIGINAL_LIMITS
    engine.destroy_all()
    assert fake.projects[PROJECT_ID]["limits"] == ORIGINAL_LIMITS


def test_bursts_of_429_and_503_are_survived(fake: FakeDatasphere, engine: Engine,
                                            program: ProgramRun) -> None:
    fake.inject("POST", f"{API}nodes", [429, 503, 429])
    fake.inject("GET", "/operations/", [503, 503, 429])
    fake.inject("PATCH", f"{API}projects/", [503, 500, 504])
    fake.inject("GET", f"{API}projects/", [500, 503])
    assert deploy(engine, program)[NODE] == "created"
    assert fake.faults == []
    node_posts = [r for r in fake.requests if r.method == "POST" and r.path == f"{API}nodes"]
    assert len(node_posts) == 4
    assert len(fake.nodes) == 1


def test_a_post_is_not_repeated_after_an_ambiguous_failure(fake: FakeDatasphere, engine: Engine,
                                                           program: ProgramRun) -> None:
    fake.inject("POST", f"{API}secrets", [500])
    with pytest.raises(ProviderError, match=r"secret vllm-dev-pull-key in project .*INTERNAL"):
        up_one(engine, program, SECRET)
    assert len([r for r in fake.requests if r.path == f"{API}secrets"]) == 1


def test_an_operation_error_deletes_the_node_and_says_why(fake: FakeDatasphere, engine: Engine,
                                                          program: ProgramRun) -> None:
    up_one(engine, program, SETTINGS)
    up_one(engine, program, SECRET)
    fake.fail_next_operation("node", code=9, message="instance failed to start")
    with pytest.raises(ProviderError) as error:
        up_one(engine, program, NODE)
    text = str(error.value)
    assert "did not start" in text
    assert "FAILED_PRECONDITION" in text
    assert "instance failed to start" in text
    assert "The node was deleted." in text
    assert "model does not fit the GPU memory" in text
    assert fake.nodes == {}
    assert NODE not in engine.state


def test_a_readiness_timeout_deletes_the_node_and_reports_what_it_saw(fake: FakeDatasphere, engine: Engine,
                                                                      ) -> None:
    fake.never_ready = True
    run = run_program({"vllm-datasphere:readyTimeoutMinutes": "0.01"})
    up_one(engine, run, SETTINGS)
    up_one(engine, run, SECRET)
    with pytest.raises(ProviderError) as error:
        up_one(engine, run, NODE)
    text = str(error.value)
    assert "not serving 'Qwen/Qwen2.5-7B-Instruct' within 0.01 min" in text
    assert "last node status HEALTHY" in text
    assert "last /v1/models answer HTTP 503" in text
    assert "the pull key secret, or the puller role on the registry" in text
    assert "The node was deleted." in text
    assert fake.nodes == {}


def test_a_failed_node_is_kept_for_its_logs_when_asked(fake: FakeDatasphere, engine: Engine) -> None:
    fake.never_ready = True
    run = run_program({"vllm-datasphere:readyTimeoutMinutes": "0.01",
                       "vllm-datasphere:keepFailedNode": "true"})
    up_one(engine, run, SETTINGS)
    up_one(engine, run, SECRET)
    with pytest.raises(ProviderError) as error:
        up_one(engine, run, NODE)
    [node] = fake.nodes.values()
    assert node["status"] == "HEALTHY"
    assert not [r for r in fake.writes() if r.method == "DELETE"]
    text = str(error.value)
    assert f"(id {node['id']}) did not start" in text
    assert (f"The node was kept (keepFailedNode) so that its logs can be read: DataSphere console, project "
            f"{PROJECT_ID}, Nodes, {node['name']}, Logs. It takes no traffic") in text
    assert "delete it there when done" in text
    assert fake.aliases == {}
    assert NODE not in engine.state


def test_no_secret_or_token_leaks(fake: FakeDatasphere, engine: Engine, program: ProgramRun) -> None:
    deploy(engine, program)
    fake.fail_next_operation("node")
    changed = run_program(FAST | {"vllm-datasphere:maxUnitsPerHour": "849600",
                                  "vllm-datasphere:maxModelLen": "4096"})
    with pytest.raises(ProviderError) as error:
        up_one(engine, changed, NODE)
    pull, push = (engine.state[key].outputs["secret"] for key in (PULL_KEY, PUSH_KEY))
    assert {pull, push} == set(fake.registry.secrets_shown.values())
    carriers = [(r.method, r.path) for r in fake.requests if pull in r.raw or push in r.raw]
    assert carriers == [("POST", f"{API}secrets")]
    assert not [r for r in fake.requests if IAM_TOKEN in r.raw]
    # The API keys' own `secret` output is the one place the engine keeps them (encrypted: it is an
    # additional secret output, tests/test_program.py); nothing else carries them.
    outputs = json.dumps({name: {k: v for k, v in m.outputs.items() if not (name.startswith("ApiKey:")
                                                                         and k == "secret")}
                          for name, m in engine.state.items()})
    for text in (pull, push, IAM_TOKEN):
        assert text not in outputs
        assert text not in str(error.value)


@pytest.mark.parametrize(("type_name", "change", "property_", "reason"), [
    ("Node", {"image": "registry.yandexcloud.net/cn1/vllm:latest"}, "image", "must be pinned by digest"),
    ("Node", {"instanceCount": 0}, "instanceCount", "whole number from 1 to 64"),
    ("Node", {"readyTimeoutMinutes": 0}, "readyTimeoutMinutes", "above 0"),
    ("Node", {"port": 1.5}, "port", "whole number from 1 to 65535"),
    ("Secret", {"name": "9 lives"}, "name", "must be letters, digits"),
    ("Secret", {"content": ""}, "content", "non-empty string"),
    ("Alias", {"name": "Prod Alias"}, "name", "lowercase letters"),
    ("ProjectSettings", {"maxUnitsPerHour": -1}, "maxUnitsPerHour", "whole number >= 0"),
])
def test_check_names_the_property(engine: Engine, program: ProgramRun, type_name: str, change: dict,
                                  property_: str, reason: str) -> None:
    news = dynamic_inputs(program, type_name) | change
    failures = engine.host.call("check", olds={}, news=news)["failures"]
    assert [f["property"] for f in failures] == [property_]
    assert reason in failures[0]["reason"]


CLIENT_ROLE = "datasphere.community-projects.developer"


@pytest.fixture(scope="module")
def client_program() -> ProgramRun:
    return run_program(FAST | {"vllm-datasphere:clientServiceAccount": "true"})


def test_the_client_binding_is_added_once_refreshed_and_removed(
        fake: FakeDatasphere, engine: Engine, client_program: ProgramRun) -> None:
    someone = {"roleId": "datasphere.community-projects.admin",
               "subject": {"id": "ajeperson0000000000", "type": "userAccount"}}
    fake.access_bindings[PROJECT_ID] = [someone]
    inputs = dynamic_inputs(client_program, "ProjectAccessBinding")
    client = client_program.outputs["clientServiceAccountId"]
    ours = {"roleId": CLIENT_ROLE, "subject": {"id": client, "type": "serviceAccount"}}

    assert engine.up("client", inputs) == "created"
    assert fake.access_bindings[PROJECT_ID] == [someone, ours]
    assert engine.state["client"].id == f"{PROJECT_ID}/{CLIENT_ROLE}/{client}/serviceAccount"
    [update] = [r for r in fake.writes() if r.path.endswith(":updateAccessBindings")]
    assert update.method == "PATCH"
    assert update.body == {"accessBindingDeltas": [{"action": "ADD", "accessBinding": ours}]}

    assert engine.up("client", inputs) == "same"
    assert engine.refresh("client") == "refreshed"

    # Removed in the console: refresh sees it gone, the next up adds it again.
    fake.access_bindings[PROJECT_ID].remove(ours)
    assert engine.refresh("client") == "gone"
    assert engine.up("client", inputs) == "created"

    engine.destroy(["client"])
    assert fake.access_bindings[PROJECT_ID] == [someone]
    removals = [r.body for r in fake.writes() if r.path.endswith(":updateAccessBindings")][-1]
    assert removals == {"accessBindingDeltas": [{"action": "REMOVE", "accessBinding": ours}]}


def test_an_existing_client_binding_is_adopted_not_added_twice(
        fake: FakeDatasphere, engine: Engine, client_program: ProgramRun) -> None:
    client = client_program.outputs["clientServiceAccountId"]
    fake.access_bindings[PROJECT_ID] = [
        {"roleId": CLIENT_ROLE, "subject": {"id": client, "type": "serviceAccount"}}]
    assert engine.up("client", dynamic_inputs(client_program, "ProjectAccessBinding")) == "created"
    assert not [r for r in fake.writes() if r.path.endswith(":updateAccessBindings")]


def test_the_client_binding_checks_its_subject_type(engine: Engine, client_program: ProgramRun) -> None:
    inputs = dynamic_inputs(client_program, "ProjectAccessBinding") | {"subjectType": "robot"}
    with pytest.raises(ProviderError, match=r"subjectType: subjectType 'robot' is not one of serviceAccount"):
        engine.check({}, inputs)


def test_a_project_missing_at_the_first_create_is_named_with_its_setting(fake: FakeDatasphere, engine: Engine,
                                                                        program: ProgramRun) -> None:
    del fake.projects[PROJECT_ID]
    with pytest.raises(ProviderError) as error:
        up_one(engine, program, SECRET)
    text = str(error.value)
    assert f"project {PROJECT_ID} (datasphereProjectId) is not found; nothing was created" in text
    assert "pulumi refresh" not in text
    assert fake.secrets == {}


def test_an_alias_from_before_canaries_is_the_same_alias(engine: Engine, program: ProgramRun) -> None:
    """Its state names one `nodeId`; the same node at 100% is no change, and a refresh drops the old key."""
    news = engine.check({}, dynamic_inputs(program, "Alias") | {"nodes": [
        {"nodeId": "nod00000000000000004", "trafficPercent": 100}]})
    legacy = {k: v for k, v in news.items() if k != "nodes"} | {"nodeId": "nod00000000000000004",
                                                                "fullName": "datasphere.user.vllm-dev"}
    assert engine.host.call("diff", id="als1", olds=legacy, news=news) == {
        "changes": False, "replaces": [], "deleteBeforeReplace": False}
    moved = news | {"nodes": [{"nodeId": "nod00000000000000009", "trafficPercent": 100}]}
    assert engine.host.call("diff", id="als1", olds=legacy, news=moved)["changes"] is True
