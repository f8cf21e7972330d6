"""The models a stack serves: the one-model form (the top-level keys) or the `models` list.

Each model gets its own image, node and preflight. Entries that name the same `aliasName` share one
alias and split its traffic by `trafficPercent` (a canary). Everything else (folder, network, service
account, registry, project settings, the pull secret) is the stack's and parsed in
components/settings.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

from components import platform
from components.config_models import EntryKeys, ModelKeys, keys_of, read_keys
from components.config_parsing import (
    RESOURCE_NAME,
    RETIRED_CONTAINER_REGISTRY,
    ConfigProblem,
    Problems,
    RawConfig,
    stack_slug,
)
from components.vllm_flags import checked_here, read_extra_args

# What one model reads: top-level keys in the one-model form, keys of an entry in `models`.
MODEL_KEYS = keys_of(ModelKeys)
ENTRY_KEYS = ("name", *MODEL_KEYS, "trafficPercent")
# The Pulumi.yaml defaults of MODEL_KEYS as the engine passes them: with `models` set, a top-level model
# key holding anything else was set by the user, and would be ignored.
MODEL_KEY_DEFAULTS = {field.alias: "" if field.default is None else json.dumps(list(field.default))
                      if isinstance(field.default, tuple) else str(field.default)
                      for field in ModelKeys.model_fields.values() if field.alias}
# The name of the one model of the one-model form (in the `models` output).
ONE_MODEL_NAME = "default"
# Node names are vllm-<stack slug, 30 at most>-<name>-<12 digest characters>, 63 characters at most.
ENTRY_NAME_LENGTH = 14
_ENTRY_NAME = re.compile(rf"^[a-z](?:[-a-z0-9]{{0,{ENTRY_NAME_LENGTH - 2}}}[a-z0-9])?$")
_IMAGE_REF = re.compile(
    r"^(?P<repo>[a-z0-9][a-z0-9._/-]*[a-z0-9](?::[0-9]+/[a-z0-9._/-]+)?)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
_RELEASE_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)")


class ModelSettings(EntryKeys):
    """One model as it is served: its keys as read, its names resolved, `dtype` as it runs on its
    configuration. `maxModelLen` 0 is the model's own context length."""

    # Appended to the names of the model's resources: "" in the one-model form, whose resources keep
    # the names they had before `models` existed (a new name would replace them).
    resource_suffix: str = ""

    @property
    def listed(self) -> bool:
        """An entry of `models`, not the one-model form."""
        return self.resource_suffix != ""

    @property
    def auto_instance_spec(self) -> bool:
        """`instanceSpec: auto`, until the preflight picks a configuration (components/preflight.py)."""
        return self.instance_spec == platform.AUTO_INSTANCE_SPEC

    @property
    def configuration(self) -> platform.Configuration:
        assert not self.auto_instance_spec, "the preflight picks a configuration before anything reads it"
        return platform.CONFIGURATIONS[self.instance_spec]

    @property
    def tensor_parallel_size(self) -> int:
        return self.configuration.gpu_count


def parse_model(shape: ModelKeys, p: Problems, *, name: str, suffix: str, default_alias: str,
                traffic_percent: int = 100) -> ModelSettings:
    """One model from its keys, read (their refusals are in `p`); the problems between keys go to `p`."""
    if not shape.model and not p.refused("model"):
        p.fail("model", None, "is required. Fix: pulumi config set model Qwen/Qwen2.5-7B-Instruct")
    configuration = platform.CONFIGURATIONS.get(shape.instance_spec)
    settings = ModelSettings.model_construct(**shape.model_dump(include=set(ModelKeys.model_fields)) | {
        "name": name,
        "served_model_name": shape.served_model_name or shape.model,
        "dtype": shape.dtype if configuration is None else dtype_on(shape.dtype, configuration),
        "extra_vllm_args": _checked_extra_args(p, shape.extra_vllm_args, shape.vllm_image),
        "alias_name": shape.alias_name or default_alias,
        "traffic_percent": traffic_percent,
        "resource_suffix": suffix,
    })
    if not RESOURCE_NAME.match(settings.alias_name):
        p.fail("aliasName", settings.alias_name, "must be 1-63 lowercase letters, digits and hyphens, "
               f"starting with a letter. Fix: pulumi config set aliasName {default_alias}")
    if configuration is not None:
        p.extend(configuration_problems(settings, configuration))
    return settings


def dtype_on(dtype: str, configuration: platform.Configuration) -> str:
    """`auto` runs in half precision on a GPU without bfloat16 (V100, T4)."""
    return "half" if dtype == "auto" and not configuration.supports_bfloat16 else dtype


def listed_models(entries: list[dict[str, Any]], raw: RawConfig, stack: str, p: Problems
                  ) -> tuple[ModelSettings, ...]:
    """The `models` form: every entry parsed, its problems scoped to it, then the alias groups checked."""
    for key in MODEL_KEYS:
        if raw.get(key) is not None and raw[key] != MODEL_KEY_DEFAULTS[key]:
            p.fail(key, raw[key], "is a setting of one model, but models is set, so it would be ignored. "
                   f"Fix: pulumi config rm {key} (and set it in each entry of models that needs it)")
    models: list[ModelSettings] = []
    for index, entry in enumerate(entries):
        shape, refused = read_keys(EntryKeys, entry, "a key of a models entry",
                                     "(README, Several models, lists an entry's keys)")
        found = Problems(refused)
        name = _entry_name(found, shape.name, index)
        models.append(parse_model(shape, found, name=name, suffix=f"-{name}",
                                  default_alias=f"vllm-{stack_slug(stack)}-{name}",
                                  traffic_percent=shape.traffic_percent))
        keys = frozenset(ENTRY_KEYS) | frozenset(entry)
        p += [problem.in_entry(index, name, keys) for problem in found.in_order(ENTRY_KEYS)]
    p += _group_problems(models)
    return tuple(models)


def _path(index: int, key: str) -> str:
    return f"'models[{index}].{key}'"


def _entry_name(p: Problems, name: str, index: int) -> str:
    fallback = f"model{index}"
    if not name:
        p.fail("name", None, f"is required: a short slug for the model's resources and default alias. Fix: "
               f"pulumi config set name {fallback}")
        return fallback
    if not _ENTRY_NAME.match(name):
        p.fail("name", name, f"must be 1-{ENTRY_NAME_LENGTH} lowercase letters, digits and hyphens, "
               "starting with a letter (it is part of the node's name, vllm-<stack>-<name>-<digest>). "
               f"Fix: pulumi config set name {fallback}")
        return fallback
    return name


def _group_problems(models: list[ModelSettings]) -> list[ConfigProblem]:
    """Names are unique; entries sharing an alias serve one model name and split 100% of its traffic."""
    problems: list[ConfigProblem] = []
    names = [model.name for model in models]
    for index, name in enumerate(names):
        if names.index(name) < index:
            problems.append(ConfigProblem(
                f"models[{index}].name", name, f"is the name of models[{names.index(name)}] too; names "
                f"must differ. Fix: pulumi config set --path {_path(index, 'name')} "
                f"{name[:ENTRY_NAME_LENGTH - 1]}2", name))
    for alias in dict.fromkeys(model.alias_name for model in models):
        members = [index for index, model in enumerate(models) if model.alias_name == alias]
        shares = [models[i].traffic_percent for i in members]
        last = members[-1]
        if sum(shares) != 100:
            share, rest = divmod(100, len(members))
            fix = " && ".join(f"pulumi config set --path {_path(i, 'trafficPercent')} "
                              f"{share + rest * (i == members[0])}" for i in members)
            problems.append(ConfigProblem(
                f"models[{last}].trafficPercent", shares, f"the trafficPercent of the entries of alias "
                f"{alias} ({', '.join(models[i].name for i in members)}) add up to {sum(shares)}, not 100. "
                f"Fix: {fix}", models[last].name))
        served = {models[i].served_model_name for i in members}
        if len(served) > 1:
            problems.append(ConfigProblem(
                f"models[{last}].servedModelName", models[last].served_model_name,
                f"differs from the other entries of alias {alias} ({', '.join(sorted(served))}): a client "
                "of the alias sends one model name, which every node behind it must serve. Fix: pulumi "
                f"config set --path {_path(last, 'servedModelName')} {models[members[0]].served_model_name}",
                models[last].name))
    return problems


def _checked_extra_args(p: Problems, items: tuple[str, ...], image: str) -> tuple[str, ...]:
    """The extra flags of `vllm serve`; what the release of `image` may take is left to its build."""
    sure = checked_here(image)
    for finding in read_extra_args(items):
        if sure or not finding.release:
            p.fail("extraVllmArgs", finding.item, finding.message)
    return items


def configuration_problems(model: ModelSettings,
                           configuration: platform.Configuration) -> list[ConfigProblem]:
    """Why the image, dtype or quantization cannot run on `configuration` (empty: they can)."""
    p = Problems()
    image = model.vllm_image
    match = _IMAGE_REF.match(image)
    release = _RELEASE_TAG.match(match["tag"] or "") if match else None
    if image.split("/", 1)[0] == platform.RETIRED_REGISTRY_HOST:
        p.fail("vllmImage", image, f"{RETIRED_CONTAINER_REGISTRY} Fix: push the image to Cloud Registry and "
               f"set vllmImage to {platform.REGISTRY_HOST}/<registryId>/<image>:<tag>, or use "
               f"{platform.DEFAULT_VLLM_IMAGE}")
    elif not match or not (match["tag"] or match["digest"]):
        p.fail("vllmImage", image, "must be an image pinned by a release tag or a digest. Fix: pulumi config "
               f"set vllmImage {platform.DEFAULT_VLLM_IMAGE}")
    elif match["tag"] == "latest" and not match["digest"]:
        p.fail("vllmImage", image, "`latest` moves under you; pin a release tag. Fix: pulumi config set "
               f"vllmImage {platform.DEFAULT_VLLM_IMAGE}")
    elif (configuration.compute_capability == (7, 0) and match["repo"] == platform.OFFICIAL_VLLM_REPOSITORY
          and release and tuple(map(int, release.groups())) >= platform.FIRST_OFFICIAL_RELEASE_WITHOUT_VOLTA):
        p.fail("vllmImage", image, "official vLLM images from v0.9.0 on have no kernels for V100 (compute "
               "capability 7.0). Fix: pulumi config set instanceSpec g2.1 (an A100), or set vllmImage to an "
               "image built for sm_70 (CUDA 12.6 or older)")
    if model.dtype in platform.FLOAT32_DTYPES and model.quantization is not None:
        p.fail("dtype", model.dtype, f"cannot run with quantization {model.quantization}: no vLLM "
               "quantization method supports float32. Fix: pulumi config set dtype auto (or pulumi config rm "
               "quantization)")
    if model.dtype == "bfloat16" and not configuration.supports_bfloat16:
        p.fail("dtype", model.dtype, f"{configuration.gpu_name} has no bfloat16. Fix: pulumi config set "
               "dtype half (or auto, which becomes half here)")
    if model.quantization is not None and not configuration.runs_quantization(model.quantization):
        needed = platform.QUANTIZATION_MIN_CAPABILITY[model.quantization]
        have = configuration.compute_capability or (0, 0)
        p.fail("quantization", model.quantization, f"needs compute capability {needed[0]}.{needed[1]}, "
               f"but {configuration.gpu_name} has {have[0]}.{have[1]}. Fix: pulumi config set instanceSpec "
               "g2.1 (an A100), or pick another method")
    return list(p)
