"""Shared by the provider-host scenarios: the fake cloud's settings and the names of the stack's resources."""

from __future__ import annotations

from tests.fake_datasphere import FakeDatasphere
from tests.program import ProgramRun
from tests.provider_host import Engine, state_name

PROJECT_ID = "bt1project0000000000"
ENDPOINT_KEYS = ("datasphereEndpoint", "operationEndpoint", "iamEndpoint", "nodeApiEndpoint",
                 "cloudRegistryEndpoint")
FAST = {"vllm-datasphere:readyTimeoutMinutes": "0.1"}

REGISTRY = "Registry:vllm-dev"
PULLER, PUSHER = "AccessBinding:vllm-dev-puller", "AccessBinding:vllm-dev-pusher"
PULL_KEY, PUSH_KEY = "ApiKey:vllm-dev-pull", "ApiKey:vllm-dev-push"
SETTINGS, SECRET = "ProjectSettings:vllm-dev", "Secret:vllm-dev-pull-key"
NODE, ALIAS = "Node:vllm-dev", "Alias:vllm-dev"
EVERYTHING = (REGISTRY, PULLER, PUSHER, PULL_KEY, PUSH_KEY, SETTINGS, SECRET, NODE, ALIAS)


def endpoints_at(fake: FakeDatasphere) -> dict[str, str]:
    """Stack config pointing every API at the fake."""
    return {f"vllm-datasphere:{key}": fake.url for key in ENDPOINT_KEYS}


def host_config(fake: FakeDatasphere) -> dict[str, str]:
    return endpoints_at(fake) | {"vllm-datasphere:pollIntervalSeconds": "0.02"}


def deploy(engine: Engine, run: ProgramRun) -> dict[str, str]:
    """One `pulumi up` of every dynamic resource the program declares, in dependency order."""
    return engine.up_program(run)


def up_one(engine: Engine, run: ProgramRun, name: str) -> str:
    """Apply one of the program's resources, as `pulumi up --target` would."""
    [registration] = [r for r in run.dynamic() if state_name(r) == name]
    return engine.up_registration(run, registration)
