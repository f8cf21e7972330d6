"""No dynamic provider can forget an input: each is updated in place, replaces the resource, or is
ignored on purpose (`Inputs` of components/cloud/provider.py), and the provider's diff follows that."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from components.cloud.provider import Inputs
from tests.program import PROJECT, ProgramRun, run_program
from tests.provider_host import engine_inputs
from tests.test_provider_classes import SHIPPED, pickled_class


def provider_inputs(module: str, name: str) -> Inputs:
    return getattr(importlib.import_module(module), name).inputs


@pytest.mark.parametrize(("module", "name"), SHIPPED)
def test_every_provider_sorts_its_inputs_into_one_class_each(module: str, name: str) -> None:
    inputs = provider_inputs(module, name)
    classes = [inputs.in_place, inputs.replace, inputs.ignored]
    every = [key for keys in classes for key in keys]
    assert len(every) == len(set(every)), f"{name}: an input in two classes"
    # The typed props name exactly the inputs the classes sort.
    typed = getattr(importlib.import_module(module), name).props_type
    assert set(typed.__annotations__) == set(every), name


@pytest.fixture(scope="module")
def with_client() -> ProgramRun:
    return run_program({f"{PROJECT}:clientServiceAccount": "true"})


def test_every_input_the_program_gives_has_a_class(with_client: ProgramRun) -> None:
    seen = set()
    for registration in with_client.dynamic():
        module, name = pickled_class(registration.inputs["__provider"].value)
        inputs = provider_inputs(module, name)
        known = {*inputs.in_place, *inputs.replace, *inputs.ignored}
        given = set(registration.inputs) - {"__provider"}
        assert given <= known, f"{name} gets inputs no class names: {sorted(given - known)}"
        seen.add((module, name))
    assert seen == set(SHIPPED), "the run makes a resource of every provider"


def changed(value: Any) -> Any:
    """Another value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "-changed"
    if isinstance(value, dict):
        return {**value, "changed": "yes"}
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return [{key: changed(item) for key, item in value[0].items()}, *value[1:]]
    if isinstance(value, list):
        return [*value, "changed"]
    return "changed"


@pytest.mark.parametrize(("module", "name"), SHIPPED)
def test_a_change_of_any_classed_input_is_seen_by_the_diff(module: str, name: str,
                                                           with_client: ProgramRun) -> None:
    provider = getattr(importlib.import_module(module), name)()
    [registration] = [r for r in with_client.dynamic()
                      if pickled_class(r.inputs["__provider"].value) == (module, name)][:1]
    olds = engine_inputs(registration.inputs)
    for key in (*provider.inputs.in_place, *provider.inputs.replace):
        news = {**olds, key: changed(olds.get(key))}
        diff = provider.diff("id", olds, news)
        assert diff.changes, f"{name}.{key}"
        assert (key in (diff.replaces or [])) == (key in provider.inputs.replace), f"{name}.{key}"
