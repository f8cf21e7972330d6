"""The config's shape as pydantic models: each key's type and default, unknown keys, `models` entries.

Pulumi hands the program strings (and a `models` entry's JSON values); pydantic reads them into typed
fields. A value it refuses becomes a `ConfigProblem` that names the key, the value and the fix, and the
key falls back to its default for the rules that follow (components/settings.py and model_settings.py:
ids, URLs, images, flags, and the rules between keys), so that one preview lists every problem.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError
from pydantic.alias_generators import to_camel

from components import platform
from components.cloud.endpoints import MAX_POLL_INTERVAL_SECONDS
from components.config_parsing import ConfigProblem, not_one_of

Shape = TypeVar("Shape", bound="ConfigShape")


def _switch(value: Any) -> Any:
    """`true`/`false` in any case, as Pulumi config writes a boolean; nothing else passes."""
    return value.lower() == "true" if isinstance(value, str) and value.lower() in ("true", "false") else value


def _json_list(value: Any) -> Any:
    """A list given as the JSON text Pulumi config holds (the one-model form), or as a list (an entry)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


Switch = Annotated[bool, BeforeValidator(_switch), Strict()]
Strings = Annotated[list[Annotated[str, Strict()]], BeforeValidator(_json_list), Strict()]

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
    "pollIntervalSeconds": ("a number of seconds above 0 and at most 60", "10"),
}
EXTRA_ARGS_FIX = ('must be a list of strings, e.g. ["--enable-prefix-caching"]. '
                  "Fix: pulumi config set --path 'extraVllmArgs[0]' --enable-prefix-caching")


class ConfigShape(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", frozen=True, protected_namespaces=(),
                              coerce_numbers_to_str=True)


class ModelShape(ConfigShape):
    """The keys of one model: at the top of the config (the one-model form) or in a `models` entry."""

    model: str | None = None
    model_revision: str | None = None
    weights: Literal["hub", "image"] = "hub"
    served_model_name: str | None = None
    model_params_billion: Annotated[float, Field(gt=0, le=10_000)] | None = None
    quantization: str | None = None
    dtype: Literal[platform.DTYPES] = "auto"  # type: ignore[valid-type]
    max_model_len: Annotated[int, Field(ge=0)] = 0
    gpu_memory_utilization: Annotated[float, Field(gt=0, le=1)] = 0.9
    extra_vllm_args: Strings = []
    vllm_image: str = platform.DEFAULT_VLLM_IMAGE
    instance_spec: str = platform.DEFAULT_INSTANCE_SPEC
    instance_count: Annotated[int, Field(ge=1)] = 1
    alias_name: str | None = None


class EntryShape(ModelShape):
    """An entry of `models`: a model's keys, its name, and its share of its alias's traffic."""

    name: str | None = None
    traffic_percent: Annotated[int, Field(ge=0, le=100)] = 100


class StackShape(ModelShape):
    """Every key of the stack: the one-model form's, `models` (JSON text, read entry by entry), and the
    keys the models share."""

    models: str | None = None
    zone: Literal[platform.ZONES] = platform.ZONES[0]  # type: ignore[valid-type]
    folder_id: str | None = None
    folder_name: str | None = None
    subnet_id: str | None = None
    subnet_cidr: str = "10.130.0.0/24"
    registry_id: str | None = None
    datasphere_project_id: str | None = None
    adopt_project_settings: Switch = False
    request_timeout_seconds: Annotated[int, Field(ge=1, le=3600)] = 180
    ready_timeout_minutes: Annotated[float, Field(gt=0)] = 30.0
    max_units_per_hour: Annotated[int, Field(ge=0)] = 0
    hugging_face_token: str | None = None
    datasphere_endpoint: str | None = None
    operation_endpoint: str | None = None
    iam_endpoint: str | None = None
    node_api_endpoint: str | None = None
    cloud_registry_endpoint: str | None = None
    poll_interval_seconds: Annotated[float, Field(gt=0, le=MAX_POLL_INTERVAL_SECONDS)] = 10.0
    client_service_account: Switch = False
    keep_failed_node: Switch = False
    node_registry_login: Literal[tuple(platform.NODE_REGISTRY_LOGINS)] = platform.REGISTRY_USERNAME  # type: ignore[valid-type]


def keys_of(shape: type[ConfigShape]) -> tuple[str, ...]:
    """The config keys a shape reads, in the order it declares them."""
    return tuple(field.alias or name for name, field in shape.model_fields.items())


def read_shape(shape: type[Shape], raw: Mapping[str, Any], unknown: Callable[[str], str]
               ) -> tuple[Shape, list[ConfigProblem]]:
    """`raw` read into `shape` (blank values unset), with a default for every refused value, and a
    problem for each refused value and each key the shape does not read (`unknown` says what of it)."""
    given = {key: value.strip() if isinstance(value, str) else value for key, value in raw.items()
             if value is not None and not (isinstance(value, str) and not value.strip())}
    try:
        return shape.model_validate(given), []
    except ValidationError as error:
        problems: dict[str, ConfigProblem] = {}
        for item in error.errors():
            key = str(item["loc"][0])
            if key not in problems:
                extra = item["type"] == "extra_forbidden"
                message = unknown(key) if extra else _refusal(shape, key, given[key])
                problems[key] = ConfigProblem(key, given[key], message)
        rest = {key: value for key, value in given.items() if key not in problems}
        return shape.model_validate(rest), list(problems.values())


def _refusal(shape: type[ConfigShape], key: str, value: Any) -> str:
    if key in NUMBERS:
        allowed, example = NUMBERS[key]
        return f"must be {allowed}. Fix: pulumi config set {key} {example}"
    if key == "extraVllmArgs":
        return EXTRA_ARGS_FIX
    field = next(f for f in shape.model_fields.values() if f.alias == key)
    choices = getattr(field.annotation, "__args__", ())
    if field.annotation is bool:
        return f"must be true or false. Fix: pulumi config set {key} true"
    return not_one_of(key, value, choices, field.default)

