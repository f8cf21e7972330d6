"""The config model: defaults, derived values, and one case per invalid value."""

from __future__ import annotations

import json
import re

import pytest

from components import platform
from components.config_parsing import ConfigError
from components.model_settings import ModelSettings
from components.settings import Settings
from tests.stack_config import parse_settings

VALID = {
    "model": "Qwen/Qwen2.5-7B-Instruct",
    "datasphereProjectId": "bt1project0000000000",
}
CLOUD = "b1gcloud000000000000"


def parse(stack: str = "dev", cloud_id: str | None = CLOUD, **raw: str | None) -> Settings:
    if "yandex:cloudId" in raw:
        cloud_id = raw.pop("yandex:cloudId")
    return parse_settings(VALID | raw, stack=stack, cloud_id=cloud_id)


def parse_model(**raw: str | None) -> ModelSettings:
    """The one model of the one-model form."""
    [model] = parse(**raw).models
    return model


def test_defaults_cover_everything_but_model_and_project() -> None:
    settings = parse()
    [model] = settings.models
    assert settings.one_model_form
    assert model.name == "default"
    assert model.served_model_name == "Qwen/Qwen2.5-7B-Instruct"
    assert model.instance_spec == "g2.1"
    assert settings.zone == "ru-central1-a"
    assert model.instance_count == 1
    assert model.dtype == "auto"
    assert model.gpu_memory_utilization == 0.9
    assert model.max_model_len == 0
    assert model.quantization is None
    assert model.extra_vllm_args == ()
    assert model.vllm_image == platform.DEFAULT_VLLM_IMAGE
    assert model.alias_name == "vllm-dev"
    assert model.traffic_percent == 100
    assert model.resource_suffix == ""
    assert settings.adopt_project_settings is False
    assert settings.folder_id is None
    assert settings.folder_name == "vllm-dev"
    assert settings.subnet_id is None
    assert settings.subnet_cidr == "10.130.0.0/24"


def test_empty_strings_mean_unset_as_pulumi_yaml_defaults_pass_them() -> None:
    settings = parse(servedModelName="", quantization="", maxModelLen="0", folderId="", subnetId="",
                     extraVllmArgs="[]", models="[]")
    [model] = settings.models
    assert model.served_model_name == VALID["model"]
    assert model.quantization is None
    assert model.max_model_len == 0
    assert settings.folder_id is None
    assert settings.subnet_id is None


@pytest.mark.parametrize(
    ("spec", "gpus"), [("g1.1", 1), ("g1.4", 4), ("gt4.1", 1), ("gt4i.1", 1), ("g2.2", 2), ("g2.8", 8)]
)
def test_tensor_parallel_size_is_the_gpu_count(spec: str, gpus: int) -> None:
    image = "registry.example/vllm-volta:v0.8.5" if spec.startswith("g1") else platform.DEFAULT_VLLM_IMAGE
    assert parse_model(instanceSpec=spec, vllmImage=image).tensor_parallel_size == gpus


def test_auto_dtype_becomes_half_on_v100_and_t4() -> None:
    assert parse_model(instanceSpec="g1.1", vllmImage="vllm/vllm-openai:v0.8.5").dtype == "half"
    assert parse_model(instanceSpec="gt4.1").dtype == "half"
    assert parse_model(instanceSpec="g2.1").dtype == "auto"
    assert parse_model(instanceSpec="auto").dtype == "auto", "decided once the preflight picks a GPU"


def test_existing_folder_needs_no_cloud_id() -> None:
    settings = parse(cloud_id=None, folderId="b1gfolder00000000000")
    assert settings.folder_id == "b1gfolder00000000000"


def test_folder_name_follows_the_stack() -> None:
    assert parse(stack="Prod_EU").folder_name == "vllm-prod-eu"
    assert parse(folderName="team-llm").folder_name == "team-llm"


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        parse(instanceSpec="g9.1", zone="mars-1", instanceCount="0")
    keys = [p.key for p in error.value.problems]
    assert keys == ["instanceSpec", "instanceCount", "zone"]
    assert "3 problem(s)" in str(error.value)


# One case per invalid value: (raw config, key, text the message must contain).
INVALID = [
    ({"model": None}, "model", "is required. Fix: pulumi config set model"),
    ({"model": "not a model id"}, "model", "is not a Hugging Face model id"),
    ({"model": "org/name/extra"}, "model", "is not a Hugging Face model id"),
    ({"servedModelName": "my model"}, "servedModelName", "must not contain spaces"),
    ({"quantization": "int3"}, "quantization", "is not one of: awq, awq_marlin"),
    ({"quantization": "awq", "instanceSpec": "g1.1", "vllmImage": "example.org/vllm-volta:v1"},
     "quantization", "needs compute capability 7.5, but NVIDIA V100 32 GB has 7.0"),
    ({"dtype": "fp4"}, "dtype", "is not one of: auto, half"),
    ({"dtype": "bfloat16", "instanceSpec": "g1.2", "vllmImage": "example.org/vllm-volta:v1"},
     "dtype", "has no bfloat16. Fix: pulumi config set dtype half"),
    ({"maxModelLen": "-1"}, "maxModelLen", "must be a whole number of tokens"),
    ({"maxModelLen": "8k"}, "maxModelLen", "must be a whole number of tokens"),
    ({"gpuMemoryUtilization": "0"}, "gpuMemoryUtilization", "must be a fraction above 0 and at most 1"),
    ({"gpuMemoryUtilization": "1.5"}, "gpuMemoryUtilization", "must be a fraction above 0"),
    ({"gpuMemoryUtilization": "lots"}, "gpuMemoryUtilization", "must be a fraction above 0"),
    ({"extraVllmArgs": "--enable-prefix-caching"}, "extraVllmArgs", "must be a list of strings"),
    ({"extraVllmArgs": "[1, 2]"}, "extraVllmArgs", "must be a list of strings"),
    ({"extraVllmArgs": '["--port=9000"]'}, "extraVllmArgs",
     "sets --port, which the stack manages. Fix: remove it: the node's endpoint calls port 8000"),
    ({"extraVllmArgs": '["--tensor-parallel-size", "2"]'}, "extraVllmArgs",
     "sets --tensor-parallel-size, which the stack manages. Fix: it follows the GPU count: pulumi config set "
     "instanceSpec <spec>"),
    *(({"extraVllmArgs": json.dumps(args)}, "extraVllmArgs",
        f"sets {flag}, which the stack manages (vLLM reads {args[0].split('=')[0]} as {flag})")
      for args, flag in (
          (["-tp", "2"], "--tensor-parallel-size"), (["-q", "fp8"], "--quantization"),
          (["--tensor_parallel_size", "2"], "--tensor-parallel-size"),
          (["--tensor-parallel", "2"], "--tensor-parallel-size"),
          (["--max_model_len=4096"], "--max-model-len"),
          (["-dp", "2"], "--data-parallel-size"), (["-pp", "2"], "--pipeline-parallel-size"),
          (["--served_model_name", "x"], "--served-model-name"))),
    ({"extraVllmArgs": '["--device-memory-utilization", "0.8"]'}, "extraVllmArgs",
     "sets --gpu-memory-utilization, which the stack manages (vLLM reads --device-memory-utilization as "
     "--gpu-memory-utilization). Fix: set it with pulumi config set gpuMemoryUtilization <fraction>"),
    ({"extraVllmArgs": '["--uds", "/tmp/vllm.sock"]'}, "extraVllmArgs",
     "sets --uds, which the stack manages. Fix: remove it: the node's endpoint calls HTTP on port 8000"),
    ({"extraVllmArgs": '["--headless"]'}, "extraVllmArgs", "Fix: remove it: the node needs the HTTP server"),
    ({"extraVllmArgs": '["--grpc"]'}, "extraVllmArgs", "Fix: remove it: the node's endpoint speaks HTTP"),
    ({"extraVllmArgs": '["Qwen/Qwen2.5-0.5B-Instruct", "--enable-prefix-caching"]'}, "extraVllmArgs",
     "is a positional argument, which vLLM takes for a second model and refuses. Fix: to serve it, pulumi "
     "config set model Qwen/Qwen2.5-0.5B-Instruct; else remove it from extraVllmArgs"),
    ({"servedModelName": "-qwen"}, "servedModelName",
     "must not start with `-`: vLLM reads it as a flag and refuses to start. Fix: pulumi config set "
     "servedModelName qwen"),
    ({"dtype": "float32", "quantization": "fp8"}, "dtype",
     "cannot run with quantization fp8: no vLLM quantization method supports float32. Fix: pulumi config set "
     "dtype auto"),
    ({"vllmImage": "vllm/vllm-openai"}, "vllmImage", "must be an image pinned by a release tag or a digest"),
    ({"vllmImage": "vllm/vllm-openai:latest"}, "vllmImage", "`latest` moves under you"),
    ({"vllmImage": "Not An Image"}, "vllmImage", "must be an image pinned"),
    ({"instanceSpec": "g1.1"}, "vllmImage", "official vLLM images from v0.9.0 on have no kernels for V100"),
    ({"instanceSpec": "g3.1"}, "instanceSpec", "is not one of: auto, gt4.1, gt4i.1, g1.1, g1.2, g1.4, g2.1, "
     "g2.2, g2.4, g2.8. Fix: pulumi config set instanceSpec g2.1"),
    ({"instanceSpec": "g2.mig"}, "instanceSpec",
     "was retired on 2023-12-20 (DataSphere release notes): 1/8 of an A100 (about 10 GB) is no longer "
     "offered. Fix: pulumi config set instanceSpec gt4.1 (1 x NVIDIA T4 16 GB, 36 units a second, the "
     "nearest current choice), or pulumi config set instanceSpec auto for the cheapest one the model fits"),
    ({"instanceSpec": "c1.8"}, "instanceSpec", "is a CPU configuration; the vLLM image needs a GPU"),
    ({"zone": "ru-central1-c"}, "zone", "is not one of: ru-central1-a, ru-central1-b, ru-central1-d. Fix: "
     "pulumi config set zone ru-central1-d"),
    ({"zone": "ru-central1b"}, "zone", "Fix: pulumi config set zone ru-central1-b"),
    ({"datasphereProjectId": "bt1exampleproject000"}, "datasphereProjectId",
     "is the example id from Pulumi.dev.yaml, not yours. Fix: pulumi config set datasphereProjectId <id from "
     "the DataSphere project page>"),
    ({"instancespec": "g2.2"}, "instancespec", "is not a setting of this stack, so it would be ignored. Did "
     "you mean instanceSpec? Fix: pulumi config rm instancespec && pulumi config set instanceSpec <value>"),
    ({"readyTimeoutMinute": "45"}, "readyTimeoutMinute", "Did you mean readyTimeoutMinutes? Fix: pulumi "
     "config rm readyTimeoutMinute && pulumi config set readyTimeoutMinutes <value>"),
    ({"colour": "blue"}, "colour", "is not a setting of this stack, so it would be ignored. Fix: pulumi "
     "config rm colour"),
    ({"instanceCount": "0"}, "instanceCount", "must be a whole number of instances, at least 1"),
    ({"instanceCount": "two"}, "instanceCount", "must be a whole number of instances"),
    ({"folderId": "my-folder"}, "folderId", "is not a Yandex Cloud ID"),
    ({"folderId": "b1gfolder00000000000", "folderName": "llm"}, "folderName", "conflicts with folderId"),
    ({"folderName": "LLM_folder"}, "folderName", "must be 1-63 lowercase letters"),
    ({"subnetId": "subnet-1"}, "subnetId", "is not a Yandex Cloud ID"),
    ({"subnetCidr": "10.130.0.0/33"}, "subnetCidr", "is not an IPv4 network"),
    ({"subnetCidr": "8.8.8.0/24"}, "subnetCidr", "must be a private range"),
    ({"subnetCidr": "10.0.0.0/8"}, "subnetCidr", "from /16 to /28"),
    ({"datasphereProjectId": None}, "datasphereProjectId", "is required"),
    ({"datasphereProjectId": "my-project"}, "datasphereProjectId", "is not a Yandex Cloud ID"),
    ({"requestTimeoutSeconds": "0"}, "requestTimeoutSeconds", "from 1 to 3600"),
    ({"requestTimeoutSeconds": "4000"}, "requestTimeoutSeconds", "from 1 to 3600"),
    ({"readyTimeoutMinutes": "0"}, "readyTimeoutMinutes", "a number of minutes above 0"),
    ({"readyTimeoutMinutes": "soon"}, "readyTimeoutMinutes", "a number of minutes above 0"),
    ({"maxUnitsPerHour": "-5"}, "maxUnitsPerHour", "compute units per hour (0: no cap)"),
    ({"aliasName": "Prod_Alias"}, "aliasName", "must be 1-63 lowercase letters"),
    ({"pollIntervalSeconds": "0"}, "pollIntervalSeconds", "above 0 and at most 60"),
    ({"datasphereEndpoint": "http://datasphere.example"}, "datasphereEndpoint", "must be an https:// URL"),
    ({"nodeApiEndpoint": "ftp://127.0.0.1"}, "nodeApiEndpoint", "must be an https:// URL"),
    ({"cloudRegistryEndpoint": "http://registry.example"}, "cloudRegistryEndpoint",
     "must be an https:// URL"),
    # Container Registry: read-only since 2026-11-10, switched off on 2026-12-14.
    ({"vllmImage": "cr.yandex/crp0000000000000000/vllm-openai:v0.33.0"}, "vllmImage",
     "is on Container Registry (cr.yandex), which is read-only since 2026-11-10 and switched off on "
     "2026-12-14: nothing can be pushed there, and nodes will not pull from it. Fix: push the image to Cloud "
     "Registry and set vllmImage to registry.yandexcloud.net/<registryId>/<image>:<tag>, or use "
     "vllm/vllm-openai:v0.33.0"),
    ({"registryId": "cr.yandex/crp0000000000000000"}, "registryId",
     "is on Container Registry (cr.yandex), which is read-only since 2026-11-10 and switched off on "
     "2026-12-14: nothing can be pushed there, and nodes will not pull from it. Fix: pulumi config rm "
     "registryId (the stack creates a Cloud Registry), or set it to the id of a Cloud Registry"),
    ({"registryId": "registry.yandexcloud.net/cn1abc"}, "registryId",
     "is not a Cloud Registry id (lowercase letters and digits, no host or path). Fix: pulumi config set "
     "registryId <id from `yc cloud-registry registry list`>"),
    ({"cloudRegistryEndpoint": "https://cr.yandex"}, "cloudRegistryEndpoint",
     "is on Container Registry (cr.yandex), which is read-only since 2026-11-10 and switched off on "
     "2026-12-14: nothing can be pushed there, and nodes will not pull from it. Fix: pulumi config rm "
     "cloudRegistryEndpoint (default https://registry.api.cloud.yandex.net)"),
]


@pytest.mark.parametrize(
    ("raw", "key", "expected"), INVALID, ids=[f"{case[1]}-{i}" for i, case in enumerate(INVALID)]
)
def test_invalid_value_names_key_value_and_fix(raw: dict[str, str | None], key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(**raw)
    problems = [p for p in error.value.problems if p.key == key]
    assert problems, f"no problem reported for {key}: {error.value}"
    message = str(problems[0])
    if problems[0].value is None:
        assert message.startswith(f"vllm-datasphere:{key} (not set): ")
    else:
        assert message.startswith(f"vllm-datasphere:{key} = ")
        assert repr(problems[0].value) in message
    assert "None" not in message
    assert expected in message
    given = raw.get(key)
    if given is not None:
        assert str(problems[0].value) in given, "the value shown must be (part of) what was set"
    assert "Fix: " in message, "every problem says how to fix it"


FIX_COMMAND = re.compile(r"Fix: pulumi config set ([\w:]+) ([^\s<>)]+)(?:[ .;,)]|$)")


@pytest.mark.parametrize(
    ("raw", "key", "expected"), INVALID, ids=[f"{case[1]}-{i}" for i, case in enumerate(INVALID)]
)
def test_every_offered_fix_command_passes_the_check_it_is_offered_for(raw: dict[str, str | None], key: str,
                                                                       expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(**raw)
    for problem in (p for p in error.value.problems if p.key == key):
        offered = FIX_COMMAND.search(problem.message)
        if offered is None:
            continue  # the fix needs the user's own value (<id ...>) or is not a config command
        fixed_key, fixed_value = offered.groups()
        fixed = {**raw, fixed_key: fixed_value}
        assert [p for p in problems_of(fixed) if p.key in (key, fixed_key)] == [], problem.message


def problems_of(raw: dict[str, str | None]) -> list:
    try:
        parse(**raw)
    except ConfigError as error:
        return error.problems
    return []


def test_loopback_endpoints_may_be_plain_http_and_fractions_of_minutes_are_allowed() -> None:
    settings = parse(datasphereEndpoint="http://127.0.0.1:8080/", readyTimeoutMinutes="0.5")
    assert settings.endpoints.datasphere == "http://127.0.0.1:8080"
    assert settings.ready_timeout_minutes == 0.5
    assert settings.models[0].alias_name == "vllm-dev"


def test_the_example_cloud_id_is_refused_with_the_command_that_sets_yours() -> None:
    with pytest.raises(ConfigError) as error:
        parse(cloud_id="b1gexamplecloud00000")
    assert [str(p) for p in error.value.problems] == [
        "yandex:cloudId = 'b1gexamplecloud00000': is the example id from Pulumi.dev.yaml, not yours. Fix: "
        "pulumi config set yandex:cloudId <id from `yc resource-manager cloud list`>"]


def test_creating_a_folder_needs_the_cloud() -> None:
    with pytest.raises(ConfigError, match=r"needs yandex:cloudId\. Fix: pulumi config set yandex:cloudId"):
        parse(cloud_id=None)


@pytest.mark.parametrize("args", [
    ["--enable-prefix-caching"], ["--max-num-seqs", "8", "--enable-chunked-prefill"], ["--max-num-seqs=8"],
    ["--tokenizer-mode", "auto", "--seed", "1"], ["--kv-cache-dtype", "fp8"], ["-O3", "--enforce_eager"],
])
def test_ordinary_extra_flags_pass(args: list[str]) -> None:
    assert parse_model(extraVllmArgs=json.dumps(args)).extra_vllm_args == tuple(args)


def test_a_registry_id_is_opaque_and_optional() -> None:
    assert parse().registry_id is None
    assert parse(registryId="").registry_id is None
    assert parse(registryId="crp3u0dqkbhaqjp1r4fs").registry_id == "crp3u0dqkbhaqjp1r4fs"
    assert parse(registryId="cn1a2b3c4d5e6f7g8h9j").registry_id == "cn1a2b3c4d5e6f7g8h9j"
    assert parse().endpoints.registry == "https://registry.api.cloud.yandex.net"


def test_a_digest_pinned_official_image_is_accepted() -> None:
    image = "vllm/vllm-openai@sha256:" + "a" * 64
    assert parse_model(vllmImage=image).vllm_image == image


@pytest.mark.parametrize(("raw", "key"), [
    ({"folderId": "not-an-id"}, "folderId"),
    ({"folderId": "not-an-id", "yandex:cloudId": None}, "folderId"),
    ({"datasphereProjectId": "short"}, "datasphereProjectId"),
    ({"model": "not a model id"}, "model"),
    ({"registryId": "cr.yandex/crp0000"}, "registryId"),
])
def test_a_refused_value_is_one_problem_not_a_second_about_its_stand_in(raw: dict[str, str | None],
                                                                        key: str) -> None:
    """The default standing in for a refused value is not judged again: no "is required", no folder
    to create for a refused folderId."""
    assert [problem.key for problem in problems_of(raw)] == [key]


def test_a_value_of_the_wrong_type_in_an_entry_is_named_with_its_path() -> None:
    entries = [{"name": "chat", "model": ["Qwen/Qwen2.5-7B-Instruct"]}]
    [problem] = problems_of({"model": None, "models": json.dumps(entries)})
    assert (problem.key, problem.value) == ("models[0].model", ["Qwen/Qwen2.5-7B-Instruct"])
    assert problem.message == ("input should be a valid string. Fix: pulumi config set --path "
                               "'models[0].model' <value>")


def test_models_that_are_not_json_are_refused_alone() -> None:
    [problem] = problems_of({"model": None, "models": '[{"name": "chat"'})
    assert problem.key == "models"
    assert problem.message.startswith("must be a list of objects, one a model.")


def test_a_bad_top_level_model_key_beside_models_is_only_said_to_be_ignored() -> None:
    entries = [{"name": "chat", "model": "Qwen/Qwen2.5-7B-Instruct"}]
    [problem] = problems_of({"model": None, "models": json.dumps(entries), "maxModelLen": "lots"})
    assert problem.key == "maxModelLen"
    assert problem.message.startswith("is a setting of one model, but models is set, so it would be ignored.")


def test_settings_and_models_are_frozen_typed_models() -> None:
    settings = parse(maxModelLen="8192")
    with pytest.raises(ValueError, match="frozen"):
        settings.models[0].max_model_len = 1  # type: ignore[misc]
    assert settings.models[0].model_copy(update={"max_model_len": 4096}).max_model_len == 4096
    assert settings.models[0].max_model_len == 8192
