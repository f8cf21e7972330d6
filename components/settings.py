"""The stack's configuration as a typed, validated model.

`parse_settings` turns the raw config strings into `Settings` or raises one `ConfigError`
that lists every bad key with its value and the fix. It knows nothing of Pulumi resources,
so it runs (and is tested) before anything is created. What each model reads is parsed in
components/model_settings.py; this module holds what the models share.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components import platform
from components.cloud.endpoints import (
    ENDPOINT_DEFAULTS,
    url_problem,
)
from components.config_models import StackShape, keys_of, read_shape
from components.config_parsing import (
    ID_SOURCES,
    NAMESPACE,
    PLACEHOLDER_IDS,
    RESOURCE_NAME,
    RETIRED_CONTAINER_REGISTRY,
    ConfigError,
    ConfigProblem,
    Problems,
    RawConfig,
    close_key,
    cloud_id_problem,
    stack_slug,
)
from components.model_settings import ModelSettings, models_from_list, one_model

# Cloud Registry ids are opaque (docs/cloud-registry-api.md): only their alphabet is checked.
_REGISTRY_ID = re.compile(r"^[a-z0-9]{3,50}$")


@dataclass(frozen=True)
class Settings:
    models: tuple[ModelSettings, ...]
    zone: str
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
    poll_interval_seconds: float
    endpoints: Mapping[str, str]
    client_service_account: bool
    keep_failed_node: bool
    adopt_project_settings: bool
    # The username a node logs in to the registry with (components/platform.py NODE_REGISTRY_LOGINS).
    node_registry_login: str = platform.REGISTRY_USERNAME
    hugging_face_token: pulumi.Output[str] | None = None

    @property
    def one_model_form(self) -> bool:
        """The single-model keys at the top, not a `models` list: the outputs of one model stay."""
        return len(self.models) == 1 and not self.models[0].listed

    @property
    def needs_egress(self) -> bool:
        """Whether a node downloads weights from Hugging Face at start-up (`weights: hub`)."""
        return any(model.weights == "hub" for model in self.models)

    @property
    def what_is_served(self) -> str:
        """For descriptions: the served model name, or how many models there are."""
        return self.models[0].served_model_name if len(self.models) == 1 else f"{len(self.models)} models"


# The settings taken as the shape reads them, with no rule beyond their type and range.
_AS_READ = {"zone", "subnet_cidr", "request_timeout_seconds", "ready_timeout_minutes", "max_units_per_hour",
            "poll_interval_seconds", "client_service_account", "keep_failed_node", "adopt_project_settings",
            "node_registry_login"}


def _not_a_setting(key: str) -> str:
    """A key this stack does not read would be ignored silently: a misspelling deploys the default."""
    return ("is not a setting of this stack, so it would be ignored. "
            + close_key(key, CONFIG_KEYS, "(the settings are listed in Pulumi.yaml)"))


def _cloud_id(parser: Problems, key: str, value: str | None) -> str | None:
    problem = None if value is None else cloud_id_problem(key, value)
    if problem is not None:
        parser.fail(key, value, problem)
    return value


def _parse_registry_id(parser: Problems, value: str | None) -> str | None:
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


def _check_network(parser: Problems, cidr: str) -> None:
    try:
        network = ipaddress.IPv4Network(cidr)
    except ValueError:
        parser.fail("subnetCidr", cidr, "is not an IPv4 network. Fix: pulumi config set subnetCidr "
                    "10.130.0.0/24")
        return
    if not network.is_private or not 16 <= network.prefixlen <= 28:
        parser.fail("subnetCidr", cidr, "must be a private range (RFC 1918) from /16 to /28. Fix: pulumi "
                    "config set subnetCidr 10.130.0.0/24")


def _parse_endpoints(parser: Problems, shape: StackShape) -> dict[str, str]:
    endpoints = {}
    given = shape.model_dump(by_alias=True)
    for key, default in ENDPOINT_DEFAULTS.items():
        url = given[key] or default
        if platform.RETIRED_REGISTRY_HOST in url:
            parser.fail(key, url, f"{RETIRED_CONTAINER_REGISTRY} Fix: pulumi config rm {key} "
                        f"(default {default})")
        elif (problem := url_problem(url)) is not None:
            parser.fail(key, url, f"{problem}. Fix: pulumi config rm {key} (default {default})")
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
    shape, refused = read_shape(StackShape, raw, _not_a_setting)
    p = Problems(refused)
    listed = models_from_list(raw, stack)
    if listed is None:
        models = (one_model(shape, p, stack),)
    else:
        models, model_problems = listed
        p += model_problems

    folder_id = _cloud_id(p, "folderId", shape.folder_id)
    folder_name = shape.folder_name
    if folder_id and folder_name:
        p.fail("folderName", folder_name, "conflicts with folderId: set one. Fix: pulumi config "
               "rm folderName (to use the folder), or pulumi config rm folderId (to create one)")
    folder_name = folder_name or f"vllm-{stack_slug(stack)}"
    if not folder_id:
        if not RESOURCE_NAME.match(folder_name):
            p.fail("folderName", folder_name, "must be 1-63 lowercase letters, digits and hyphens, "
                   f"starting with a letter. Fix: pulumi config set folderName vllm-{stack_slug(stack)}")
        if not cloud_id:
            p.fail("folderId", None, "is unset, so a folder will be created, which needs yandex:cloudId. "
                   f"Fix: pulumi config set yandex:cloudId <id from {ID_SOURCES['yandex:cloudId']}>, "
                   f"or pulumi config set folderId <id from {ID_SOURCES['folderId']}>")
        elif cloud_id in PLACEHOLDER_IDS:
            p.fail("yandex:cloudId", cloud_id, "is the example id from Pulumi.dev.yaml, not yours. Fix: "
                   f"pulumi config set yandex:cloudId <id from {ID_SOURCES['yandex:cloudId']}>")
    project_id = shape.datasphere_project_id
    if project_id is None:
        p.fail("datasphereProjectId", raw.get("datasphereProjectId"), "is required. Fix: pulumi config set "
               f"datasphereProjectId <id from {ID_SOURCES['datasphereProjectId']}>")

    settings = Settings(
        models=models,
        folder_id=folder_id,
        folder_name=folder_name,
        subnet_id=_cloud_id(p, "subnetId", shape.subnet_id),
        registry_id=_parse_registry_id(p, shape.registry_id),
        datasphere_project_id=_cloud_id(p, "datasphereProjectId", project_id) or "",
        cloud_id=cloud_id,
        endpoints=_parse_endpoints(p, shape),
        hugging_face_token=hugging_face_token,
        **shape.model_dump(include=_AS_READ),
    )
    _check_network(p, settings.subnet_cidr)
    return settings, p.in_order(CONFIG_KEYS)


# In the order of Pulumi.yaml: the models, the one-model form's keys, then what the models share.
CONFIG_KEYS: tuple[str, ...] = ("models", *(key for key in keys_of(StackShape) if key != "models"))


def read_settings() -> tuple[Settings, list[ConfigProblem]]:
    """Read the current stack's config through Pulumi and validate it."""
    config = pulumi.Config(NAMESPACE)
    raw = {key: config.get(key) for key in CONFIG_KEYS if key != "huggingFaceToken"}
    # Keys this stack does not read are passed on too, so that a misspelled one is refused: every key
    # the engine hands the program is in its PULUMI_CONFIG.
    raw |= {key: pulumi.runtime.get_config(f"{NAMESPACE}:{key}")
            for key in (full.split(":", 1)[1] for full in pulumi.runtime.get_config_env()
                        if full.startswith(f"{NAMESPACE}:"))
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
