"""`nodeRegistryLogin`: the node logs in to Cloud Registry with a pull-scoped API key (`api_key`) or with the
authorized key of an account that may only pull (`json_key`); the push credentials never reach DataSphere,
and switching is an ordinary rollout. Through the mocks and through the provider host against the fake."""

from __future__ import annotations

import json

import pytest

from components.config_parsing import ConfigError
from tests.cloud import FAST, deploy
from tests.fake_datasphere import FakeDatasphere
from tests.program import FAKE_PRIVATE_KEY, PROJECT, ProgramRun, fake_id, run_program
from tests.provider_host import Engine

NODE = "pulumi-python:dynamic/datasphere:Node"
SECRET = "pulumi-python:dynamic/datasphere:Secret"
BINDING = "pulumi-python:dynamic/cloudregistry:AccessBinding"
API_KEY = "pulumi-python:dynamic/iam:ApiKey"
ACCOUNT = "yandex:index/iamServiceAccount:IamServiceAccount"
CAP = {f"{PROJECT}:maxUnitsPerHour": "849600"}


@pytest.fixture(scope="module")
def json_key() -> ProgramRun:
    return run_program(FAST | CAP | {f"{PROJECT}:nodeRegistryLogin": "json_key"})


def test_json_key_pulls_with_an_account_that_may_only_pull(json_key: ProgramRun) -> None:
    accounts = {r.name: r for r in json_key.of_type(ACCOUNT)}
    assert set(accounts) == {"vllm-dev", "vllm-dev-push", "vllm-dev-node-pull"}
    bindings = {r.name: r.inputs for r in json_key.of_type(BINDING)}
    assert {name: b["roleId"] for name, b in bindings.items()} == {
        "vllm-dev-node-pull-puller": "cloud-registry.artifacts.puller",
        "vllm-dev-pusher": "cloud-registry.artifacts.pusher"}
    # The project's own account gets no registry role and no pull key: nothing it does not use.
    assert [r.inputs["scopes"] for r in json_key.of_type(API_KEY)] == [["yc.cloud-registry.artifacts.push"]]
    [node] = json_key.of_type(NODE)
    [secret] = json_key.of_type(SECRET)
    assert node.inputs["registryUsername"] == "json_key"
    assert node.inputs["passwordSecretName"] == secret.inputs["name"] == "vllm-dev-pull-json-key"
    assert json_key.outputs["secretName"] == "vllm-dev-pull-json-key"


def test_api_key_stays_the_default_with_the_names_it_had(default_run: ProgramRun) -> None:
    [node] = default_run.of_type(NODE)
    login = (node.inputs["registryUsername"], node.inputs["passwordSecretName"])
    assert login == ("api_key", "vllm-dev-pull-key")
    assert "vllm-dev-node-pull" not in {r.name for r in default_run.of_type(ACCOUNT)}


def test_another_login_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"nodeRegistryLogin = 'iam': is not one of: api_key, json_key"):
        run_program({f"{PROJECT}:nodeRegistryLogin": "iam"}, preview=True)


def test_json_key_deploys_with_the_key_file_in_the_secret(fake: FakeDatasphere, engine: Engine,
                                                         json_key: ProgramRun) -> None:
    deploy(engine, json_key)
    [secret] = fake.secrets.values()
    key = json.loads(fake.secret_contents[secret["id"]])
    puller = fake_id(ACCOUNT, "vllm-dev-node-pull")
    assert key["service_account_id"] == puller
    assert key["private_key"] == FAKE_PRIVATE_KEY
    [node] = fake.nodes.values()
    assert (node["docker"]["username"], node["docker"]["passwordSecretName"]) == ("json_key", secret["name"])
    [registry] = fake.registry.registries.values()
    roles = {(b["roleId"], b["subject"]["id"]) for b in fake.registry.bindings[registry["id"]]}
    assert ("cloud-registry.artifacts.puller", puller) in roles
    assert not [k for k in fake.registry.api_keys.values() if "pull" in k["scopes"][0]]


def test_switching_the_login_is_a_rollout(fake: FakeDatasphere, engine: Engine, json_key: ProgramRun) -> None:
    api_key = run_program(FAST | CAP)
    deploy(engine, api_key)
    [old_node] = fake.nodes
    done = deploy(engine, json_key)
    assert done["Node:vllm-dev"] == "replaced"
    [new_node] = fake.nodes
    assert new_node != old_node
    assert fake.nodes[new_node]["docker"]["username"] == "json_key"
    [alias] = fake.aliases.values()
    assert [n["nodeId"] for n in alias["nodes"]] == [new_node]
    assert [s["name"] for s in fake.secrets.values()] == ["vllm-dev-pull-json-key"]
