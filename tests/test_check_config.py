"""`scripts/check.sh` (components/check_config.py): the preview's checks on the stack files, without the
Pulumi CLI or credentials, in seconds; run on the example stack as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.program import ROOT


@pytest.fixture
def project(tmp_path: Path, recorded_hub: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def check(project: Path, *, own_ids: bool) -> subprocess.CompletedProcess[str]:
    if own_ids:
        stack = project / "Pulumi.dev.yaml"
        stack.write_text(stack.read_text().replace("b1gexamplecloud00000", "b1gyourcloud00000000")
                         .replace("bt1exampleproject000", "bt1yourproject000000"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YC_", "PULUMI_"))}
    return subprocess.run([sys.executable, "-m", "components.check_config", "--project-dir", str(project)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_example_stack_with_its_ids_set_passes_offline(project: Path) -> None:
    done = check(project, own_ids=True)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("memoryEstimate: Qwen/Qwen2.5-7B-Instruct needs") for line in lines)
    assert any(line.startswith("cost: 1 x g2.1 550.23 RUB/h") for line in lines)
    assert lines[-1] == ("check: stack dev passes the preview's checks (no cloud reads (set one of YC_TOKEN, "
                         "YC_IAM_TOKEN, YC_SERVICE_ACCOUNT_KEY_FILE))")


def test_the_shipped_example_stack_names_the_ids_to_set(project: Path) -> None:
    done = check(project, own_ids=False)
    assert done.returncode == 1
    assert done.stderr.startswith("invalid stack configuration (2 problem(s)):")
    assert "yandex:cloudId = 'b1gexamplecloud00000': is the example id" in done.stderr
    assert "datasphereProjectId = 'bt1exampleproject000': is the example id" in done.stderr


def test_a_missing_stack_file_is_exit_2(project: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "components.check_config", "--project-dir", str(project),
                           "--stack", "prod"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == f"check: no Pulumi.prod.yaml in {project}"


def test_flag_mistakes_are_found_offline_as_at_preview(project: Path) -> None:
    stack = project / "Pulumi.dev.yaml"
    typos = "    - --enable-prefix-cache\n    - \"9000\"\n"
    stack.write_text(stack.read_text().replace("    - --enable-prefix-caching\n", typos))
    done = check(project, own_ids=True)
    assert done.returncode == 1
    assert "extraVllmArgs = '--enable-prefix-cache': is not a flag of vllm serve in vLLM 0.33.0. Did you " \
           "mean --enable-prefix-caching?" in done.stderr
    assert "extraVllmArgs = '9000': follows --enable-prefix-caching, which takes no value" in done.stderr


def test_a_misspelled_key_in_the_stack_file_is_found_offline(project: Path) -> None:
    stack = project / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text().replace(":maxModelLen:", ":maxModelLength:"))
    done = check(project, own_ids=True)
    assert done.returncode == 1
    assert ("vllm-datasphere:maxModelLength = '16384': is not a setting of this stack, so it would be "
            "ignored. Did you mean maxModelLen?") in done.stderr
