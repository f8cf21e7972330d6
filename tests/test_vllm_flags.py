"""`extraVllmArgs` read at preview as `vllm serve` reads them, from the table of the image's vLLM release.

The real-vLLM tier holds the reading to vLLM's own parser: the committed table is what
scripts/vllm-flags-table.sh makes from the image's release, and on a corpus of mistakes and good
flags the preview refuses exactly what the parser refuses, for that release and for the CPU build's.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from components import platform
from components.config_parsing import ConfigError
from components.vllm_flags import (
    MANAGED_FLAGS,
    REFUSED_FLAGS,
    TABLE_FILE,
    image_vllm_version,
    other_release_warnings,
    read_extra_args,
    serve_flags,
)
from tests.program import ROOT
from tests.real_vllm import PYTHON, stack_command, tier_env, unavailable
from tests.stack_config import parse_settings

# Mistakes and good flags, each a whole extraVllmArgs; the real tier checks the verdicts against vLLM.
CORPUS = [
    ["--enable-prefix-caching"], ["--enable-prefix-cache"], ["9000"], ["--enforce-eager", "9000"],
    ["--enable-prefix-cache", "9000"], ["--max-num-seqs"], ["--max-num-seqs", "--enforce-eager"],
    ["--kv-cache-dtype", "fp8"], ["--port", "9000"], ["--enab"], ["--max-num-seqs 8"], ["-O3"], ["-O", "3"],
    ["-O"], ["--compilation-config.cudagraph_mode", "NONE"], ["--compilation_config.cudagraph_mode=NONE"],
    ["--limit-mm-per-prompt.image", "2"], ["--enable_prefix_caching"], ["--enforce-eager=true"],
    ["--max-lora-rank", "7"], ["--max-lora-rank", "64"], ["--help"], ["--config", "x.yaml"], ["-tp", "2"],
    ["-qawq"], ["--no-enable-prefix-caching"], ["--max-num-seqs", "-1"], ["--log-level", "info"],
    ["--log-level", "INFO"], ["--enable-prefix-caching", "--max-num-seqs", "8"], ["--max-num-se", "8"],
    ["--max-num-seqs=8"], ["--scheduling-policy", "lifo"], ["--scheduling-policy", "priority"], ["--", "x"],
    ["Qwen/Qwen2.5-0.5B-Instruct"], ["--api-key", "k1", "k2"], ["--api-key"],
    ["--max_num_batched_tokens", "4096"], ["--trust-remote-code"], ["--uvicorn-log-level", "debug"],
    ["--chat-template-content-format", "html"], ["--generation-config", "vllm"],
    ["--enforce-eager", "--enforce-eager"], ["--seed", "1", "2"],
]


def messages(items: list[str]) -> list[tuple[int, str]]:
    return [(finding.index, finding.message) for finding in read_extra_args(items)]


def test_the_table_is_of_the_default_images_release_and_knows_every_flag_named_here() -> None:
    table = serve_flags()
    assert image_vllm_version(platform.DEFAULT_VLLM_IMAGE) == table.vllm
    assert set(MANAGED_FLAGS) | set(REFUSED_FLAGS) <= set(table.by_name)


def test_the_issues_typo_and_stray_value_are_refused_with_the_fix() -> None:
    assert messages(["--enable-prefix-cache"]) == [(0, (
        "is not a flag of vllm serve in vLLM 0.33.0. Did you mean --enable-prefix-caching? "
        "Fix: pulumi config set --path 'extraVllmArgs[0]' --enable-prefix-caching"))]
    assert messages(["--max-num-seqs", "8", "9000"]) == [(2, (
        "is a value that no flag before it takes, so vLLM takes it for a second model, and refuses. Fix: "
        "remove it from extraVllmArgs, or put the flag it is for before it"))]
    assert messages(["--enforce-eager", "9000"]) == [(1, (
        "follows --enforce-eager, which takes no value, so vLLM takes it for a second model, and refuses. "
        "Fix: remove it from extraVllmArgs"))]


@pytest.mark.parametrize(("items", "expected"), [
    (["--max-num-seqs"], "needs a value. Fix: put its value in extraVllmArgs[1], or remove --max-num-seqs"),
    (["--max-num-seqs", "--enforce-eager"], "needs a value; '--enforce-eager' after it is a flag"),
    (["--enforce-eager=true"], "--enforce-eager is a switch and takes no value. Fix: pulumi config set "
                               "--path 'extraVllmArgs[0]' --enforce-eager"),
    (["--scheduling-policy", "lifo"], "gives --scheduling-policy 'lifo', which is not one of: fcfs, priority "
                                      "(vLLM 0.33.0). Fix: pulumi config set --path 'extraVllmArgs[1]' fcfs"),
    (["--dtype=half"], "sets --dtype, which the stack manages"),
    (["--log-level=debug"], "Fix: pulumi config set --path 'extraVllmArgs[0]' --log-level=DEBUG"),
    (["--max-num-seqs 8"], "holds a space, so vLLM reads it as one word, a second model, and refuses: each "
                           "item of extraVllmArgs is one argument. Fix: pulumi config set --path "
                           "'extraVllmArgs[0]' --max-num-seqs and put '8' in the next item"),
    (["--enab"], "is ambiguous: vLLM 0.33.0 could read --enab as --enable-"),
    (["--enforce-eager.x", "1"], "sets a key of --enforce-eager, which takes no JSON value"),
    (["--help"], "prints vLLM's help and exits, so the node would never serve"),
    (["-h"], "prints vLLM's help and exits"),
    (["--config", "serve.yaml"], "reads its flags from a YAML file, and the image holds no file of yours"),
    (["--", "--enforce-eager"], "ends vLLM's flags"),
    (["--tensor-parallel", "2"], "sets --tensor-parallel-size, which the stack manages (vLLM reads "
                                 "--tensor-parallel as --tensor-parallel-size)"),
])
def test_each_kind_of_mistake_is_one_finding_with_its_fix(items: list[str], expected: str) -> None:
    [(index, message)] = messages(items)
    assert index == 0
    assert expected in message


@pytest.mark.parametrize("items", [
    ["--enable-prefix-caching", "--max-num-seqs", "8"], ["--enable_prefix_caching"],
    ["--no-enable-log-requests"],
    ["--max-num-se", "8"], ["-O3"], ["-O", "2"], ["--compilation-config.cudagraph_mode", "NONE"],
    ["--limit-mm-per-prompt.image=2"], ["--api-key", "k1", "k2"], ["--max-num-seqs", "-1"],
    [], ["--kv-cache-dtype", "fp8"], ["--log-level", "INFO"], ["--seed=1"],
])
def test_flags_vllm_takes_pass(items: list[str]) -> None:
    assert messages(items) == []


def parse_model(**raw: str) -> None:
    base = {"model": "Qwen/Qwen2.5-7B-Instruct", "datasphereProjectId": "bt1project0000000000"}
    parse_settings(base | raw, stack="dev", cloud_id="b1gcloud000000000000")


def test_every_mistake_of_a_models_entry_is_said_with_its_path() -> None:
    entry = {"name": "small", "model": "Qwen/Qwen2.5-7B-Instruct",
             "extraVllmArgs": ["--enable-prefix-cache", "9000", "--port", "9000"]}
    with pytest.raises(ConfigError) as error:
        parse_settings({"datasphereProjectId": "bt1project0000000000", "models": json.dumps([entry])},
                       stack="dev", cloud_id="b1gcloud000000000000")
    lines = [str(problem) for problem in error.value.problems]
    assert lines == [
        "[small] vllm-datasphere:models[0].extraVllmArgs = '--enable-prefix-cache': is not a flag of vllm "
        "serve in vLLM 0.33.0. Did you mean --enable-prefix-caching? Fix: pulumi config set "
        "--path 'models[0].extraVllmArgs[0]' --enable-prefix-caching",
        "[small] vllm-datasphere:models[0].extraVllmArgs = '9000': follows --enable-prefix-caching, which "
        "takes no value, so vLLM takes it for a second model, and refuses. Fix: remove it from extraVllmArgs",
        "[small] vllm-datasphere:models[0].extraVllmArgs = '--port': sets --port, which the stack manages. "
        "Fix: remove it: the node's endpoint calls port 8000"]


def test_an_image_of_another_release_is_warned_about_and_left_to_its_build() -> None:
    image = "vllm/vllm-openai:v0.34.0"
    parse_model(vllmImage=image, extraVllmArgs='["--enable-flash-thing", "9000", "--max-num-seqs"]')
    assert other_release_warnings(["--enable-flash-thing"], image) == [
        "extraVllmArgs '--enable-flash-thing' is not a flag of vllm serve in vLLM 0.33.0. Did you mean "
        "--enable-elastic-ep? Fix: pulumi config set --path 'extraVllmArgs[0]' --enable-elastic-ep "
        "(vllmImage vllm/vllm-openai:v0.34.0 may run another release: its build's check decides)"]
    assert other_release_warnings(["--enable-flash-thing"], platform.DEFAULT_VLLM_IMAGE) == []
    with pytest.raises(ConfigError, match="sets --port, which the stack manages"):
        parse_model(vllmImage=image, extraVllmArgs='["--port", "9000"]')


@pytest.mark.parametrize(("image", "version"), [
    ("vllm/vllm-openai:v0.33.0", "0.33.0"), ("docker.io/vllm/vllm-openai:v0.34.1", "0.34.1"),
    (f"vllm/vllm-openai:v0.33.0@sha256:{'a' * 64}", "0.33.0"), ("vllm/vllm-openai:latest", None),
    ("registry.yandexcloud.net/cn1/vllm-openai:v0.33.0", None),
])
def test_the_release_is_read_from_an_official_tag(image: str, version: str | None) -> None:
    assert image_vllm_version(image) == version


real_tier = pytest.mark.skipif(unavailable() is not None, reason=unavailable() or "")


def image_release_parser() -> Path:
    done = subprocess.run(["bash", "scripts/vllm-parser.sh", serve_flags().vllm], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, check=True)
    return Path(done.stdout.strip().splitlines()[-1])


@real_tier
def test_the_committed_table_is_what_the_script_makes_from_vllms_parsers(tmp_path: Path) -> None:
    made = tmp_path / "table.json"
    subprocess.run(["bash", "scripts/vllm-flags-table.sh", serve_flags().vllm, str(made)], cwd=ROOT,
                   check=True, timeout=900)
    assert json.loads(made.read_text()) == json.loads(TABLE_FILE.read_text())
    differ = json.loads(made.read_text())["compared_with"]["differ"]
    assert all(d["here"]["values"] == d["there"]["values"] for d in differ), \
        "a flag both releases have takes as many values in each (only some choices differ)"


@real_tier
@pytest.mark.parametrize("release", ["image", "cpu build"])
def test_the_preview_refuses_exactly_what_vllms_parser_refuses(tmp_path: Path, release: str) -> None:
    env = tier_env()
    if release == "image":
        table = serve_flags()
        env["PYTHONPATH"] = str(image_release_parser())
    else:
        made = subprocess.run([str(PYTHON), "scripts/vllm_flags_table.py"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300, check=True)
        (tmp_path / "table.json").write_text(made.stdout)
        table = serve_flags(tmp_path / "table.json")
    cases, verdicts = tmp_path / "cases.json", tmp_path / "verdicts.json"
    cases.write_text(json.dumps({"managed": stack_command()["managed"], "cases": CORPUS}))
    subprocess.run([str(PYTHON), "tests/vllm_verdicts.py", str(cases), str(verdicts)], cwd=ROOT, env=env,
                   capture_output=True, timeout=600, check=True)
    refused_by_vllm = [verdict is not None for verdict in json.loads(verdicts.read_text())]
    refused_here = [bool(read_extra_args(items, table)) for items in CORPUS]
    disagree = [(items, vllm) for items, vllm, here in zip(CORPUS, refused_by_vllm, refused_here, strict=True)
                if vllm != here]
    assert disagree == [], "(extraVllmArgs, refused by vLLM) where the preview says otherwise"
    assert sum(refused_here) > len(CORPUS) / 3, "the corpus holds mistakes, not only good flags"
