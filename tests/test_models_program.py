"""Several models in one stack, under mocks: what is registered per model and per alias, the preview's
one round of problems across entries, the outputs, and the project's owner at preview."""

from __future__ import annotations

import json
import logging

import pytest

from components.config_parsing import ConfigError
from components.datasphere.project_settings import OWNER_LABEL
from tests.cloud import PROJECT_ID
from tests.fake_datasphere import FakeDatasphere
from tests.models import AWQ, CANARY, QWEN, THREE, TOKEN, models_config
from tests.program import PROJECT, ProgramRun, Registration, Secret, run_program

LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"
IMAGE = "docker-build:index:Image"
NODE = "pulumi-python:dynamic/datasphere:Node"
ALIAS = "pulumi-python:dynamic/datasphere:Alias"


@pytest.fixture(scope="module")
def three() -> ProgramRun:
    return run_program(models_config(THREE))


def by_name(run: ProgramRun, type_: str) -> dict[str, Registration]:
    return {r.name: r for r in run.of_type(type_)}


def test_each_model_has_its_image_and_node(three: ProgramRun) -> None:
    images, nodes = by_name(three, IMAGE), by_name(three, NODE)
    assert set(images) == set(nodes) == {"vllm-dev-chat", "vllm-dev-small", "vllm-dev-llama"}
    for name, entry in zip(("chat", "small", "llama"), THREE, strict=True):
        build = images[f"vllm-dev-{name}"].inputs["buildArgs"]
        args = json.loads(build["VLLM_SERVE_ARGS"])
        assert build["WEIGHTS"] == entry.get("weights", "hub")
        assert args["managed"][0] == (entry["model"] if build["WEIGHTS"] == "hub"
                                      else "/opt/vllm-datasphere/model")
        node = nodes[f"vllm-dev-{name}"].inputs
        assert node["image"] == three.outputs["models"][name]["imageRef"]
        assert node["name"].startswith(f"vllm-dev-{name}-")
    assert images["vllm-dev-small"].inputs["tags"][0].endswith(":dev-small-qwen-qwen2.5-7b-instruct-awq")
    assert images["vllm-dev-llama"].inputs["buildArgs"]["MODEL_ID"] == THREE[2]["model"]
    assert images["vllm-dev-llama"].inputs["secrets"] == Secret({"hf_token": TOKEN})
    assert "secrets" not in images["vllm-dev-chat"].inputs
    assert nodes["vllm-dev-small"].inputs["instanceSpec"] == "gt4.1"
    assert nodes["vllm-dev-llama"].inputs["instanceCount"] == 2
    assert nodes["vllm-dev-chat"].inputs["servedModelName"] == "chat"


def test_the_nodes_do_not_wait_for_each_other(three: ProgramRun) -> None:
    """No node depends on another's image or node, so the engine creates them at once."""
    nodes = three.of_type(NODE)
    mine = {r.urn for r in nodes} | {r.urn for r in three.of_type(IMAGE)}
    for node in nodes:
        image = by_name(three, IMAGE)[node.name]
        assert image.urn in node.dependencies
        assert set(node.dependencies) & mine == {image.urn}


def test_the_models_share_one_foundation(three: ProgramRun) -> None:
    for type_ in ("pulumi-python:dynamic/datasphere:ProjectSettings",
                  "pulumi-python:dynamic/datasphere:Secret",
                  "pulumi-python:dynamic/cloudregistry:Registry", "yandex:index/vpcSubnet:VpcSubnet"):
        assert len(three.of_type(type_)) == 1, type_
    secret = three.one("pulumi-python:dynamic/datasphere:Secret").inputs["name"]
    assert {n.inputs["passwordSecretName"] for n in three.of_type(NODE)} == {secret}


def test_each_model_alone_gets_its_own_alias(three: ProgramRun) -> None:
    aliases = by_name(three, ALIAS)
    assert set(aliases) == {"vllm-dev-chat", "vllm-dev-small", "vllm-dev-llama"}
    for name in ("chat", "small", "llama"):
        alias = aliases[f"vllm-dev-{name}"].inputs
        assert alias["name"] == f"vllm-dev-{name}"
        assert alias["nodes"] == [{"nodeId": three.outputs["models"][name]["nodeId"], "trafficPercent": 100}]


def test_a_canary_is_one_alias_over_two_nodes() -> None:
    run = run_program(models_config(CANARY))
    [alias] = run.of_type(ALIAS)
    models = run.outputs["models"]
    assert alias.name == "chat"
    assert alias.inputs["nodes"] == [{"nodeId": models["stable"]["nodeId"], "trafficPercent": 90},
                                     {"nodeId": models["next"]["nodeId"], "trafficPercent": 10}]
    assert len(run.of_type(NODE)) == 2
    for name in ("stable", "next"):
        assert models[name]["aliasFullName"] == "datasphere.user.chat"
        assert models[name]["aliasNodeIds"] == [models["stable"]["nodeId"], models["next"]["nodeId"]]
    assert (models["stable"]["trafficPercent"], models["next"]["trafficPercent"]) == (90, 10)


def test_the_models_output_has_what_a_client_of_each_needs(three: ProgramRun) -> None:
    outputs = three.outputs
    assert set(outputs) == {"folderId", "subnetId", "serviceAccountId", "registryId", "projectId",
                            "secretName", "endpointUrl", "models", "cost"}
    chat = outputs["models"]["chat"]
    assert chat["aliasFullName"] == "datasphere.user.vllm-dev-chat"
    assert chat["servedModelName"] == "chat"
    assert chat["headers"] == {"x-node-alias": "datasphere.user.vllm-dev-chat",
                               "x-folder-id": outputs["folderId"]}
    assert "x-node-alias: datasphere.user.vllm-dev-chat" in chat["curlExample"]
    assert '"model": "chat"' in chat["curlExample"]
    assert outputs["models"]["small"]["memoryEstimate"]["instanceSpec"] == "gt4.1"
    assert not three.secret_outputs


def test_one_entry_keeps_the_single_model_outputs() -> None:
    run = run_program(models_config(THREE[:1]))
    assert run.outputs["servedModelName"] == "chat"
    assert run.outputs["nodeId"] == run.outputs["models"]["chat"]["nodeId"]
    assert run.outputs["aliasFullName"] == "datasphere.user.vllm-dev-chat"


def test_the_one_model_form_keeps_its_resource_names(default_run: ProgramRun) -> None:
    assert [r.name for r in default_run.of_type(NODE)] == ["vllm-dev"]
    assert [r.name for r in default_run.of_type(ALIAS)] == ["vllm-dev"]
    assert [r.name for r in default_run.of_type(IMAGE)] == ["vllm-dev"]
    assert list(default_run.outputs["models"]) == ["default"]


def test_the_preflight_runs_per_model_with_one_line_each(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        run = run_program(models_config(THREE), preview=True)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("memoryEstimate")]
    assert [line.split(":")[0] for line in lines] == [
        "memoryEstimate [chat]", "memoryEstimate [small]", "memoryEstimate [llama]"]
    assert lines[1].startswith(f"memoryEstimate [small]: {AWQ} needs")
    assert run.outputs["models"]["llama"]["memoryEstimate"]["maxModelLen"] == 8192


def test_every_entrys_problems_and_the_stacks_come_in_one_error() -> None:
    registered: list[Registration] = []
    entries = [{"name": "chat", "model": QWEN, "maxModelLen": "lots"},
               {"name": "big", "model": LLAMA_70B},
               {"name": "small", "model": AWQ, "quantization": "awq"}]
    with pytest.raises(ConfigError) as error:
        run_program(models_config(entries, zone="ru-central1-c"), preview=True, registrations=registered)
    assert registered == []
    found = [(p.entry, p.key) for p in error.value.problems]
    assert found == [("chat", "models[0].maxModelLen"), (None, "zone"), ("big", "models[1].weights"),
                     ("big", "models[1].instanceSpec")]
    gated = error.value.problems[2].message
    assert gated.endswith("pulumi config set --secret huggingFaceToken <read token>")
    assert "Fix: pulumi config set --path 'models[1].weights' image" in gated
    big = error.value.problems[3].message
    assert big.startswith(f"{LLAMA_70B} does not fit: vLLM needs about")
    assert "pulumi config set --path 'models[1].instanceSpec' g2.4 (4 x NVIDIA A100 80 GB" in big
    assert "[big] vllm-datasphere:models[1].instanceSpec = 'g2.1'" in str(error.value)
    assert TOKEN not in str(error.value)


def test_a_project_another_stack_set_up_is_refused_at_preview(project_api: FakeDatasphere,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(project_api.projects[PROJECT_ID], "labels", {OWNER_LABEL: "prod-1a2b3c4d"})
    with pytest.raises(ConfigError) as error:
        run_program(preview=True)
    [problem] = error.value.problems
    assert problem.key == "datasphereProjectId"
    assert problem.message == (
        f"DataSphere project {PROJECT_ID} is set up by stack prod (project label vllm-datasphere-owner="
        "prod-1a2b3c4d): its service account, folder and subnet serve that stack's nodes, and this stack "
        "would overwrite them. Fix: serve the model from stack prod (add it to that stack's models), or "
        "pulumi config set adoptProjectSettings true to take the project over knowingly (stack prod's nodes "
        "then run with this stack's service account and subnet)")
    adopting = run_program({f"{PROJECT}:adoptProjectSettings": "true"}, preview=True)
    settings = adopting.one("pulumi-python:dynamic/datasphere:ProjectSettings").inputs
    assert (settings["ownerStack"], settings["adopt"]) == ("dev", True)


def test_a_project_this_stack_set_up_passes_the_preview(project_api: FakeDatasphere,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(project_api.projects[PROJECT_ID], "labels", {OWNER_LABEL: "dev-1a2b3c4d"})
    assert run_program(preview=True).outputs["projectId"] == PROJECT_ID
