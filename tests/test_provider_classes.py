"""Every dynamic provider class ever shipped stays where existing stacks' states name it.

A stack's state keeps each dynamic resource's provider pickled by reference (module and class name), and
the engine unpickles it for `refresh`, `destroy` and every update. A provider moved or renamed without a
shim left behind would make every existing stack fail on its next run: this list only grows.
"""

from __future__ import annotations

import base64
import importlib
import pickle
import pickletools

import pytest
from pulumi.dynamic import ResourceProvider

from tests.program import ProgramRun

SHIPPED = (
    ("components.datasphere.project_settings", "ProjectSettingsProvider"),
    ("components.datasphere.secret", "SecretProvider"),
    ("components.datasphere.node", "NodeProvider"),
    ("components.datasphere.alias", "AliasProvider"),
    ("components.datasphere.access_binding", "ProjectAccessBindingProvider"),
    ("components.cloudregistry.registry", "RegistryProvider"),
    ("components.cloudregistry.access_binding", "RegistryAccessBindingProvider"),
    ("components.iam.api_key", "ApiKeyProvider"),
)


@pytest.mark.parametrize(("module", "name"), SHIPPED)
def test_every_shipped_provider_still_imports_where_states_name_it(module: str, name: str) -> None:
    provider = getattr(importlib.import_module(module), name)
    assert issubclass(provider, ResourceProvider)
    assert pickle.loads(pickle.dumps(provider())).__class__ is provider


def pickled_class(registration_value: str) -> tuple[str, str]:
    """The (module, class) a pickled provider names, read from the pickle's opcodes, not by loading it."""
    strings = [arg for op, arg, _ in pickletools.genops(base64.b64decode(registration_value))
               if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE") and isinstance(arg, str)]
    module = next(s for s in strings if s.startswith("components."))
    return module, strings[strings.index(module) + 1]


def test_the_program_uses_only_listed_providers(default_run: ProgramRun) -> None:
    """A new provider class must be added to SHIPPED (and so never moved once released)."""
    used = {pickled_class(r.inputs["__provider"].value) for r in default_run.dynamic()}
    assert used
    assert used <= set(SHIPPED)
