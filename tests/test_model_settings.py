"""The `models` form of the config model: entries, their problems scoped to them, and alias groups."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.config_parsing import ConfigError
from components.model_settings import ENTRY_NAME_LENGTH, MODEL_KEY_DEFAULTS, MODEL_KEYS
from components.settings import Settings
from tests.program import PROJECT, project_defaults
from tests.stack_config import parse_settings

SHARED = {"datasphereProjectId": "bt1project0000000000"}
CLOUD = "b1gcloud000000000000"
QWEN = "Qwen/Qwen2.5-7B-Instruct"
AWQ = "Qwen/Qwen2.5-7B-Instruct-AWQ"
# A fix for one entry: `pulumi config set --path 'models[1].maxModelLen' 8192`.
ENTRY_FIX = re.compile(r"pulumi config set --path 'models\[(\d+)\]\.(\w+)' ([^\s<>)&]+)")


def parse(entries: list[dict[str, Any]], **raw: str) -> Settings:
    return parse_settings({"models": json.dumps(entries), **SHARED, **raw}, stack="dev", cloud_id=CLOUD)


def problems(entries: list[dict[str, Any]], **raw: str) -> list:
    try:
        parse(entries, **raw)
    except ConfigError as error:
        return error.problems
    return []


def test_each_entry_is_a_model_with_its_own_names() -> None:
    settings = parse([{"name": "chat", "model": QWEN, "instanceSpec": "g2.2", "maxModelLen": 8192},
                      {"name": "small", "model": AWQ, "quantization": "awq", "gpuMemoryUtilization": 0.8,
                       "extraVllmArgs": ["--enable-prefix-caching"], "aliasName": "team-small"}])
    chat, small = settings.models
    assert not settings.one_model_form
    assert (chat.name, chat.model, chat.instance_spec, chat.tensor_parallel_size, chat.max_model_len) == (
        "chat", QWEN, "g2.2", 2, 8192)
    assert (chat.alias_name, chat.resource_suffix, chat.traffic_percent) == ("vllm-dev-chat", "-chat", 100)
    assert (small.quantization, small.gpu_memory_utilization, small.extra_vllm_args) == (
        "awq", 0.8, ("--enable-prefix-caching",))
    assert small.alias_name == "team-small"
    assert settings.what_is_served == "2 models"


def test_every_problem_of_every_entry_comes_at_once_named_by_its_entry() -> None:
    with pytest.raises(ConfigError) as error:
        parse([{"name": "chat", "model": QWEN, "instanceSpec": "g9.1"},
               {"name": "small", "model": "not/a/model", "maxModelLen": "long"}], zone="mars-1")
    found = [(p.entry, p.key) for p in error.value.problems]
    assert found == [("chat", "models[0].instanceSpec"), ("small", "models[1].model"),
                     ("small", "models[1].maxModelLen"), (None, "zone")]
    text = str(error.value)
    assert ("[small] vllm-datasphere:models[1].maxModelLen = 'long': must be a whole number of tokens (0: "
            "the model's own). Fix: pulumi config set --path 'models[1].maxModelLen' 8192") in text
    assert "[chat] vllm-datasphere:models[0].instanceSpec = 'g9.1': is not one of" in text


@pytest.mark.parametrize(("entries", "key"), [
    ([{"name": "chat", "model": QWEN, "instanceSpec": "g2.l"}], "instanceSpec"),
    ([{"name": "chat", "model": QWEN, "maxModelLen": "-1"}], "maxModelLen"),
    ([{"name": "chat", "model": QWEN, "gpuMemoryUtilization": "1.5"}], "gpuMemoryUtilization"),
    ([{"name": "chat", "model": QWEN, "dtype": "bf16"}], "dtype"),
    ([{"name": "chat", "model": QWEN, "instanceCount": 0}], "instanceCount"),
    ([{"name": "chat", "model": QWEN, "trafficPercent": 150}], "trafficPercent"),
    ([{"name": "Chat Model", "model": QWEN}], "name"),
    ([{"name": "chat", "model": QWEN, "servedModelName": "--chat"}], "servedModelName"),
    ([{"name": "chat", "model": QWEN, "instanceSpec": "g1.1", "quantization": "awq",
       "vllmImage": "registry.example/vllm-volta:v0.8.5"}], "quantization"),
    ([{"name": "a", "model": QWEN, "aliasName": "shared", "trafficPercent": 90},
      {"name": "b", "model": QWEN, "aliasName": "shared", "trafficPercent": 20}], "trafficPercent"),
])
def test_every_offered_entry_fix_passes_the_check_it_is_offered_for(entries: list[dict[str, Any]],
                                                                   key: str) -> None:
    found = [p for p in problems(entries) if p.key.endswith(f".{key}")]
    assert found, f"no problem with {key}"
    for problem in found:
        fixes = ENTRY_FIX.findall(problem.message)
        assert fixes, problem.message
        fixed = json.loads(json.dumps(entries))
        for index, fixed_key, value in fixes:
            fixed[int(index)][fixed_key] = value
        assert [p for p in problems(fixed) if p.key.endswith(f".{key}")] == [], problem.message


def test_entries_sharing_an_alias_split_its_traffic_and_serve_one_name() -> None:
    canary = [{"name": "stable", "model": QWEN, "servedModelName": "chat", "aliasName": "chat",
               "trafficPercent": 90},
              {"name": "next", "model": AWQ, "quantization": "awq", "servedModelName": "chat",
               "aliasName": "chat", "trafficPercent": 10}]
    stable, next_ = parse(canary).models
    assert (stable.alias_name, stable.traffic_percent, next_.traffic_percent) == ("chat", 90, 10)

    [problem] = problems([canary[0] | {"trafficPercent": 100}, canary[1]])
    assert (problem.entry, problem.key) == ("next", "models[1].trafficPercent")
    assert problem.message == (
        "the trafficPercent of the entries of alias chat (stable, next) add up to 110, not 100. Fix: pulumi "
        "config set --path 'models[0].trafficPercent' 50 && pulumi config set --path "
        "'models[1].trafficPercent' 50")

    [problem] = problems([canary[0], canary[1] | {"servedModelName": "chat-v2"}])
    assert problem.key == "models[1].servedModelName"
    assert "a client of the alias sends one model name" in problem.message
    assert problem.message.endswith("Fix: pulumi config set --path 'models[1].servedModelName' chat")


def test_an_entry_alone_in_its_alias_takes_all_its_traffic() -> None:
    [problem] = problems([{"name": "chat", "model": QWEN, "trafficPercent": 40}])
    assert problem.key == "models[0].trafficPercent"
    assert "add up to 40, not 100" in problem.message


def test_names_are_required_unique_and_short() -> None:
    found = problems([{"model": QWEN}, {"name": "chat", "model": QWEN}, {"name": "chat", "model": AWQ},
                      {"name": "a" * (ENTRY_NAME_LENGTH + 1), "model": QWEN}])
    assert [(p.key, p.message.split(".")[0]) for p in found if p.key.endswith(".name")] == [
        ("models[0].name", "is required: a short slug for the model's resources and default alias"),
        ("models[3].name", f"must be 1-{ENTRY_NAME_LENGTH} lowercase letters, digits and hyphens, starting "
                           "with a letter (it is part of the node's name, vllm-<stack>-<name>-<digest>)"),
        ("models[2].name", "is the name of models[1] too; names must differ"),
    ]


def test_a_misspelled_entry_key_is_refused_with_the_key_meant() -> None:
    [problem] = problems([{"name": "chat", "model": QWEN, "maxModelLength": 8192}])
    assert problem.key == "models[0].maxModelLength"
    assert problem.message == (
        "is not a key of a models entry, so it would be ignored. Did you mean maxModelLen? Fix: pulumi "
        "config rm --path 'models[0].maxModelLength' && pulumi config set --path 'models[0].maxModelLen' "
        "<value>")


def test_a_one_model_key_beside_models_is_refused_not_ignored() -> None:
    found = problems([{"name": "chat", "model": QWEN}], model=QWEN, maxModelLen="4096", dtype="auto")
    assert [(p.key, p.value) for p in found] == [("model", QWEN), ("maxModelLen", "4096")]
    assert found[0].message.endswith("Fix: pulumi config rm model (and set it in each entry of models that "
                                     "needs it)")


def test_models_must_be_a_list_of_objects() -> None:
    [problem] = problems(["Qwen/Qwen2.5-7B-Instruct"])
    assert problem.key == "models"
    assert problem.message.startswith("must be a list of objects, one a model.")


def test_the_one_model_defaults_are_those_of_pulumi_yaml() -> None:
    defaults = project_defaults()
    assert {key: defaults[f"{PROJECT}:{key}"] for key in MODEL_KEYS} == MODEL_KEY_DEFAULTS


@pytest.mark.parametrize("empty", ["[]", " [ ] ", ""])
def test_an_empty_models_in_any_spelling_is_the_one_model_form(empty: str) -> None:
    settings = parse_settings({"models": empty, "model": QWEN, **SHARED}, stack="dev", cloud_id=CLOUD)
    assert settings.one_model_form
    assert [m.name for m in settings.models] == ["default"]
