"""Shared by the provider-host scenarios: the fake cloud's settings and the names of the stack's resources."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.fake_datasphere import IAM_TOKEN, FakeDatasphere
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


@contextmanager
def calling_the_alias(fake: FakeDatasphere, alias_full_name: str, folder_id: str) -> Iterator[list[int]]:
    """A client calling `/v1/models` through the alias while the block runs; the statuses it got."""
    answers: list[int] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            status, _ = fake.handle("GET", "/v1/models", {
                "Authorization": f"Bearer {IAM_TOKEN}", "x-node-alias": alias_full_name,
                "x-folder-id": folder_id}, "")
            answers.append(status)
            time.sleep(0.005)

    caller = threading.Thread(target=client)
    caller.start()
    try:
        yield answers
    finally:
        stop.set()
        caller.join()
