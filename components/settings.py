"""The stack's configuration as a typed, validated model.

`settings_and_problems` turns the raw config strings into `Settings` and every problem found, each
with the key, its value and the fix (one `ConfigError` shows them all). It knows nothing of Pulumi
resources, so it runs (and is tested) before anything is created. What each model reads is parsed in
components/model_settings.py; this module holds what the models share.
"""

from __future__ import annotations

import os

import pulumi
from pydantic.alias_generators import to_snake

from components.cloud.endpoints import ENDPOINT_KEYS
from components.cloud.http import Endpoints
from components.config_models import SharedKeys, StackKeys, keys_of, read_keys
from components.config_parsing import (
    ID_SOURCES,
    NAMESPACE,
    PLACEHOLDER_IDS,
    RESOURCE_NAME,
    ConfigProblem,
    Problems,
    RawConfig,
    stack_slug,
)
from components.model_settings import MODEL_KEYS, ONE_MODEL_NAME, ModelSettings, listed_models, parse_model


class Settings(SharedKeys):
    """The stack's settings, validated: what the models share as read (`folderName` resolved), the
    models, and the cloud the stack's folder is created in."""

    models: tuple[ModelSettings, ...] = ()
    cloud_id: str | None = None

    @property
    def endpoints(self) -> Endpoints:
        """The APIs' URLs: each as set, or the public one."""
        given = {attr: getattr(self, to_snake(key)) for attr, key in ENDPOINT_KEYS.items()}
        return Endpoints(**{attr: url.rstrip("/") for attr, url in given.items() if url})

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


def _folder_name(p: Problems, shape: StackKeys, stack: str, cloud_id: str | None) -> str:
    """The folder the stack creates, unless `folderId` names one; a created folder needs the cloud."""
    folder_given = shape.folder_id or p.refused("folderId")
    if folder_given and shape.folder_name:
        p.fail("folderName", shape.folder_name, "conflicts with folderId: set one. Fix: pulumi config "
               "rm folderName (to use the folder), or pulumi config rm folderId (to create one)")
    folder_name = shape.folder_name or f"vllm-{stack_slug(stack)}"
    if folder_given:
        return folder_name
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
    return folder_name


def settings_and_problems(raw: RawConfig, *, stack: str, cloud_id: str | None,
                          hugging_face_token: pulumi.Output[str] | None = None
                          ) -> tuple[Settings, list[ConfigProblem]]:
    """The settings, with a default standing in for each refused value, and every problem found.

    Checks that read a refused value are skipped by the caller, so a default never passes for the
    user's choice (`components/preview.py`)."""
    shape, refused = read_keys(StackKeys, {**raw, "huggingFaceToken": hugging_face_token})
    listed = bool(shape.models) or any(problem.key == "models" for problem in refused)
    # With `models` set, a top-level model key is refused as ignored (listed_models), whatever it holds.
    p = Problems(problem for problem in refused if not listed or problem.key not in MODEL_KEYS)
    if listed:
        models = listed_models(shape.models, raw, stack, p)
    else:
        models = (parse_model(shape, p, name=ONE_MODEL_NAME, suffix="",
                              default_alias=f"vllm-{stack_slug(stack)}"),)
    folder_name = _folder_name(p, shape, stack, cloud_id)
    if not shape.datasphere_project_id and not p.refused("datasphereProjectId"):
        p.fail("datasphereProjectId", raw.get("datasphereProjectId"), "is required. Fix: pulumi config set "
               f"datasphereProjectId <id from {ID_SOURCES['datasphereProjectId']}>")
    settings = Settings.model_construct(**shape.model_dump(include=set(SharedKeys.model_fields)) | {
        "models": models, "folder_name": folder_name, "cloud_id": cloud_id})
    return settings, p.in_order(CONFIG_KEYS)


# In the order of Pulumi.yaml: the models, the one-model form's keys, then what the models share.
CONFIG_KEYS: tuple[str, ...] = ("models", *(key for key in keys_of(StackKeys) if key != "models"))


def read_settings() -> tuple[Settings, list[ConfigProblem]]:
    """Read the current stack's config as the engine hands it over (PULUMI_CONFIG, with every key, so
    that a misspelled one is refused too) and validate it."""
    prefix = f"{NAMESPACE}:"
    raw = {key.removeprefix(prefix): value for key, value in pulumi.runtime.get_config_env().items()
           if key.startswith(prefix) and key != f"{prefix}huggingFaceToken"}
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
