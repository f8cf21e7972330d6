"""The client examples, run against the OpenAI-compatible fake as a user would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from types import ModuleType

import httpx
import openai
import pytest

from endpoint.outputs import Endpoint
from examples import errors, langchain_demo, openai_client
from tests.fake_openai import ALIAS, FOLDER, GOOD_TOKEN, MODEL, fake_openai
from tests.program import ROOT


@pytest.mark.parametrize("example", [openai_client, langchain_demo])
def test_an_example_streams_a_completion_from_the_stack_outputs(
        example: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with fake_openai(output_tokens=6) as fake:
        for name, value in {"VLLM_ENDPOINT_URL": fake.url, "VLLM_NODE_ALIAS": ALIAS,
                            "VLLM_FOLDER_ID": FOLDER, "VLLM_MODEL": MODEL,
                            "YC_IAM_TOKEN": GOOD_TOKEN}.items():
            monkeypatch.setenv(name, value)
        assert example.main(["Why", "is", "the", "sky", "blue?"]) == 0
    assert capsys.readouterr().out == "word word word word word word\n"
    [chat] = [r for r in fake.requests if r["method"] == "POST"]
    assert chat["body"]["stream"] is True
    assert chat["body"]["model"] == MODEL
    assert chat["body"]["messages"][-1] == {"role": "user", "content": "Why is the sky blue?"}
    assert chat["headers"]["authorization"] == f"Bearer {GOOD_TOKEN}"
    assert (chat["headers"]["x-node-alias"], chat["headers"]["x-folder-id"]) == (ALIAS, FOLDER)


@pytest.mark.parametrize("example", [openai_client, langchain_demo])
@pytest.mark.parametrize(("setup", "code", "message"), [
    ({"YC_IAM_TOKEN": "t1.expired"}, 3, "error: the endpoint refused the token (HTTP 401)"),
    ({"VLLM_MODEL": "other-model"}, 1,
     "error: the endpoint answered HTTP 404 The model `other-model` does not exist. Valid aliases:"),
    ({"VLLM_ENDPOINT_URL": None}, 2, "error: "),
])
def test_an_example_ends_in_one_line_and_the_readmes_exit_code(
        example: ModuleType, setup: dict, code: int, message: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi, no yc
    with fake_openai() as fake:
        values = {"VLLM_ENDPOINT_URL": fake.url, "VLLM_NODE_ALIAS": ALIAS, "VLLM_FOLDER_ID": FOLDER,
                  "VLLM_MODEL": MODEL, "YC_IAM_TOKEN": GOOD_TOKEN} | setup
        for name, value in values.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        assert example.main(["Hello?"]) == code
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_no_answer_at_all_is_one_line_too(capsys: pytest.CaptureFixture[str]) -> None:
    endpoint = Endpoint("http://127.0.0.1:9/v1", {}, MODEL)

    def unreachable(_endpoint: Endpoint, _token: str) -> None:
        raise openai.APIConnectionError(request=httpx.Request("POST", endpoint.url))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(errors, "find_endpoint", lambda *_: endpoint)
        patch.setattr(errors, "iam_token", lambda *_: "t1.x")
        assert errors.run_example(unreachable) == 1
    assert capsys.readouterr().err == "error: no answer from http://127.0.0.1:9/v1 (Connection error.)\n"


@pytest.mark.parametrize("example", ["examples.openai_client", "examples.langchain_demo"])
def test_help_is_the_examples_text_not_a_question_to_the_model(example: str) -> None:
    done = subprocess.run([sys.executable, "-m", example, "--help"], cwd=ROOT, capture_output=True,
                          text=True, check=False, env={**os.environ, "VLLM_ENDPOINT_URL": "http://127.0.0.1:9/v1"})
    assert done.returncode == 0
    assert "Exit codes: 0 done; 1 no answer or a failed request" in done.stdout
    assert "pip install -r requirements.txt -r examples/requirements.txt" in done.stdout
