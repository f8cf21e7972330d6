"""The whole program under mocks: what it registers, under which parent, with which values."""

from __future__ import annotations

import base64
import json
import logging
import shlex

import pytest

from components.config_parsing import ConfigError
from components.vllm_command import serve_args_json
from tests.fake_hub import fixture
from tests.program import (
    API_KEY,
    FAKE_PRIVATE_KEY,
    PROJECT,
    ProgramRun,
    Registration,
    Secret,
    fake_api_key_secret,
    fake_id,
    plain_strings,
    run_program,
)
from tests.stack_config import parse_settings

Y = "yandex:index/"
FOLDER = f"{Y}resourcemanagerFolder:ResourcemanagerFolder"
NETWORK = f"{Y}vpcNetwork:VpcNetwork"
GATEWAY = f"{Y}vpcGateway:VpcGateway"
ROUTES = f"{Y}vpcRouteTable:VpcRouteTable"
SUBNET = f"{Y}vpcSubnet:VpcSubnet"
ACCOUNT = f"{Y}iamServiceAccount:IamServiceAccount"
KEY = f"{Y}iamServiceAccountKey:IamServiceAccountKey"
REGISTRY = "pulumi-python:dynamic/cloudregistry:Registry"
REGISTRY_BINDING = "pulumi-python:dynamic/cloudregistry:AccessBinding"
FOLDER_MEMBER = f"{Y}resourcemanagerFolderIamMember:ResourcemanagerFolderIamMember"
IMAGE = "docker-build:index:Image"
COMPONENT = "vllm-datasphere:index:"
DYNAMIC_SETTINGS = "pulumi-python:dynamic/datasphere:ProjectSettings"
DYNAMIC_SECRET = "pulumi-python:dynamic/datasphere:Secret"
DYNAMIC_NODE = "pulumi-python:dynamic/datasphere:Node"
DYNAMIC_ALIAS = "pulumi-python:dynamic/datasphere:Alias"

EXISTING_SUBNET = "e2lsubnet00000000000"
SUBNET_FOLDER = "b1gnetfolder00000000"


def parent_type(run: ProgramRun, registration: Registration) -> str:
    return run.by_urn(registration.parent).type if registration.parent.count("$") else "root"


def test_every_resource_and_its_parent(default_run: ProgramRun) -> None:
    parents = {(r.type, parent_type(default_run, r)) for r in default_run.registrations}
    top = f"{COMPONENT}VllmDatasphere"
    assert parents == {
        (top, "root"),
        (f"{COMPONENT}Folder", top), (f"{COMPONENT}Network", top), (f"{COMPONENT}Registry", top),
        (f"{COMPONENT}Identity", top), (f"{COMPONENT}Image", top),
        (FOLDER, f"{COMPONENT}Folder"),
        (NETWORK, f"{COMPONENT}Network"), (GATEWAY, f"{COMPONENT}Network"),
        (ROUTES, f"{COMPONENT}Network"), (SUBNET, f"{COMPONENT}Network"),
        (REGISTRY, f"{COMPONENT}Registry"),
        (ACCOUNT, f"{COMPONENT}Identity"), (API_KEY, f"{COMPONENT}Identity"),
        (REGISTRY_BINDING, f"{COMPONENT}Identity"), (FOLDER_MEMBER, f"{COMPONENT}Identity"),
        (IMAGE, f"{COMPONENT}Image"),
        (f"{COMPONENT}Datasphere", top),
        (DYNAMIC_SETTINGS, f"{COMPONENT}Datasphere"), (DYNAMIC_SECRET, f"{COMPONENT}Datasphere"),
        (DYNAMIC_NODE, f"{COMPONENT}Datasphere"), (DYNAMIC_ALIAS, f"{COMPONENT}Datasphere"),
    }
    assert len(default_run.registrations) == 26
    assert len(default_run.of_type(ACCOUNT)) == 2
    assert len(default_run.of_type(API_KEY)) == 2


def test_folder_is_created_in_the_cloud(default_run: ProgramRun) -> None:
    folder = default_run.one(FOLDER)
    assert folder.inputs["cloudId"] == "b1gcloud000000000000"
    assert folder.inputs["name"] == "vllm-dev"
    assert {a.inputs["folderId"] for a in default_run.of_type(ACCOUNT)} == {default_run.outputs["folderId"]}


def test_subnet_routes_everything_through_the_nat_gateway(default_run: ProgramRun) -> None:
    routes = default_run.one(ROUTES)
    subnet = default_run.one(SUBNET)
    gateway = default_run.one(GATEWAY)
    assert gateway.inputs["sharedEgressGateway"] == {}
    assert routes.inputs["staticRoutes"] == [
        {"destinationPrefix": "0.0.0.0/0", "gatewayId": fake_id(GATEWAY, gateway.name)}
    ]
    assert subnet.inputs["routeTableId"] == fake_id(ROUTES, routes.name)
    assert subnet.inputs["zone"] == "ru-central1-a"
    assert subnet.inputs["v4CidrBlocks"] == ["10.130.0.0/24"]
    assert default_run.outputs["subnetId"] == fake_id(SUBNET, subnet.name)


def accounts(run: ProgramRun) -> dict[str, str]:
    return {r.name: fake_id(ACCOUNT, r.name) for r in run.of_type(ACCOUNT)}


def test_roles_are_granted_on_the_narrowest_scope(default_run: ProgramRun) -> None:
    account_id = default_run.outputs["serviceAccountId"]
    assert accounts(default_run) == {"vllm-dev": account_id,
                                     "vllm-dev-push": fake_id(ACCOUNT, "vllm-dev-push")}
    pusher_id = accounts(default_run)["vllm-dev-push"]
    registry_id = default_run.outputs["registryId"]
    registry_roles = {tuple(b.inputs[k] for k in ("roleId", "registryId", "subjectId", "subjectType"))
                      for b in default_run.of_type(REGISTRY_BINDING)}
    assert registry_roles == {
        ("cloud-registry.artifacts.puller", registry_id, account_id, "serviceAccount"),
        ("cloud-registry.artifacts.pusher", registry_id, pusher_id, "serviceAccount"),
    }
    member = f"serviceAccount:{account_id}"
    folder_roles = {(m.inputs["role"], m.inputs["folderId"], m.inputs["member"])
                    for m in default_run.of_type(FOLDER_MEMBER)}
    folder_id = default_run.outputs["folderId"]
    assert folder_roles == {
        ("vpc.user", folder_id, member),
        ("vpc.gateways.user", folder_id, member),
    }


def test_the_stack_creates_a_local_docker_registry(default_run: ProgramRun) -> None:
    registry = default_run.one(REGISTRY)
    assert {k: registry.inputs[k] for k in ("folderId", "name", "kind", "type")} == {
        "folderId": default_run.outputs["folderId"], "name": "vllm-dev", "kind": "DOCKER", "type": "LOCAL"}
    assert default_run.outputs["registryId"] == fake_id(REGISTRY, "vllm-dev")


def test_each_api_key_can_only_push_or_only_pull_and_is_secret(default_run: ProgramRun) -> None:
    keys = {k.name: k for k in default_run.of_type(API_KEY)}
    assert {name: (k.inputs["serviceAccountId"], k.inputs["scopes"]) for name, k in keys.items()} == {
        "vllm-dev-pull": (default_run.outputs["serviceAccountId"], ["yc.cloud-registry.artifacts.pull"]),
        "vllm-dev-push": (accounts(default_run)["vllm-dev-push"], ["yc.cloud-registry.artifacts.push"]),
    }
    assert all(k.additional_secret_outputs == ["secret"] for k in keys.values())


def test_image_is_built_for_amd64_and_pushed_with_the_push_key(default_run: ProgramRun) -> None:
    image = default_run.one(IMAGE)
    registry_id = default_run.outputs["registryId"]
    repository = f"registry.yandexcloud.net/{registry_id}/vllm"
    assert image.inputs["tags"] == [f"{repository}:dev-qwen-qwen2.5-7b-instruct"]
    assert image.inputs["push"] is True
    assert image.inputs["platforms"] == ["linux/amd64"]
    assert image.inputs["context"] == {"location": "docker"}
    assert image.inputs["dockerfile"] == {"location": "docker/Dockerfile"}
    assert image.inputs["buildOnPreview"] is False
    assert image.inputs["registries"] == [{"address": "registry.yandexcloud.net", "username": "api_key",
                                           "password": Secret(fake_api_key_secret("vllm-dev-push"))}]
    # The last build's layers, in the registry, for the next build to reuse.
    cache = f"{repository}:cache-dev-qwen-qwen2.5-7b-instruct"
    assert image.inputs["cacheFrom"] == [{"registry": {"ref": cache}}]
    [cache_to] = image.inputs["cacheTo"]
    assert {k: cache_to["registry"][k] for k in ("ref", "mode", "imageManifest", "ociMediaTypes")} == {
        "ref": cache, "mode": "max", "imageManifest": True, "ociMediaTypes": True}
    assert "secrets" not in image.inputs, "with weights hub, no token reaches the build"


def test_image_push_waits_for_the_pusher_role_and_its_key(default_run: ProgramRun) -> None:
    image = default_run.one(IMAGE)
    pusher = next(b for b in default_run.of_type(REGISTRY_BINDING)
                  if b.inputs["roleId"] == "cloud-registry.artifacts.pusher")
    push_key = next(k for k in default_run.of_type(API_KEY) if k.name == "vllm-dev-push")
    assert {pusher.urn, push_key.urn} <= set(image.dependencies)
    assert pusher.inputs["settleSeconds"] > 0


def test_image_bakes_the_server_command(default_run: ProgramRun) -> None:
    args = default_run.one(IMAGE).inputs["buildArgs"]
    assert set(args) == {"VLLM_IMAGE", "WEIGHTS", "VLLM_SERVE_ARGS"}
    assert (args["VLLM_IMAGE"], args["WEIGHTS"]) == ("vllm/vllm-openai:v0.33.0", "hub")
    assert json.loads(args["VLLM_SERVE_ARGS"])["managed"][:1] == ["Qwen/Qwen2.5-7B-Instruct"]
    [configured] = parse_settings({"model": "Qwen/Qwen2.5-7B-Instruct",
                                   "datasphereProjectId": "bt1project0000000000"},
                                  stack="dev", cloud_id="b1gcloud000000000000").models
    # Pinned at preview to the commit the (recorded) Hub answered.
    pinned = configured.model_copy(update={"model_revision": fixture("Qwen/Qwen2.5-7B-Instruct")["sha"]})
    assert args["VLLM_SERVE_ARGS"] == serve_args_json(pinned)
    assert default_run.outputs["modelRevision"] == pinned.model_revision


def test_outputs_use_the_digest_never_a_tag(default_run: ProgramRun) -> None:
    assert set(default_run.outputs) == {"folderId", "subnetId", "serviceAccountId", "registryId", "imageRef",
                                        "projectId", "secretName", "nodeId", "aliasFullName", "endpointUrl",
                                        "servedModelName", "headers", "curlExample", "memoryEstimate",
                                        "models", "modelRevision", "instanceSpec", "cost"}
    registry_id = default_run.outputs["registryId"]
    repository, digest = default_run.outputs["imageRef"].split("@")
    assert repository == f"registry.yandexcloud.net/{registry_id}/vllm"
    assert digest.startswith("sha256:")
    assert len(digest) == len("sha256:") + 64


def test_no_key_secret_in_any_plain_value(default_run: ProgramRun) -> None:
    plain = [s for r in default_run.registrations for s in plain_strings(r.inputs)]
    plain += [s for v in default_run.outputs.values() for s in plain_strings(v)]
    assert plain, "the search must have something to search"
    assert not [s for s in plain if "FAKE-API-KEY-SECRET" in s or "FAKE-PRIVATE-KEY-MATERIAL" in s]
    assert default_run.secret_outputs == set()


@pytest.mark.parametrize("config", [{}, {f"{PROJECT}:clientServiceAccount": "true"}])
def test_nothing_registered_names_container_registry(config: dict) -> None:
    run = run_program(config)
    everything = json.dumps([(r.type, r.inputs) for r in run.registrations], default=repr)
    everything += json.dumps(run.outputs)
    for retired in ("cr.yandex", "container-registry", "json_key", "containerRegistry"):
        assert retired not in everything


def test_existing_folder_is_used_as_is() -> None:
    run = run_program({f"{PROJECT}:folderId": "b1gfolder00000000000", "yandex:cloudId": None})
    assert run.of_type(FOLDER) == []
    assert run.outputs["folderId"] == "b1gfolder00000000000"
    assert run.one(REGISTRY).inputs["folderId"] == "b1gfolder00000000000"
    assert {a.inputs["folderId"] for a in run.of_type(ACCOUNT)} == {"b1gfolder00000000000"}


def test_cloud_id_may_come_from_the_environment_like_the_provider_reads_it(monkeypatch) -> None:
    monkeypatch.setenv("YC_CLOUD_ID", "b1genvcloud000000000")
    run = run_program({"yandex:cloudId": None})
    assert run.one(FOLDER).inputs["cloudId"] == "b1genvcloud000000000"


def test_without_a_cloud_or_folder_nothing_is_created(monkeypatch) -> None:
    monkeypatch.delenv("YC_CLOUD_ID", raising=False)
    with pytest.raises(ConfigError, match=r"folderId \(not set\): is unset, so a folder will be created"):
        run_program({"yandex:cloudId": None})


def existing_subnet_run(route_table: dict | None, weights: str = "hub") -> ProgramRun:
    subnet = {"subnetId": EXISTING_SUBNET, "zone": "ru-central1-a", "folderId": SUBNET_FOLDER,
              "routeTableId": "enproutes00000000000" if route_table else ""}
    return run_program(
        {f"{PROJECT}:subnetId": EXISTING_SUBNET, f"{PROJECT}:weights": weights},
        subnets={EXISTING_SUBNET: subnet},
        route_tables={"enproutes00000000000": route_table} if route_table else {},
    )


def test_existing_subnet_creates_no_network_and_grants_vpc_user_in_its_folder() -> None:
    run = existing_subnet_run(route_table=None, weights="image")
    for type_ in (NETWORK, GATEWAY, ROUTES, SUBNET):
        assert run.of_type(type_) == []
    assert run.outputs["subnetId"] == EXISTING_SUBNET
    roles = {(m.inputs["role"], m.inputs["folderId"]) for m in run.of_type(FOLDER_MEMBER)}
    assert roles == {("vpc.user", SUBNET_FOLDER)}
    assert run.calls == ["yandex:index/getVpcSubnet:getVpcSubnet"]


def test_existing_subnet_behind_a_nat_gateway_also_gets_the_gateways_role() -> None:
    table = {"routeTableId": "enproutes00000000000",
             "staticRoutes": [{"destinationPrefix": "0.0.0.0/0", "gatewayId": "enpgateway0000000000"}]}
    run = existing_subnet_run(route_table=table)
    roles = {(m.inputs["role"], m.inputs["folderId"]) for m in run.of_type(FOLDER_MEMBER)}
    assert roles == {("vpc.user", SUBNET_FOLDER), ("vpc.gateways.user", SUBNET_FOLDER)}


def test_existing_subnet_without_a_nat_route_is_refused_while_a_node_downloads_weights() -> None:
    registered: list[Registration] = []
    with pytest.raises(ConfigError) as error:
        run_program({f"{PROJECT}:subnetId": EXISTING_SUBNET}, preview=True, registrations=registered,
                    subnets={EXISTING_SUBNET: {"subnetId": EXISTING_SUBNET, "zone": "ru-central1-a",
                                               "folderId": SUBNET_FOLDER, "routeTableId": ""}})
    assert registered == []
    [problem] = error.value.problems
    assert (problem.key, problem.value) == ("subnetId", EXISTING_SUBNET)
    assert problem.message.startswith("has no route through a NAT gateway, and with weights hub a node "
                                      "downloads the weights from Hugging Face at every start: it could "
                                      "download nothing. Fix: pulumi config set weights image")


def test_with_weights_in_the_image_the_stack_makes_no_way_out() -> None:
    run = run_program({f"{PROJECT}:weights": "image"})
    assert run.of_type(GATEWAY) == run.of_type(ROUTES) == []
    [subnet] = run.of_type(SUBNET)
    assert "routeTableId" not in subnet.inputs
    roles = {m.inputs["role"] for m in run.of_type(FOLDER_MEMBER)}
    assert roles == {"vpc.user"}, "no vpc.gateways.user without a gateway"
    args = run.one(IMAGE).inputs["buildArgs"]
    commit = fixture("Qwen/Qwen2.5-7B-Instruct")["sha"]
    assert (args["WEIGHTS"], args["MODEL_ID"], args["MODEL_REVISION"]) == (
        "image", "Qwen/Qwen2.5-7B-Instruct", commit)
    managed = json.loads(args["VLLM_SERVE_ARGS"])["managed"]
    assert managed[:3] == ["/opt/vllm-datasphere/model", "--served-model-name", "Qwen/Qwen2.5-7B-Instruct"]
    assert "--revision" not in managed, "the folder holds the pinned commit's files"


def test_the_token_reaches_only_the_image_build_and_only_as_a_secret() -> None:
    token = "hf_fake_token_7d1e"
    run = run_program({f"{PROJECT}:huggingFaceToken": token, f"{PROJECT}:weights": "image"})
    image = run.one(IMAGE)
    assert image.inputs["secrets"] == Secret({"hf_token": token})
    assert token not in json.dumps(image.inputs["buildArgs"])
    assert [r.inputs["name"] for r in run.of_type(DYNAMIC_SECRET)] == ["vllm-dev-pull-key"]
    plain = [s for r in run.registrations for s in plain_strings(r.inputs)]
    assert not [s for s in plain if token in s]
    assert not [v for v in run.outputs.values() if token in json.dumps(v)]
    hub = run_program({f"{PROJECT}:huggingFaceToken": token})
    assert "secrets" not in hub.one(IMAGE).inputs, "with weights hub, the token goes nowhere"


def test_subnet_in_another_zone_fails_before_any_resource() -> None:
    subnet = {"subnetId": EXISTING_SUBNET, "zone": "ru-central1-b", "folderId": SUBNET_FOLDER,
              "routeTableId": ""}
    with pytest.raises(ConfigError, match=r"subnetId = 'e2lsubnet00000000000': is in ru-central1-b, "
                                          r"but zone is ru-central1-a.*pulumi config set zone ru-central1-b"):
        run_program({f"{PROJECT}:subnetId": EXISTING_SUBNET}, subnets={EXISTING_SUBNET: subnet})


def test_a_misspelled_key_in_the_stack_is_refused_not_ignored() -> None:
    registered: list[Registration] = []
    with pytest.raises(ConfigError, match=r"vllm-datasphere:instancespec = 'g2.2': is not a setting of this "
                                          r"stack, so it would be ignored. Did you mean instanceSpec\?"):
        run_program({f"{PROJECT}:instancespec": "g2.2"}, registrations=registered)
    assert registered == []


def test_bad_config_stops_the_program_before_any_resource() -> None:
    with pytest.raises(ConfigError, match=r"vllm-datasphere:instanceSpec = 'g7.1'"):
        run_program({f"{PROJECT}:instanceSpec": "g7.1"})


def test_preview_registers_the_same_resources_without_building() -> None:
    run = run_program(preview=True)
    assert len(run.registrations) == 26
    assert run.one(IMAGE).inputs["buildOnPreview"] is False


def test_names_carry_the_stack_so_stacks_can_share_a_folder(default_run: ProgramRun) -> None:
    assert default_run.one(REGISTRY).inputs["name"] == "vllm-dev"
    assert sorted(a.inputs["name"] for a in default_run.of_type(ACCOUNT)) == ["vllm-dev", "vllm-dev-push"]
    assert default_run.one(SUBNET).inputs["name"] == "vllm-dev-ru-central1-a"
    labels = default_run.one(REGISTRY).inputs["labels"]
    assert labels == {"managed-by": "pulumi", "project": "vllm-datasphere", "stack": "dev"}


def test_datasphere_outputs(default_run: ProgramRun) -> None:
    outputs = default_run.outputs
    assert outputs["projectId"] == "bt1project0000000000"
    assert outputs["secretName"] == "vllm-dev-pull-key"
    assert outputs["nodeId"] == fake_id(DYNAMIC_NODE, "vllm-dev")
    assert outputs["aliasFullName"] == "datasphere.user.vllm-dev"
    assert outputs["endpointUrl"] == "https://node-api.datasphere.yandexcloud.net/v1"


def test_node_uses_the_digest_the_secret_and_waits_for_the_project(default_run: ProgramRun) -> None:
    node = default_run.one(DYNAMIC_NODE)
    assert node.inputs["image"] == default_run.outputs["imageRef"]
    assert node.inputs["name"] == "vllm-dev-" + default_run.outputs["imageRef"].split(":")[-1][:12]
    assert node.inputs["passwordSecretName"] == default_run.one(DYNAMIC_SECRET).inputs["name"]
    assert node.inputs["port"] == 8000
    assert node.inputs["requestTimeoutSeconds"] == 180
    assert node.inputs["readyTimeoutMinutes"] == 30
    assert node.inputs["aclFolderIds"] == [default_run.outputs["folderId"]]
    assert default_run.one(DYNAMIC_SETTINGS).urn in node.dependencies
    assert default_run.one(DYNAMIC_SECRET).urn in node.dependencies
    alias = default_run.one(DYNAMIC_ALIAS)
    assert alias.inputs["nodes"] == [{"nodeId": default_run.outputs["nodeId"], "trafficPercent": 100}]
    assert alias.inputs["public"] is False


def test_project_settings_point_at_the_stacks_account_folder_and_subnet(default_run: ProgramRun) -> None:
    settings = default_run.one(DYNAMIC_SETTINGS).inputs
    assert settings["serviceAccountId"] == default_run.outputs["serviceAccountId"]
    assert settings["defaultFolderId"] == default_run.outputs["folderId"]
    assert settings["subnetId"] == default_run.outputs["subnetId"]
    assert settings["maxUnitsPerHour"] == 0


def test_the_node_pulls_with_the_pull_only_key(default_run: ProgramRun) -> None:
    secret = default_run.one(DYNAMIC_SECRET)
    assert secret.inputs["content"] == Secret(fake_api_key_secret("vllm-dev-pull"))
    assert "content" in secret.additional_secret_outputs
    node = default_run.one(DYNAMIC_NODE)
    assert node.inputs["registryUsername"] == "api_key"
    registry_id = default_run.outputs["registryId"]
    assert node.inputs["image"].startswith(f"registry.yandexcloud.net/{registry_id}/vllm@")
    datasphere = [r.inputs for r in default_run.registrations
                  if r.type.startswith("pulumi-python:dynamic/datasphere:")]
    assert fake_api_key_secret("vllm-dev-push") not in json.dumps(datasphere, default=repr)


def test_pickled_providers_carry_no_credentials(monkeypatch, project_api) -> None:
    monkeypatch.setenv("YC_TOKEN", "t1.deployer-token-in-the-environment")
    monkeypatch.setattr(project_api, "accepted_tokens", {"t1.deployer-token-in-config"})
    run = run_program({"yandex:token": "t1.deployer-token-in-config"})
    assert run.dynamic()
    for registration in run.dynamic():
        provider = registration.inputs["__provider"]
        assert isinstance(provider, Secret)
        pickled = base64.b64decode(provider.value)
        assert b"deployer-token" not in pickled
        # By reference: the class's module path, importable from the project root.
        module = registration.type.split("/")[1].split(":")[0]
        assert f"components.{module}.".encode() in pickled


def test_the_memory_estimate_is_an_output_and_one_preview_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        run = run_program({f"{PROJECT}:maxModelLen": "16384"}, preview=True)
    estimate = run.outputs["memoryEstimate"]
    assert estimate["instanceSpec"] == "g2.1"
    assert (estimate["neededGiB"], estimate["availableGiB"], estimate["maxModelLen"]) == (16.6, 71.3, 16384)
    assert estimate["overheadPerGpuGiB"] == {"activation": 0.6, "nonTorch": 0.4, "cudaGraphs": 0.5}
    assert estimate["unsure"] is False
    assert "memoryEstimate" not in run.secret_outputs
    lines = [r.getMessage() for r in caplog.records if "memoryEstimate" in r.getMessage()]
    assert lines == ["memoryEstimate: Qwen/Qwen2.5-7B-Instruct needs 16.6 GiB of the 71.3 GiB vLLM may use "
                     "on g2.1 (weights 14.2 + KV cache 0.9 for 16384 tokens + overhead 1.5; 7.6B "
                     "parameters from safetensors metadata); image about 12.6 GB to pull, and 15.2 GB of "
                     "weights from Hugging Face at every start"]


def test_what_the_node_costs_is_an_output_and_one_preview_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        run = run_program({f"{PROJECT}:instanceCount": "2"}, preview=True)
    per_hour = {"unitsPerSecond": 232, "unitsPerHour": 835_200, "rubPerHour": 1100.46,
                "rubPerMonth": 792330.85}
    assert run.outputs["cost"] == {**per_hour, "models": {
        "default": {"instanceSpec": "g2.1", "instances": 2, **per_hour}}}
    assert run.outputs["instanceSpec"] == "g2.1"
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cost")]
    assert lines == ["cost: 2 x g2.1 1,100.46 RUB/h; in all 232 units/s = 835,200 units/h, 1,100.46 RUB/h, "
                     "792,331 RUB/month (720 h; 0.0013176 RUB a unit with VAT, billed per second from each "
                     "instance's start to its deletion, serving or not)"]


def test_a_model_that_does_not_fit_stops_the_preview_before_any_resource() -> None:
    registered: list[Registration] = []
    with pytest.raises(ConfigError, match=r"instanceSpec = 'g2.1': meta-llama/Llama-3.1-70B-Instruct does "
                                          r"not fit: vLLM needs about 173.0 GiB and g2.1 gives it 71.3 GiB"):
        run_program({f"{PROJECT}:model": "meta-llama/Llama-3.1-70B-Instruct"}, preview=True,
                    registrations=registered)
    assert registered == []


def test_a_client_gets_the_headers_and_a_curl_line(default_run: ProgramRun) -> None:
    folder = default_run.outputs["folderId"]
    headers = default_run.outputs["headers"]
    assert headers == {"x-node-alias": "datasphere.user.vllm-dev", "x-folder-id": folder}
    assert default_run.outputs["servedModelName"] == "Qwen/Qwen2.5-7B-Instruct"
    curl = default_run.outputs["curlExample"]
    assert curl == (
        "curl -sS https://node-api.datasphere.yandexcloud.net/v1/chat/completions \\\n"
        '  -H "Authorization: Bearer $(yc iam create-token)" \\\n'
        "  -H 'x-node-alias: datasphere.user.vllm-dev' \\\n"
        f"  -H 'x-folder-id: {folder}' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        """  -d '{"model": "Qwen/Qwen2.5-7B-Instruct", "messages": [{"role": "user", "content": """
        """"Say hello in one sentence."}], "max_tokens": 64}'""")
    words = shlex.split(curl.replace("\\\n", ""))
    assert json.loads(words[-1])["model"] == "Qwen/Qwen2.5-7B-Instruct"
    assert not default_run.of_type(f"{COMPONENT}ClientAccess")
    assert "clientKeyJson" not in default_run.outputs


def test_a_client_service_account_may_only_call_the_endpoint() -> None:
    run = run_program({f"{PROJECT}:clientServiceAccount": "true"})
    component = run.one(f"{COMPONENT}ClientAccess")
    accounts = [r for r in run.of_type(ACCOUNT) if r.parent == component.urn]
    assert [a.inputs["name"] for a in accounts] == ["vllm-dev-client"]
    client_id = fake_id(ACCOUNT, "vllm-dev-client")
    binding = run.one("pulumi-python:dynamic/datasphere:ProjectAccessBinding")
    assert binding.parent == component.urn
    assert {k: binding.inputs[k] for k in ("projectId", "roleId", "subjectId", "subjectType")} == {
        "projectId": "bt1project0000000000", "roleId": "datasphere.community-projects.developer",
        "subjectId": client_id, "subjectType": "serviceAccount"}
    # No other role anywhere: not on the folder, not on the registry.
    members = [m.inputs.get("member", "") for m in run.of_type(FOLDER_MEMBER)]
    members += [b.inputs["subjectId"] for b in run.of_type(REGISTRY_BINDING)]
    assert not any(client_id in m for m in members)
    assert run.outputs["clientServiceAccountId"] == client_id
    assert "clientKeyJson" in run.secret_outputs
    key = json.loads(run.outputs["clientKeyJson"])
    assert (key["service_account_id"], key["private_key"]) == (client_id, FAKE_PRIVATE_KEY)


def test_client_service_account_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError, match=r"clientServiceAccount = 'yes': must be true or false"):
        run_program({f"{PROJECT}:clientServiceAccount": "yes"})


def test_an_unset_value_is_said_so_never_as_none() -> None:
    with pytest.raises(ConfigError) as raised:
        run_program({f"{PROJECT}:model": "meta-llama/Llama-3.1-8B-Instruct",
                     f"{PROJECT}:weights": "image"}, preview=True)
    assert "None" not in str(raised.value)
    assert "vllm-datasphere:huggingFaceToken (not set): " in str(raised.value)


def test_a_multi_gpu_configuration_warns_of_shared_memory(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        run_program({f"{PROJECT}:instanceSpec": "g2.2"}, preview=True)
    warnings = [r.getMessage() for r in caplog.records if "/dev/shm" in r.getMessage()]
    assert warnings == [
        "g2.2 runs vLLM on 2 GPUs, whose processes talk through about 400 MiB of shared memory (/dev/shm); "
        "DataSphere does not document how much a node has (Docker's default is 64 MiB, too little). The "
        "image checks it at start and says so in the node's log; if it is too small there, serve from a "
        "one-GPU configuration"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run_program({}, preview=True)
    assert not [r for r in caplog.records if "/dev/shm" in r.getMessage()]


def test_a_misspelled_key_in_the_stacks_config_reaches_the_program_and_is_refused() -> None:
    """The program lists the keys it was handed (PULUMI_CONFIG, as the engine passes them), so a key
    it does not read is refused, not ignored."""
    with pytest.raises(ConfigError) as raised:
        run_program({f"{PROJECT}:instancespec": "g2.2"}, preview=True)
    [problem] = raised.value.problems
    assert (problem.key, problem.value) == ("instancespec", "g2.2")
    assert problem.message.startswith("is not a setting of this stack, so it would be ignored. Did you mean "
                                      "instanceSpec?")
