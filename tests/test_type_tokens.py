"""Every type token the program uses resolves in the installed provider packages.

pulumi-yandex-marketmaker 0.161.x dropped resources silently; an unpinned upgrade must fail
here, not halfway through `pulumi up`.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pulumi
import pytest
from pulumi.runtime.rpc import get_resource_module

from tests.program import ProgramRun, run_program

PACKAGES = {"yandex": "pulumi_yandex_marketmaker", "docker-build": "pulumi_docker_build"}


@pytest.fixture(scope="module")
def runs() -> list[ProgramRun]:
    """The default run plus the variant that looks up an existing subnet and its routes."""
    subnet = {"subnetId": "e2lsubnet00000000000", "zone": "ru-central1-a",
              "folderId": "b1gfolder00000000000", "routeTableId": "enproutes00000000000"}
    routes = {"routeTableId": "enproutes00000000000",
              "staticRoutes": [{"destinationPrefix": "0.0.0.0/0", "gatewayId": "enpgateway0000000000"}]}
    return [run_program(), run_program({"vllm-datasphere:subnetId": "e2lsubnet00000000000"},
                                       subnets={"e2lsubnet00000000000": subnet},
                                       route_tables={"enproutes00000000000": routes})]


def provider_tokens(runs: list[ProgramRun]) -> set[str]:
    return {r.type for run in runs for r in run.registrations
            if r.custom and r.type.split(":")[0] in PACKAGES}


def test_dynamic_tokens_are_the_stacks_own_resources(runs: list[ProgramRun]) -> None:
    dynamic = {r.type for run in runs for r in run.registrations if r.type.startswith("pulumi-python:")}
    assert dynamic == {f"pulumi-python:dynamic/datasphere:{name}"
                       for name in ("ProjectSettings", "Secret", "Node", "Alias")} | {
        "pulumi-python:dynamic/cloudregistry:Registry", "pulumi-python:dynamic/cloudregistry:AccessBinding",
        "pulumi-python:dynamic/iam:ApiKey"}


def test_program_uses_both_providers(runs: list[ProgramRun]) -> None:
    assert {token.split(":")[0] for token in provider_tokens(runs)} == set(PACKAGES)


def test_every_resource_token_resolves_to_a_class(runs: list[ProgramRun]) -> None:
    for token in sorted(provider_tokens(runs)):
        package, module, _ = token.split(":")
        importlib.import_module(PACKAGES[package])
        resource_module = get_resource_module(package, module, "")
        assert resource_module is not None, f"{token}: no module {module} in {PACKAGES[package]}"
        class_name = resource_module.mod_info["classes"].get(token)
        assert class_name, f"{token} is not a resource of the installed {PACKAGES[package]}"
        cls = getattr(importlib.import_module(resource_module.mod_info["fqn"]), class_name)
        assert inspect.isclass(cls)
        assert issubclass(cls, pulumi.CustomResource)


def test_every_invoke_token_exists_in_the_installed_package(runs: list[ProgramRun]) -> None:
    calls = {token for run in runs for token in run.calls}
    assert calls == {"yandex:index/getVpcSubnet:getVpcSubnet",
                     "yandex:index/getVpcRouteTable:getVpcRouteTable"}
    package_dir = Path(importlib.import_module(PACKAGES["yandex"]).__file__).parent
    sources = "".join(p.read_text() for p in package_dir.glob("get_*.py"))
    for token in calls:
        assert f"'{token}'" in sources, f"{token} is not an invoke of the installed provider"
