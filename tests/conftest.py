"""Shared fixtures: the program run once with the default config, and fresh runs on demand."""

from __future__ import annotations

import pytest

from tests.program import ProgramRun, run_program


@pytest.fixture(scope="module")
def default_run() -> ProgramRun:
    return run_program()
