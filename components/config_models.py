"""The config's keys as pydantic models: each key's type, default and own rule; unknown keys.

Pulumi hands the program strings (and a `models` entry's JSON values); pydantic reads them into typed
fields and checks each against its rule. A value it refuses becomes a `ConfigProblem` that names the key,
the value and the fix, and the key falls back to its default for the rules between keys that follow
(components/settings.py and model_settings.py), so that one preview lists every problem.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from functools import partial
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Json,
    Strict,
    ValidationError,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from components import platform
from components.cloud.endpoints import MAX_POLL_INTERVAL_SECONDS, endpoint_fix, endpoint_problem
from components.config_parsing import RETIRED_CONTAINER_REGISTRY, ConfigProblem, cloud_id_problem, not_one_of

KeysT = TypeVar("KeysT", bound="ConfigKeys")

_HF_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_HF_MODEL_ID = re.compile(rf"^(?:{_HF_PART}/)?{_HF_PART}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
# Cloud Registry ids are opaque (docs/cloud-registry-api.md): only their alphabet is checked.
_REGISTRY_ID = re.compile(r"^[a-z0-9]{3,50}$")
# What a refused number must be, and a value to set instead: "must be <allowed>. Fix: ... <example>".
NUMBERS = {
    "modelParamsBillion": ("a number of billions of parameters above 0", "7.6"),
    "maxModelLen": ("a whole number of tokens (0: the model's own)", "8192"),
    "gpuMemoryUtilization": ("a fraction above 0 and at most 1", "0.9"),
    "instanceCount": ("a whole number of instances, at least 1", "1"),
    "trafficPercent": ("a whole percentage from 0 to 100", "100"),
    "requestTimeoutSeconds": ("a whole number of seconds from 1 to 3600", "180"),
    "readyTimeoutMinutes": ("a number of minutes above 0 (fractions allowed)", "30"),
    "maxUnitsPerHour": ("a whole number of compute units per hour (0: no cap)", "20"),
    "pollIntervalSeconds": (f"a number of seconds above 0 and at most {MAX_POLL_INTERVAL_SECONDS:g}", "10"),
}
# The refusals of the lists.
LISTS = {
    "extraVllmArgs": ('must be a list of strings, e.g. ["--enable-prefix-caching"]. Fix: pulumi config set '
                      "--path 'extraVllmArgs[0]' --enable-prefix-caching"),
    "models": ("must be a list of objects, one a model. Fix: pulumi config set --path 'models[0].name' small "
               "&& pulumi config set --path 'models[0].model' <model id>"),
}


def _rule(problem: Callable[[str], str | None]) -> AfterValidator:
    """A key's own rule: `problem` says why a value breaks it (None: it holds)."""
    def check(value: str) -> str:
        message = problem(value)
        if message is not None:
            raise PydanticCustomError("config", "{message}", {"message": message})
        return value

    return AfterValidator(check)


def _matching(pattern: re.Pattern[str], message: str) -> AfterValidator:
    return _rule(lambda value: None if pattern.match(value) else message)


def _switch(value: Any) -> Any:
    """`true`/`false` in any case, as Pulumi config writes a boolean; nothing else passes."""
    return value.lower() == "true" if isinstance(value, str) and value.lower() in ("true", "false") else value


def _strings(value: Any) -> Any:
    """A list given as the JSON text Pulumi config holds (the one-model form), or as a list (an entry)."""
    with suppress(json.JSONDecodeError, TypeError):
        value = json.loads(value)
    return tuple(value) if isinstance(value, list) else value


Switch = Annotated[bool, BeforeValidator(_switch), Strict()]
Strings = Annotated[tuple[Annotated[str, Strict()], ...], BeforeValidator(_strings), Strict()]


def _quantization(method: str) -> str | None:
    return None if method in platform.QUANTIZATION_MIN_CAPABILITY else (
        f"is not one of: {', '.join(platform.QUANTIZATION_MIN_CAPABILITY)}. Fix: pulumi config set "
        "quantization fp8 (or pulumi config rm quantization for none)")


def _served_model_name(served: str) -> str | None:
    if re.search(r"\s", served):
        return ("must not contain spaces: clients send it as `model`. Fix: pulumi config set "
                f"servedModelName {'-'.join(served.split())}")
    return None if not served.startswith("-") else (
        "must not start with `-`: vLLM reads it as a flag and refuses to start. Fix: pulumi config set "
        f"servedModelName {served.lstrip('-') or 'model'}")


def _instance_spec(spec: str) -> str | None:
    """A GPU configuration of the table, or `auto` (the preflight picks one)."""
    retired = platform.RETIRED_CONFIGURATIONS.get(spec)
    if retired is not None:
        instead = platform.CONFIGURATIONS[retired.instead]
        return (f"{retired.reason}. Fix: pulumi config set instanceSpec {instead.name} "
                f"({instead.describe()}, {instead.units_per_second} units a second, the nearest current "
                "choice), or pulumi config set instanceSpec auto for the cheapest one the model fits")
    if spec in platform.CONFIGURATIONS and not platform.CONFIGURATIONS[spec].has_gpu:
        return ("is a CPU configuration; the vLLM image needs a GPU. Fix: pulumi config set instanceSpec "
                "auto (the cheapest GPU configuration the model fits), or one of: "
                f"{', '.join(platform.GPU_CONFIGURATIONS)}")
    choices = (platform.AUTO_INSTANCE_SPEC, *platform.GPU_CONFIGURATIONS)
    default = platform.DEFAULT_INSTANCE_SPEC
    return None if spec in choices else not_one_of("instanceSpec", spec, choices, default)


def _registry_id(value: str) -> str | None:
    if platform.RETIRED_REGISTRY_HOST in value:
        return (f"{RETIRED_CONTAINER_REGISTRY} Fix: pulumi config rm registryId (the stack creates a Cloud "
                "Registry), or set it to the id of a Cloud Registry from `yc cloud-registry registry list`")
    return None if _REGISTRY_ID.match(value) else (
        "is not a Cloud Registry id (lowercase letters and digits, no host or path). Fix: pulumi config "
        "set registryId <id from `yc cloud-registry registry list`>, or pulumi config rm registryId to "
        "let the stack create one")


def _private_network(cidr: str) -> str | None:
    fix = "Fix: pulumi config set subnetCidr 10.130.0.0/24"
    try:
        network = ipaddress.IPv4Network(cidr)
    except ValueError:
        return f"is not an IPv4 network. {fix}"
    return None if network.is_private and 16 <= network.prefixlen <= 28 else (
        f"must be a private range (RFC 1918) from /16 to /28. {fix}")


def _endpoint(key: str) -> AfterValidator:
    def problem(url: str) -> str | None:
        if platform.RETIRED_REGISTRY_HOST in url:
            return f"{RETIRED_CONTAINER_REGISTRY} {endpoint_fix(key)}"
        return endpoint_problem(key, url)

    return _rule(problem)


class ConfigKeys(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", frozen=True, protected_namespaces=(),
                              coerce_numbers_to_str=True, arbitrary_types_allowed=True)


class ModelKeys(ConfigKeys):
    """The keys of one model: at the top of the config (the one-model form) or in a `models` entry.
    Blank names (`model`, `servedModelName`, `aliasName`) are resolved by components/model_settings.py."""

    model: Annotated[str, _matching(_HF_MODEL_ID, (
        "is not a Hugging Face model id (organization/name). Fix: pulumi config set model "
        "Qwen/Qwen2.5-7B-Instruct (or the id on the model's Hub page)"))] = ""
    # The Hub commit served: as configured, then (components/preview.py) the one resolved at preview.
    model_revision: Annotated[str, _matching(_COMMIT, (
        "must be a commit of the model on Hugging Face (40 hex characters, not a branch or tag, which "
        "move). Fix: pulumi config set modelRevision <commit from the model page, Files and versions, "
        "History>, or pulumi config rm modelRevision to pin the current commit at each preview"
    ))] | None = None
    weights: Literal["hub", "image"] = "hub"
    served_model_name: Annotated[str, _rule(_served_model_name)] = ""
    model_params_billion: Annotated[float, Field(gt=0, le=10_000)] | None = None
    quantization: Annotated[str, _rule(_quantization)] | None = None
    dtype: Literal[platform.DTYPES] = "auto"  # type: ignore[valid-type]
    max_model_len: Annotated[int, Field(ge=0)] = 0
    gpu_memory_utilization: Annotated[float, Field(gt=0, le=1)] = 0.9
    extra_vllm_args: Strings = ()
    vllm_image: str = platform.DEFAULT_VLLM_IMAGE
    instance_spec: Annotated[str, _rule(_instance_spec)] = platform.DEFAULT_INSTANCE_SPEC
    instance_count: Annotated[int, Field(ge=1)] = 1
    alias_name: str = ""


class EntryKeys(ModelKeys):
    """An entry of `models`: a model's keys, its name, and its share of its alias's traffic."""

    name: str = ""
    traffic_percent: Annotated[int, Field(ge=0, le=100)] = 100


class SharedKeys(ConfigKeys):
    """The keys the models of a stack share."""

    zone: Literal[platform.ZONES] = platform.ZONES[0]  # type: ignore[valid-type]
    folder_id: Annotated[str, _rule(partial(cloud_id_problem, "folderId"))] | None = None
    folder_name: str = ""
    subnet_id: Annotated[str, _rule(partial(cloud_id_problem, "subnetId"))] | None = None
    subnet_cidr: Annotated[str, _rule(_private_network)] = "10.130.0.0/24"
    registry_id: Annotated[str, _rule(_registry_id)] | None = None
    datasphere_project_id: Annotated[str, _rule(partial(cloud_id_problem, "datasphereProjectId"))] = ""
    adopt_project_settings: Switch = False
    request_timeout_seconds: Annotated[int, Field(ge=1, le=3600)] = 180
    ready_timeout_minutes: Annotated[float, Field(gt=0)] = 30.0
    max_units_per_hour: Annotated[int, Field(ge=0)] = 0
    # A secret: handed over as one by components/settings.py, never as the plain text.
    hugging_face_token: pulumi.Output[str] | None = None
    datasphere_endpoint: Annotated[str, _endpoint("datasphereEndpoint")] | None = None
    operation_endpoint: Annotated[str, _endpoint("operationEndpoint")] | None = None
    iam_endpoint: Annotated[str, _endpoint("iamEndpoint")] | None = None
    node_api_endpoint: Annotated[str, _endpoint("nodeApiEndpoint")] | None = None
    cloud_registry_endpoint: Annotated[str, _endpoint("cloudRegistryEndpoint")] | None = None
    poll_interval_seconds: Annotated[float, Field(gt=0, le=MAX_POLL_INTERVAL_SECONDS)] = 10.0
    client_service_account: Switch = False
    keep_failed_node: Switch = False
    # The username a node logs in to the registry with (components/platform.py NODE_REGISTRY_LOGINS).
    node_registry_login: Literal[tuple(platform.NODE_REGISTRY_LOGINS)] = platform.REGISTRY_USERNAME  # type: ignore[valid-type]


class StackKeys(SharedKeys, ModelKeys):
    """Every key of the stack: the one-model form's, those the models share, and `models` (JSON text,
    read entry by entry)."""

    models: Json[list[dict[str, Any]]] = []


def keys_of(shape: type[ConfigKeys]) -> tuple[str, ...]:
    """The config keys a shape reads, in the order it declares them."""
    return tuple(field.alias or name for name, field in shape.model_fields.items())


def read_keys(shape: type[KeysT], raw: Mapping[str, Any], what: str = "a setting of this stack",
               listed: str = "(the settings are listed in Pulumi.yaml)") -> tuple[KeysT, list[ConfigProblem]]:
    """`raw` read into `shape` (blank values unset), with a default for every refused value, and a
    problem for each refused value and each key the shape does not read, which would be ignored
    silently (a misspelling deploys the default): `what` the keys are, and where they are `listed`."""
    given = {key: value.strip() if isinstance(value, str) else value for key, value in raw.items()
             if value is not None and not (isinstance(value, str) and not value.strip())}
    try:
        return shape.model_validate(given), []
    except ValidationError as error:
        problems: dict[str, ConfigProblem] = {}
        for item in error.errors():
            key = str(item["loc"][0])
            if key not in problems:
                message = (f"is not {what}, so it would be ignored. {close_key(key, keys_of(shape), listed)}"
                           if item["type"] == "extra_forbidden" else _refusal(shape, key, item))
                problems[key] = ConfigProblem(key, given[key], message)
        rest = {key: value for key, value in given.items() if key not in problems}
        return shape.model_validate(rest), list(problems.values())


def close_key(key: str, known: Sequence[str], listed: str) -> str:
    """What to tell of a key nobody reads: the known key it probably means, and the fix."""
    same_but_case = [name for name in known if name.lower() == key.lower()]
    guesses = same_but_case or difflib.get_close_matches(key, known, 1)
    if guesses:
        return (f"Did you mean {guesses[0]}? Fix: pulumi config rm {key} && "
                f"pulumi config set {guesses[0]} <value>")
    return f"Fix: pulumi config rm {key} {listed}"


def _refusal(shape: type[ConfigKeys], key: str, item: Any) -> str:
    if item["type"] == "config":
        return str(item["ctx"]["message"])
    if key in NUMBERS:
        allowed, example = NUMBERS[key]
        return f"must be {allowed}. Fix: pulumi config set {key} {example}"
    if key in LISTS:
        return LISTS[key]
    field = next(f for f in shape.model_fields.values() if f.alias == key)
    if field.annotation is bool:
        return f"must be true or false. Fix: pulumi config set {key} true"
    if get_origin(field.annotation) is Literal:
        return not_one_of(key, item["input"], get_args(field.annotation), field.default)
    return f"{item['msg'].lower()}. Fix: pulumi config set {key} <value>"
