"""The client examples, run against the OpenAI-compatible fake as a user would run them."""

from __future__ import annotations

from types import ModuleType

import pytest

from examples import langchain_demo, openai_client
from tests.fake_openai import ALIAS, FOLDER, GOOD_TOKEN, MODEL, fake_openai


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
