"""The README's deploy command, run as far as this machine allows: the Pulumi and Docker CLIs are stubs
that record their arguments (and the backend they were given), in a copy of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.settings import PLACEHOLDER_IDS
from tests.program import ROOT

STUB = """#!/usr/bin/env bash
echo "$(basename "$0") $* [backend=${PULUMI_BACKEND_URL:-}]" >> "$CALLS"
[ "$(basename "$0") $1" != "docker info" ] || [ -z "${DOCKER_DOWN:-}" ]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The files up.sh reads, with a .venv whose python only records what it is asked."""
    copy = tmp_path / "project"
    shutil.copytree(ROOT / "scripts", copy / "scripts")
    for name in ("requirements.txt", "constraints.txt", "Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(ROOT / name, copy / name)
    (copy / ".venv" / "bin").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool, where in (("python", copy / ".venv" / "bin"), ("pulumi", bin_dir), ("docker", bin_dir)):
        (where / tool).write_text(STUB)
        (where / tool).chmod(0o755)
    system_without_the_tools(tmp_path / "system")
    return copy


# The CLIs up.sh looks for: a machine may have real ones (the image tier installs Docker's).
STUBBED = frozenset({"pulumi", "docker", "dockerd", "yc"})


def system_without_the_tools(folder: Path) -> None:
    """The system's commands, less the stubbed CLIs: what PATH holds besides the stubs."""
    folder.mkdir()
    for directory in (Path("/usr/bin"), Path("/bin")):
        for command in directory.iterdir():
            if command.name not in STUBBED and not (folder / command.name).exists():
                (folder / command.name).symlink_to(command)


def up(project: Path, *args: str, tools: bool = True, **env: str) -> tuple[int, str, list[str]]:
    calls = project.parent / "calls"
    calls.write_text("")
    system = project.parent / "system"
    path = f"{project.parent / 'bin'}:{system}" if tools else str(system)
    base = {"PATH": path, "HOME": str(project.parent), "CALLS": str(calls)}
    done = subprocess.run(["bash", str(project / "scripts" / "up.sh"), *args], env=base | env,
                          capture_output=True, text=True, check=False)
    return done.returncode, done.stdout + done.stderr, calls.read_text().splitlines()


def own_ids(project: Path) -> None:
    stack = project / "Pulumi.dev.yaml"
    text = stack.read_text().replace("b1gexamplecloud00000", "b1gyourcloud00000000")
    stack.write_text(text.replace("bt1exampleproject000", "bt1yourproject000000"))


READY = {"PULUMI_CONFIG_PASSPHRASE": "correct horse", "YC_TOKEN": "t1.token"}


def test_everything_missing_is_listed_at_once_and_nothing_runs(project: Path) -> None:
    code, out, calls = up(project, tools=False)
    assert code == 1
    assert "nothing was deployed" in out
    for item in ("install the Pulumi CLI", "install Docker", "set PULUMI_CONFIG_PASSPHRASE", "set YC_TOKEN",
                 "set your own ids in Pulumi.dev.yaml",
                 f"export PULUMI_BACKEND_URL=file://{project}/.pulumi-state PULUMI_CONFIG_PASSPHRASE=<your "
                 "passphrase>",
                 "pulumi stack select --create dev",
                 "pulumi config set --stack dev yandex:cloudId <cloud id>",
                 "pulumi config set --stack dev datasphereProjectId <project id>"):
        assert item in out, item
    assert calls == []


def test_a_docker_daemon_that_does_not_answer_is_named(project: Path) -> None:
    own_ids(project)
    code, out, calls = up(project, DOCKER_DOWN="1", **READY)
    assert code == 1
    assert "start the Docker daemon: `docker info` gets no answer" in out
    assert "set your own ids" not in out
    assert [c.split(" [")[0] for c in calls] == ["docker info"]


def test_the_example_ids_are_the_only_thing_left_to_do(project: Path) -> None:
    code, out, calls = up(project, **READY)
    assert code == 1
    assert out.count("  - ") == 1
    assert "set your own ids in Pulumi.dev.yaml" in out
    assert not [c for c in calls if c.startswith("pulumi")]


def test_the_passphrase_is_never_printed(project: Path) -> None:
    _, out, _ = up(project, **READY)
    assert READY["PULUMI_CONFIG_PASSPHRASE"] not in out


def test_a_ready_project_deploys_with_its_own_backend_and_leaves_the_login_alone(project: Path) -> None:
    own_ids(project)
    code, out, calls = up(project, **READY)
    assert code == 0, out
    backend = f"[backend=file://{project}/.pulumi-state]"
    assert calls == [
        f"docker info {backend}",
        f"python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r "
        f"examples/requirements.txt {backend}",
        f"pulumi plugin install resource yandex 0.136.1 --server "
        f"https://github.com/agorobets/pulumi-yandex/releases/download/v0.136.1/ {backend}",
        f"pulumi stack select --create dev {backend}",
        f"pulumi up --stack dev {backend}",
    ]
    assert not [c for c in calls if c.startswith("pulumi login")]
    assert (project / ".pulumi-state").is_dir()
    assert "  .venv/bin/python -m endpoint check --stack dev\n" in out
    backend = f"PULUMI_BACKEND_URL=file://{project}/.pulumi-state"
    assert f"  {backend} pulumi stack output --stack dev curlExample" in out


def test_a_team_backend_is_used_as_given(project: Path) -> None:
    own_ids(project)
    bucket = "s3://team-state?endpoint=storage.yandexcloud.net&region=ru-central1"
    code, out, calls = up(project, "prod", PULUMI_BACKEND_URL=bucket, **READY)
    assert code == 1, "a stack without its own file has no ids yet"
    assert not [c for c in calls if c.startswith("pulumi")]
    assert f"export PULUMI_BACKEND_URL={bucket}" in out
    assert "pulumi config set --stack prod yandex:cloudId <cloud id>" in out


def test_the_example_ids_agree_everywhere() -> None:
    script = (ROOT / "scripts" / "up.sh").read_text()
    example = (ROOT / "Pulumi.dev.yaml").read_text()
    for placeholder in PLACEHOLDER_IDS:
        assert placeholder in script
        assert placeholder in example
    assert os.access(ROOT / "scripts" / "up.sh", os.X_OK)


@pytest.mark.parametrize("placeholder", ["...", "<your passphrase>"])
def test_the_readmes_placeholder_passphrase_is_refused(project: Path, placeholder: str) -> None:
    own_ids(project)
    code, out, calls = up(project, PULUMI_CONFIG_PASSPHRASE=placeholder, YC_TOKEN="t1.token")
    assert code == 1
    assert f"PULUMI_CONFIG_PASSPHRASE is the README's placeholder '{placeholder}': choose a passphrase" in out
    assert not [c for c in calls if c.startswith("pulumi")]


def test_credentials_in_the_stacks_config_are_enough(project: Path) -> None:
    own_ids(project)
    stack = project / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text() + "  yandex:token:\n    secure: v1:AAAAfakeencryptedtoken\n")
    code, out, _ = up(project, PULUMI_CONFIG_PASSPHRASE="correct horse")
    assert code == 0, out


def test_a_missing_yc_is_named_when_a_token_is_needed(project: Path) -> None:
    own_ids(project)
    code, out, _ = up(project, PULUMI_CONFIG_PASSPHRASE="correct horse", YC_TOKEN="")
    assert code == 1
    assert "install the yc CLI" in out
    assert "YC_TOKEN is empty, and yc, which would make one, is not installed" in out


def test_the_upgrade_script_reads_the_stack_up_sh_made(project: Path) -> None:
    """Run in a new shell, with no PULUMI_BACKEND_URL: the local backend up.sh made, not the CLI's login."""
    (project / ".pulumi-state").mkdir()
    calls = project.parent / "calls"
    calls.write_text("")
    env = {"PATH": f"{project.parent / 'bin'}:{project.parent / 'system'}", "HOME": str(project.parent),
           "CALLS": str(calls), "PULUMI_CONFIG_PASSPHRASE": "correct horse"}
    subprocess.run(["bash", str(project / "scripts" / "upgrade-from-container-registry.sh")], env=env,
                   capture_output=True, text=True, check=False)
    [export] = [c for c in calls.read_text().splitlines() if c.startswith("pulumi stack export")]
    assert export.endswith(f"[backend=file://{project}/.pulumi-state]")


def test_after_up_the_check_tool_in_a_new_shell_reads_the_stack_up_sh_made(project: Path) -> None:
    own_ids(project)
    code, out, _ = up(project, **READY)
    assert code == 0, out
    for package in ("endpoint", "components"):
        shutil.copytree(ROOT / package, project / package, ignore=shutil.ignore_patterns("__pycache__"))
    calls = project.parent / "calls"
    calls.write_text("")
    new_shell = {"PATH": f"{project.parent / 'bin'}:{project.parent / 'system'}", "HOME": str(project.parent),
                 "CALLS": str(calls), "PULUMI_CONFIG_PASSPHRASE": "correct horse", "YC_IAM_TOKEN": "t1.token"}
    done = subprocess.run([sys.executable, "-m", "endpoint", "check", "--stack", "dev"], cwd=project,
                          env=new_shell, capture_output=True, text=True, timeout=120, check=False)
    [output] = [c for c in calls.read_text().splitlines() if c.startswith("pulumi stack output")]
    assert output.endswith(f"[backend=file://{project}/.pulumi-state]"), output
    assert done.returncode == 2, "the stub prints no outputs: no endpoint, said in one line"
    assert "Traceback" not in done.stderr
