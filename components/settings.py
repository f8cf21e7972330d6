"""The stack's configuration as a typed, validated model.

`parse_settings` turns the raw config strings into `Settings` or raises one `ConfigError`
that lists every bad key with its value and the fix. It knows nothing of Pulumi resources,
so it runs (and is tested) before anything is created.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import pulumi

from components import platform
from components.cloud.http import Endpoints
from components.cloud.provider import ENDPOINT_KEYS
from components.vllm_flags import MANAGED_FLAGS, managed_flag, positional_arguments

NAMESPACE = "vllm-datasphere"

RawConfig = Mapping[str, str | None]
T = TypeVar("T")

_HF_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_HF_MODEL_ID = re.compile(rf"^(?:{_HF_PART}/)?{_HF_PART}$")
_CLOUD_ID = re.compile(r"^[a-z][a-z0-9]{19}$")
# Cloud Registry ids are opaque (docs/cloud-registry-api.md): only their alphabet is checked.
_REGISTRY_ID = re.compile(r"^[a-z0-9]{3,50}$")
_RESOURCE_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_IMAGE_REF = re.compile(
    r"^(?P<repo>[a-z0-9][a-z0-9._/-]*[a-z0-9](?::[0-9]+/[a-z0-9._/-]+)?)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
_RELEASE_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)")
_LOOPBACK_URL = re.compile(r"^http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/|$)")
# The public URLs, from the one place the client keeps them.
ENDPOINT_DEFAULTS = {key: getattr(Endpoints(), attr) for attr, key in ENDPOINT_KEYS.items()}

RETIRED_CONTAINER_REGISTRY = (
    f"is on Container Registry ({platform.RETIRED_REGISTRY_HOST}), which is read-only since 2026-11-10 and "
    "switched off on 2026-12-14: nothing can be pushed there, and nodes will not pull from it."
)

# Where a user finds each id the config takes.
ID_SOURCES = {
    "yandex:cloudId": "`yc resource-manager cloud list`",
    "folderId": "`yc resource-manager folder list`",
    "subnetId": "`yc vpc subnet list`",
    "datasphereProjectId": "the DataSphere project page",
}
# The ids Pulumi.dev.yaml ships as examples: valid in form, so refused by name.
PLACEHOLDER_IDS = frozenset({"b1gexamplecloud00000", "bt1exampleproject000"})

def stack_slug(stack: str) -> str:
    """The stack name as Yandex accepts it in names and labels: lowercase, digits and `-`."""
    return re.sub(r"[^a-z0-9]+", "-", stack.lower()).strip("-")[:30] or "stack"


@dataclass(frozen=True)
class ConfigProblem:
    key: str
    value: object
    message: str

    def __str__(self) -> str:
        key = self.key if ":" in self.key else f"{NAMESPACE}:{self.key}"
        return f"{key} = {self.value!r}: {self.message}"


class ConfigError(pulumi.RunError):
    """Raised with every invalid config value at once; the engine shows it without a traceback."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid stack configuration ({len(problems)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class Settings:
    model: str
    served_model_name: str
    model_params_billion: float | None
    quantization: str | None
    dtype: str
    max_model_len: int | None
    gpu_memory_utilization: float
    extra_vllm_args: tuple[str, ...]
    vllm_image: str
    instance_spec: str
    zone: str
    instance_count: int
    folder_id: str | None
    folder_name: str
    subnet_id: str | None
    subnet_cidr: str
    registry_id: str | None
    datasphere_project_id: str
    cloud_id: str | None
    request_timeout_seconds: int
    ready_timeout_minutes: float
    max_units_per_hour: int
    alias_name: str
    poll_interval_seconds: float
    endpoints: Mapping[str, str]
    client_service_account: bool
    keep_failed_node: bool
    hugging_face_token: pulumi.Output[str] | None = None

    @property
    def configuration(self) -> platform.Configuration:
        return platform.CONFIGURATIONS[self.instance_spec]

    @property
    def tensor_parallel_size(self) -> int:
        return self.configuration.gpu_count


class _Parser:
    """Collects problems instead of stopping at the first, so one preview shows them all."""

    def __init__(self, raw: RawConfig) -> None:
        self.raw = raw
        self.problems: list[ConfigProblem] = []

    def fail(self, key: str, value: object, message: str) -> None:
        self.problems.append(ConfigProblem(key, value, message))

    def text(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def required(self, key: str, hint: str) -> str:
        value = self.text(key)
        if value is None:
            self.fail(key, self.raw.get(key), f"is required. Fix: pulumi config set {key} {hint}")
            return ""
        return value

    def number(self, key: str, convert: Callable[[str], T], valid: Callable[[T], bool],
               allowed: str, default: T, example: str) -> T:
        value = self.text(key)
        if value is None:
            return default
        try:
            number = convert(value)
        except ValueError:
            number = None
        if number is None or not valid(number):
            self.fail(key, value, f"must be {allowed}. Fix: pulumi config set {key} {example}")
            return default
        return number

    def boolean(self, key: str, default: bool) -> bool:
        value = self.text(key)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            self.fail(key, value, f"must be true or false. Fix: pulumi config set {key} true")
            return default
        return value.lower() == "true"

    def one_of(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(key) or default
        if value not in allowed:
            closest = difflib.get_close_matches(value.lower(), allowed, n=1, cutoff=0.5)
            self.fail(key, value, f"is not one of: {', '.join(allowed)}. "
                      f"Fix: pulumi config set {key} {(closest or [default])[0]}")
            return default
        return value

    def cloud_id(self, key: str, required: bool = False) -> str | None:
        """An id of the cloud (`ID_SOURCES` says where a user finds it); an example id is refused."""
        fix = f"pulumi config set {key} <id from {ID_SOURCES[key]}>"
        value = self.required(key, f"<id from {ID_SOURCES[key]}>") if required else self.text(key)
        if value and not _CLOUD_ID.match(value):
            self.fail(key, value, "is not a Yandex Cloud ID (20 characters: a lowercase letter, then "
                      f"lowercase letters and digits). Fix: {fix}")
        elif value in PLACEHOLDER_IDS:
            self.fail(key, value, f"is the example id from Pulumi.dev.yaml, not yours. Fix: {fix}")
        return value


def _parse_string_list(parser: _Parser, key: str) -> tuple[str, ...]:
    value = parser.text(key)
    if value is None:
        return ()
    try:
        items = json.loads(value)
    except json.JSONDecodeError:
        items = None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        parser.fail(key, value, 'must be a list of strings, e.g. ["--enable-prefix-caching"]. '
                    f"Fix: pulumi config set --path '{key}[0]' --enable-prefix-caching")
        return ()
    for item in items:
        flag = managed_flag(item)
        if flag is None:
            continue
        written = item.split("=", 1)[0]
        read_as = "" if written == flag else f" (vLLM reads {written} as {flag})"
        parser.fail(key, item, f"sets {flag}, which the stack manages{read_as}. Fix: {MANAGED_FLAGS[flag]}")
    for item in positional_arguments(items):
        parser.fail(key, item, "is a positional argument, which vLLM takes for a second model and refuses. "
                    f"Fix: to serve it, pulumi config set model {item}; else remove it from {key}")
    return tuple(items)


def _check_image(parser: _Parser, image: str, configuration: platform.Configuration) -> None:
    if image.split("/", 1)[0] == platform.RETIRED_REGISTRY_HOST:
        parser.fail("vllmImage", image, f"{RETIRED_CONTAINER_REGISTRY} Fix: push the image to Cloud Registry "
                    f"and set vllmImage to {platform.REGISTRY_HOST}/<registryId>/<image>:<tag>, or use "
                    f"{platform.DEFAULT_VLLM_IMAGE}")
        return
    match = _IMAGE_REF.match(image)
    if not match or not (match["tag"] or match["digest"]):
        parser.fail("vllmImage", image, "must be an image pinned by a release tag or a digest. Fix: pulumi "
                    f"config set vllmImage {platform.DEFAULT_VLLM_IMAGE}")
        return
    if match["tag"] == "latest" and not match["digest"]:
        parser.fail("vllmImage", image, "`latest` moves under you; pin a release tag. Fix: pulumi config "
                    f"set vllmImage {platform.DEFAULT_VLLM_IMAGE}")
        return
    release = _RELEASE_TAG.match(match["tag"] or "")
    if (
        configuration.compute_capability == (7, 0)
        and match["repo"] == platform.OFFICIAL_VLLM_REPOSITORY
        and release
        and tuple(int(part) for part in release.groups())
        >= platform.FIRST_OFFICIAL_RELEASE_WITHOUT_VOLTA
    ):
        parser.fail("vllmImage", image, "official vLLM images from v0.9.0 on have no kernels for "
                    "V100 (compute capability 7.0). Fix: pulumi config set instanceSpec g2.1 (an A100), or "
                    "set vllmImage to an image built for sm_70 (CUDA 12.6 or older)")


def _check_precision(parser: _Parser, settings: Settings, configuration: platform.Configuration) -> None:
    if settings.dtype in platform.FLOAT32_DTYPES and settings.quantization is not None:
        parser.fail("dtype", settings.dtype, f"cannot run with quantization {settings.quantization}: no "
                    "vLLM quantization method supports float32. Fix: pulumi config set dtype auto (or pulumi "
                    "config rm quantization)")
    if settings.dtype == "bfloat16" and not configuration.supports_bfloat16:
        parser.fail("dtype", settings.dtype, f"{configuration.gpu} has no bfloat16. "
                    "Fix: pulumi config set dtype half (or auto, which becomes half here)")
    if settings.quantization is not None and not configuration.runs_quantization(settings.quantization):
        needed = platform.QUANTIZATION_MIN_CAPABILITY[settings.quantization]
        have = configuration.compute_capability or (0, 0)
        parser.fail("quantization", settings.quantization,
                    f"needs compute capability {needed[0]}.{needed[1]}, but {configuration.gpu} "
                    f"has {have[0]}.{have[1]}. Fix: pulumi config set instanceSpec g2.1 (an A100), or pick "
                    "another method")


def configuration_problems(settings: Settings,
                           configuration: platform.Configuration) -> list[ConfigProblem]:
    """Why the image, dtype or quantization cannot run on `configuration` (empty: they can)."""
    parser = _Parser({})
    _check_image(parser, settings.vllm_image, configuration)
    _check_precision(parser, settings, configuration)
    return parser.problems


def _check_keys(parser: _Parser) -> None:
    """A key this stack does not read would be ignored silently: a misspelling deploys the default."""
    for key in parser.raw:
        if key in CONFIG_KEYS:
            continue
        same_but_case = [known for known in CONFIG_KEYS if known.lower() == key.lower()]
        guesses = same_but_case or difflib.get_close_matches(key, CONFIG_KEYS, 1)
        if guesses:
            hint = (f"Did you mean {guesses[0]}? Fix: pulumi config rm {key} && "
                    f"pulumi config set {guesses[0]} <value>")
        else:
            hint = f"Fix: pulumi config rm {key} (the settings are listed in Pulumi.yaml)"
        parser.fail(key, parser.raw[key], f"is not a setting of this stack, so it would be ignored. {hint}")


def _parse_registry_id(parser: _Parser) -> str | None:
    value = parser.text("registryId")
    if value is None:
        return None
    if platform.RETIRED_REGISTRY_HOST in value:
        parser.fail("registryId", value, f"{RETIRED_CONTAINER_REGISTRY} Fix: pulumi config rm registryId "
                    "(the stack creates a Cloud Registry), or set it to the id of a Cloud Registry from "
                    "`yc cloud-registry registry list`")
    elif not _REGISTRY_ID.match(value):
        parser.fail("registryId", value, "is not a Cloud Registry id (lowercase letters and digits, no host "
                    "or path). Fix: pulumi config set registryId <id from `yc cloud-registry registry "
                    "list`>, or pulumi config rm registryId to let the stack create one")
    return value


def _check_network(parser: _Parser, cidr: str) -> None:
    try:
        network = ipaddress.IPv4Network(cidr)
    except ValueError:
        parser.fail("subnetCidr", cidr, "is not an IPv4 network. Fix: pulumi config set subnetCidr "
                    "10.130.0.0/24")
        return
    if not network.is_private or not 16 <= network.prefixlen <= 28:
        parser.fail("subnetCidr", cidr, "must be a private range (RFC 1918) from /16 to /28. Fix: pulumi "
                    "config set subnetCidr 10.130.0.0/24")


def _parse_endpoints(parser: _Parser) -> dict[str, str]:
    endpoints = {}
    for key, default in ENDPOINT_DEFAULTS.items():
        url = parser.text(key) or default
        if platform.RETIRED_REGISTRY_HOST in url:
            parser.fail(key, url, f"{RETIRED_CONTAINER_REGISTRY} Fix: pulumi config rm {key} "
                        f"(default {default})")
        elif not (url.startswith("https://") or _LOOPBACK_URL.match(url)):
            parser.fail(key, url, f"must be an https:// URL (http:// only on loopback). Fix: pulumi config "
                        f"rm {key} (default {default})")
        endpoints[key] = url.rstrip("/")
    return endpoints


def parse_settings(raw: RawConfig, *, stack: str, cloud_id: str | None,
                   hugging_face_token: pulumi.Output[str] | None = None) -> Settings:
    """Validate raw config strings (`Pulumi.yaml` defaults already applied) into `Settings`."""
    settings, problems = settings_and_problems(raw, stack=stack, cloud_id=cloud_id,
                                               hugging_face_token=hugging_face_token)
    if problems:
        raise ConfigError(problems)
    return settings


def settings_and_problems(raw: RawConfig, *, stack: str, cloud_id: str | None,
                          hugging_face_token: pulumi.Output[str] | None = None
                          ) -> tuple[Settings, list[ConfigProblem]]:
    """The settings, with a default standing in for each refused value, and every problem found.

    Checks that read a refused value are skipped by the caller, so a default never passes for the
    user's choice (`components/preview.py`)."""
    p = _Parser(raw)
    _check_keys(p)
    model = p.required("model", "Qwen/Qwen2.5-7B-Instruct")
    if model and not _HF_MODEL_ID.match(model):
        p.fail("model", model, "is not a Hugging Face model id (organization/name). Fix: pulumi config set "
               "model Qwen/Qwen2.5-7B-Instruct (or the id on the model's Hub page)")
    served = p.text("servedModelName") or model
    if re.search(r"\s", served):
        p.fail("servedModelName", served, "must not contain spaces: clients send it as `model`. Fix: "
               f"pulumi config set servedModelName {'-'.join(served.split())}")
    elif served.startswith("-"):
        p.fail("servedModelName", served, "must not start with `-`: vLLM reads it as a flag and refuses to "
               f"start. Fix: pulumi config set servedModelName {served.lstrip('-') or 'model'}")

    spec = p.text("instanceSpec") or "g2.1"
    if spec in platform.CONFIGURATIONS and not platform.CONFIGURATIONS[spec].has_gpu:
        p.fail("instanceSpec", spec, "is a CPU configuration; the vLLM image needs a GPU. Fix: pulumi config "
               "set instanceSpec g2.1 (or another GPU configuration: "
               f"{', '.join(platform.GPU_CONFIGURATIONS)})")
        instance_spec = "g2.1"
    else:
        instance_spec = p.one_of("instanceSpec", platform.GPU_CONFIGURATIONS, "g2.1")
    configuration = platform.CONFIGURATIONS[instance_spec]

    quantization = p.text("quantization")
    if quantization is not None and quantization not in platform.QUANTIZATION_MIN_CAPABILITY:
        p.fail("quantization", quantization,
               f"is not one of: {', '.join(platform.QUANTIZATION_MIN_CAPABILITY)}. Fix: pulumi config set "
               "quantization fp8 (or pulumi config rm quantization for none)")
        quantization = None
    dtype = p.one_of("dtype", platform.DTYPES, "auto")
    if dtype == "auto" and not configuration.supports_bfloat16:
        dtype = "half"

    folder_id = p.cloud_id("folderId")
    folder_name = p.text("folderName")
    if folder_id and folder_name:
        p.fail("folderName", folder_name, "conflicts with folderId: set one. Fix: pulumi config "
               "rm folderName (to use the folder), or pulumi config rm folderId (to create one)")
    folder_name = folder_name or f"vllm-{stack_slug(stack)}"
    if not folder_id:
        if not _RESOURCE_NAME.match(folder_name):
            p.fail("folderName", folder_name, "must be 1-63 lowercase letters, digits and hyphens, "
                   f"starting with a letter. Fix: pulumi config set folderName vllm-{stack_slug(stack)}")
        if not cloud_id:
            p.fail("folderId", None, "is unset, so a folder will be created, which needs yandex:cloudId. "
                   f"Fix: pulumi config set yandex:cloudId <id from {ID_SOURCES['yandex:cloudId']}>, "
                   f"or pulumi config set folderId <id from {ID_SOURCES['folderId']}>")
        elif cloud_id in PLACEHOLDER_IDS:
            p.fail("yandex:cloudId", cloud_id, "is the example id from Pulumi.dev.yaml, not yours. Fix: "
                   f"pulumi config set yandex:cloudId <id from {ID_SOURCES['yandex:cloudId']}>")

    settings = Settings(
        model=model,
        served_model_name=served,
        model_params_billion=p.number("modelParamsBillion", float, lambda n: 0 < n <= 10_000,
                                      "a number of billions of parameters above 0", 0.0, "7.6") or None,
        quantization=quantization,
        dtype=dtype,
        max_model_len=p.number("maxModelLen", int, lambda n: n >= 0,
                               "a whole number of tokens (0: the model's own)", 0, "8192") or None,
        gpu_memory_utilization=p.number("gpuMemoryUtilization", float, lambda n: 0 < n <= 1,
                                        "a fraction above 0 and at most 1", 0.9, "0.9"),
        extra_vllm_args=_parse_string_list(p, "extraVllmArgs"),
        vllm_image=p.text("vllmImage") or platform.DEFAULT_VLLM_IMAGE,
        instance_spec=configuration.name,
        zone=p.one_of("zone", platform.ZONES, platform.ZONES[0]),
        instance_count=p.number("instanceCount", int, lambda n: n >= 1,
                                "a whole number of instances, at least 1", 1, "1"),
        folder_id=folder_id,
        folder_name=folder_name,
        subnet_id=p.cloud_id("subnetId"),
        subnet_cidr=p.text("subnetCidr") or "10.130.0.0/24",
        registry_id=_parse_registry_id(p),
        datasphere_project_id=p.cloud_id("datasphereProjectId", required=True) or "",
        cloud_id=cloud_id,
        request_timeout_seconds=p.number("requestTimeoutSeconds", int, lambda n: 1 <= n <= 3600,
                                         "a whole number of seconds from 1 to 3600", 180, "180"),
        ready_timeout_minutes=p.number("readyTimeoutMinutes", float, lambda n: n > 0,
                                       "a number of minutes above 0 (fractions allowed)", 30.0, "30"),
        max_units_per_hour=p.number("maxUnitsPerHour", int, lambda n: n >= 0,
                                    "a whole number of compute units per hour (0: no cap)", 0, "20"),
        alias_name=p.text("aliasName") or f"vllm-{stack_slug(stack)}",
        poll_interval_seconds=p.number("pollIntervalSeconds", float, lambda n: 0 < n <= 60,
                                       "a number of seconds above 0 and at most 60", 10.0, "10"),
        endpoints=_parse_endpoints(p),
        client_service_account=p.boolean("clientServiceAccount", default=False),
        keep_failed_node=p.boolean("keepFailedNode", default=False),
        hugging_face_token=hugging_face_token,
    )
    if not _RESOURCE_NAME.match(settings.alias_name):
        p.fail("aliasName", settings.alias_name, "must be 1-63 lowercase letters, digits and hyphens, "
               f"starting with a letter. Fix: pulumi config set aliasName vllm-{stack_slug(stack)}")
    p.problems.extend(configuration_problems(settings, configuration))
    _check_network(p, settings.subnet_cidr)
    return settings, p.problems


CONFIG_KEYS: tuple[str, ...] = (
    "model", "servedModelName", "modelParamsBillion", "quantization", "dtype", "maxModelLen",
    "gpuMemoryUtilization", "extraVllmArgs", "vllmImage", "instanceSpec", "zone", "instanceCount", "folderId",
    "folderName", "subnetId", "subnetCidr", "registryId", "datasphereProjectId", "requestTimeoutSeconds",
    "readyTimeoutMinutes", "maxUnitsPerHour", "aliasName", "huggingFaceToken", "datasphereEndpoint",
    "operationEndpoint", "iamEndpoint", "nodeApiEndpoint", "cloudRegistryEndpoint", "pollIntervalSeconds",
    "clientServiceAccount", "keepFailedNode",
)


def read_settings() -> tuple[Settings, list[ConfigProblem]]:
    """Read the current stack's config through Pulumi and validate it."""
    config = pulumi.Config(NAMESPACE)
    raw = {key: config.get(key) for key in CONFIG_KEYS if key != "huggingFaceToken"}
    # Keys this stack does not read are passed on too, so that a misspelled one is refused.
    stack_keys = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.config.get_config_env())
    raw |= {key: pulumi.runtime.get_config(f"{NAMESPACE}:{key}")
            for key in (full.split(":", 1)[1] for full in stack_keys if full.startswith(f"{NAMESPACE}:"))
            if key not in CONFIG_KEYS}
    # The Yandex provider falls back to YC_CLOUD_ID the same way.
    cloud_id = pulumi.Config("yandex").get("cloudId") or os.environ.get("YC_CLOUD_ID")
    token = read_hugging_face_token()
    return settings_and_problems(raw, stack=pulumi.get_stack(), cloud_id=cloud_id,
                                 hugging_face_token=pulumi.Output.secret(token) if token else None)


def read_hugging_face_token() -> str | None:
    """The plain token, for the preflight's Hub requests only; everything else gets the secret.

    Read without `Config.get`, which warns that a secret is read as plain text.
    """
    return pulumi.runtime.get_config(f"{NAMESPACE}:huggingFaceToken") or None
