"""Shared fixtures: the program run once with the default config, and fresh runs on demand.

No test reaches the real Hugging Face Hub: the preflight's cache is a copy of the recorded
fixtures, and the Hub's own offline switch is on. Tests of the fetching path pass their own
`HubAccess` pointed at `tests/fake_hub.py`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.constants
import pytest

from tests.cloud import PROJECT_ID, host_config
from tests.fake_datasphere import IAM_TOKEN, FakeDatasphere
from tests.program import BASE_CONFIG, PROJECT, ProgramRun, run_program
from tests.provider_host import Engine, ProviderHost

HUB_FIXTURES = Path(__file__).parent / "fixtures" / "hub-cache"


@pytest.fixture(scope="session", autouse=True)
def recorded_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cache = tmp_path_factory.mktemp("hub-cache")
    shutil.copytree(HUB_FIXTURES, cache, dirs_exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLLM_DATASPHERE_CACHE", str(cache))
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.delenv("HF_ENDPOINT", raising=False)
        # The switch is the stack's to read (HubAccess.from_environment); huggingface_hub reads it once, at
        # its import, which may come after the line above. Tests that take it away talk to the fake Hub.
        patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        yield cache


@pytest.fixture(scope="session", autouse=True)
def project_api() -> Iterator[FakeDatasphere]:
    """The DataSphere API the program's preview reads its project from, with the deployer's token."""
    server = FakeDatasphere().start()
    server.add_project(PROJECT_ID)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(BASE_CONFIG, f"{PROJECT}:datasphereEndpoint", server.url)
        patch.setenv("YC_TOKEN", IAM_TOKEN)
        yield server
    server.stop()


@pytest.fixture(scope="module")
def default_run() -> ProgramRun:
    return run_program()


@pytest.fixture
def fake() -> Iterator[FakeDatasphere]:
    """The fake cloud on 127.0.0.1 with the stack's DataSphere project."""
    server = FakeDatasphere(node_warmup_seconds=0.3).start()
    server.add_project(PROJECT_ID)
    yield server
    server.stop()


@pytest.fixture
def engine(fake: FakeDatasphere) -> Iterator[Engine]:
    """The SDK's provider host in a fresh process, configured for the fake, and an engine driving it."""
    host = ProviderHost(host_config(fake), {"YC_TOKEN": IAM_TOKEN})
    yield Engine(host)
    host.close()
