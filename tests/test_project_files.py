"""The files around the program agree with it: Pulumi.yaml, the example stack, README, CI, Dockerfile."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap

import pytest
import yaml

from components import platform
from components.config_parsing import ConfigError
from components.image import TOKEN_SECRET_ID
from components.settings import CONFIG_KEYS
from tests.program import ROOT, project_defaults, run_program
from tests.stack_config import parse_settings

PROJECT_FILE = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
README = (ROOT / "README.md").read_text()


def readme_config_table() -> dict[str, tuple[str, str]]:
    section = README.split("## Configure", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| (.+?) \| .+ \|$", section, re.MULTILINE)
    return {key: (type_, default) for key, type_, default in rows}


def readme_default(spec: dict) -> str:
    if "default" not in spec:
        return "(required)"
    value = spec["default"]
    return f"`{value if isinstance(value, str) and value else json.dumps(value)}`"


def test_project_file_is_the_python_project_with_a_virtualenv() -> None:
    assert PROJECT_FILE["name"] == "vllm-datasphere"
    assert PROJECT_FILE["runtime"]["name"] == "python"
    assert PROJECT_FILE["runtime"]["options"]["virtualenv"] == ".venv"


def declared_type(key: str, spec: dict) -> str:
    """`models` is a list of objects, which Pulumi's project config cannot type (an explicitly typed
    array holds strings, numbers, booleans or arrays): it is declared without a type, as `list` here."""
    if key == "models":
        assert "type" not in spec
        return "list"
    return spec["type"]


def test_every_config_key_is_declared_with_type_and_description() -> None:
    declared = PROJECT_FILE["config"]
    assert tuple(declared) == CONFIG_KEYS
    for key, spec in declared.items():
        assert declared_type(key, spec) in {"string", "integer", "boolean", "array", "list"}, key
        assert len(spec["description"]) > 20, key
    required = {key for key, spec in declared.items() if "default" not in spec}
    assert required == {"datasphereProjectId"}


def test_readme_config_table_matches_the_project_file() -> None:
    table = readme_config_table()
    declared = PROJECT_FILE["config"]
    assert list(table) == list(declared)
    for key, spec in declared.items():
        assert table[key] == (declared_type(key, spec), readme_default(spec)), key


def test_defaults_agree_with_the_model_and_the_platform_table() -> None:
    declared = PROJECT_FILE["config"]
    assert declared["vllmImage"]["default"] == platform.DEFAULT_VLLM_IMAGE
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert f"ARG VLLM_IMAGE={platform.DEFAULT_VLLM_IMAGE}\n" in dockerfile


def test_example_stack_is_valid_but_for_the_ids_a_user_must_set() -> None:
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    merged = project_defaults() | {
        key: value if isinstance(value, str) else json.dumps(value) for key, value in stack.items()
    }
    raw = {key.split(":", 1)[1]: value for key, value in merged.items()
           if key.startswith("vllm-datasphere:")}
    with pytest.raises(ConfigError) as error:
        parse_settings(raw, stack="dev", cloud_id=stack["yandex:cloudId"])
    fixes = [p.message.split("Fix: ", 1)[1] for p in error.value.problems]
    assert fixes == ["pulumi config set yandex:cloudId <id from `yc resource-manager cloud list`>",
                     "pulumi config set datasphereProjectId <id from the DataSphere project page>"]
    yours = {"datasphereProjectId": "bt1yourproject000000"}
    [model] = parse_settings(raw | yours, stack="dev", cloud_id="b1gyourcloud00000000").models
    assert model.instance_spec == "g2.1"
    assert model.max_model_len == 16384
    assert model.extra_vllm_args == ("--enable-prefix-caching",)
    # The README says the same right under its two commands, as up.sh does (tests/test_up_script.py).
    first = README.split("```bash\n", 2)[2].split("```", 1)[0].splitlines()
    wanted = {"yandex:cloudId": "<cloud id>", "datasphereProjectId": "<project id>"}
    assert [line.split("#")[0].strip() for line in first if "config set" in line] == [
        f"pulumi config set --stack dev {key} {wanted[key]}" for key in (fix.split(" ")[3] for fix in fixes)]


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    block = README.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(block) == 2
    assert "./scripts/up.sh" in block[0]
    assert block[1].split("#")[0].strip() == "./scripts/test.sh"
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#")]
    assert ci[-1] == "exec bash scripts/test.sh"


def test_dependencies_are_pinned_exactly() -> None:
    for name in ("requirements.txt", "requirements-dev.txt", "constraints.txt",
                 "examples/requirements.txt", "policy/requirements.txt"):
        for line in (ROOT / name).read_text().splitlines():
            if line and not line.startswith(("#", "-r ", "-c ")):
                assert re.fullmatch(r"[A-Za-z0-9_.-]+==[A-Za-z0-9_.]+", line), f"{name}: {line}"
    assert "pulumi-yandex-marketmaker==0.136.1" in (ROOT / "requirements.txt").read_text()


def test_every_action_is_pinned_by_commit() -> None:
    uses = [line.split("uses:", 1)[1].strip()
            for path in (ROOT / ".github").rglob("*.yml") for line in path.read_text().splitlines()
            if line.strip().startswith(("uses:", "- uses:"))]
    assert uses
    for use in uses:
        assert use.startswith("./.github/actions/") or re.fullmatch(
            r"[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", use), use


def test_the_test_script_runs_every_linter() -> None:
    script = (ROOT / "scripts" / "test.sh").read_text()
    for command in ("ruff check .", "PYTHONPATH=. lint-imports", "hadolint docker/Dockerfile",
                    "shellcheck scripts/*.sh .ci/run", "actionlint", "zizmor --offline",
                    "bash scripts/vllm-cpu.sh", "python -m pytest",
                    "bash scripts/docker-engine.sh start", "bash scripts/cpu-base-image.sh",
                    "trap 'bash scripts/docker-engine.sh stop' EXIT"):
        assert command in script


def test_every_file_the_dockerfile_copies_is_in_the_build_context() -> None:
    """docker/.dockerignore lets in what the Dockerfile copies from the context, and nothing else."""
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (?!--from)(\S+) ", dockerfile, re.MULTILINE))
    ignore = (ROOT / "docker" / ".dockerignore").read_text().split()
    assert ignore[0] == "*"
    assert {line.removeprefix("!") for line in ignore[1:]} == copied
    assert all((ROOT / "docker" / name).is_file() for name in copied)


def test_the_dockerfile_needs_no_frontend_image() -> None:
    """A `# syntax=` line makes BuildKit pull a frontend image, which fails without Docker Hub."""
    assert not re.search(r"^# *syntax *=", (ROOT / "docker" / "Dockerfile").read_text(), re.MULTILINE)


def test_dockerfile_runs_the_baked_command_with_no_arguments() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python3", "/usr/local/bin/vllm-datasphere-serve"]' in dockerfile
    assert "CMD" not in dockerfile
    assert "vllm-datasphere-serve --check" in dockerfile
    assert f"EXPOSE {platform.VLLM_PORT}" in dockerfile


def test_the_weights_stage_takes_the_token_only_as_a_secret_mount() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    stages = [(name, base) for base, name in re.findall(r"^FROM (\S+)(?: AS (\S+))?$", dockerfile,
                                                         re.MULTILINE)]
    assert dict(stages) == {"weights": "${VLLM_IMAGE}", "with-hub-weights": "${VLLM_IMAGE}",
                      "with-image-weights": "${VLLM_IMAGE}", "": "with-${WEIGHTS}-weights"}
    assert len(stages) == 4
    assert f"RUN --mount=type=secret,id={TOKEN_SECRET_ID} \\\n" in dockerfile
    assert [arg for arg in re.findall(r"^ARG (\w+)", dockerfile, re.MULTILINE)] == [
        "VLLM_IMAGE", "WEIGHTS", "MODEL_ID", "MODEL_REVISION", "HUB_ENDPOINT", "VLLM_SERVE_ARGS"]
    assert "TOKEN" not in " ".join(re.findall(r"^(?:ARG|ENV) .*$", dockerfile, re.MULTILINE))
    assert f"COPY --from=weights /weights {platform.IMAGE_WEIGHTS_DIR}\n" in dockerfile
    assert "ENV HF_HUB_OFFLINE=1" in dockerfile


def test_nothing_points_outside_the_repository() -> None:
    """A user's clone has only this repository: notes live in docs/, not in a folder beside it."""
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    assert tracked
    outside = "/".join(("..", "shared"))  # spelled apart so that this file does not match itself
    pointing = [name for name in tracked if (ROOT / name).is_file() and not name.startswith("tests/fixtures/")
                and outside in (ROOT / name).read_text(errors="replace")]
    assert pointing == []
    for doc in ("docs/datasphere-api.md", "docs/cloud-registry-api.md"):
        assert (ROOT / doc).is_file()


def test_every_shell_script_parses() -> None:
    scripts = [*sorted((ROOT / "scripts").glob("*.sh")), ROOT / ".ci" / "run"]
    assert len(scripts) >= 5
    for script in scripts:
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{script.name}: {result.stderr}"


def test_the_readmes_several_models_examples_deploy() -> None:
    section = README.split("## Several models and canaries", 1)[1].split("\n## ", 1)[0]
    blocks = [textwrap.dedent(b.split("```", 1)[0]) for b in section.split("```yaml\n")[1:]]
    assert len(blocks) == 2
    for block in blocks:
        config = yaml.safe_load(block)
        config = config.get("config", config)
        entries = config["vllm-datasphere:models"]
        run = run_program({"vllm-datasphere:model": None, "vllm-datasphere:models": json.dumps(entries)},
                          preview=True)
        assert list(run.outputs["models"]) == [entry["name"] for entry in entries]


def test_the_readmes_first_screen_is_the_quick_start() -> None:
    first_screen = "\n".join(README.splitlines()[:40])
    for needed in ("One `pulumi up`", "550.23 RUB an hour", "**You need**", "./scripts/up.sh",
                   "./scripts/test.sh", "pulumi config set --stack dev datasphereProjectId"):
        assert needed in first_screen, needed
    assert README.count("\n") < 270, "the README is the quick start and the reference; the rest is in docs/"
    headings = re.findall(r"^## (.+)$", README, re.MULTILINE)
    assert headings[-2:] == ["Glossary", "The DataSphere contract"]
    contract = README.split("## The DataSphere contract", 1)[1]
    assert "[docs/datasphere-api.md](docs/datasphere-api.md)" in contract


def test_every_link_between_the_docs_resolves_and_outside_issues_are_links() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if not target.startswith(("http://", "https://")):
                assert (page.parent / target).exists(), f"{page.name}: {target}"
        bare = re.findall(r"[\w.-]+/[\w.-]+ (?:issue|PR) \d+(?![\d\]])", text)
        assert bare == [], f"{page.name}: outside references without a link: {bare}"
