"""A LangChain chain on the deployed endpoint: a prompt template piped into ChatOpenAI, streamed.

    pip install -r requirements.txt -r examples/requirements.txt   (scripts/up.sh does this)
    python -m examples.langchain_demo "What limits the context length of an LLM?"

Endpoint and token are found as in `examples/openai_client.py`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from endpoint.outputs import Endpoint
from examples.errors import asks_for_help, run_example


def ask(question: str, endpoint: Endpoint, token: str) -> None:
    llm = ChatOpenAI(model=endpoint.model, base_url=endpoint.url,
                     api_key=SecretStr(token),
                     default_headers=dict(endpoint.headers), max_tokens=256, streaming=True)
    prompt = ChatPromptTemplate.from_messages([
        ("system", "You answer in at most three sentences."),
        ("user", "{question}"),
    ])
    for chunk in (prompt | llm).stream({"question": question}):
        print(chunk.content, end="", flush=True)
    print()


def main(argv: Sequence[str]) -> int:
    if asks_for_help(argv, __doc__ or ""):
        return 0
    question = " ".join(argv) or "What limits the context length of an LLM?"
    return run_example(lambda endpoint, token: ask(question, endpoint, token))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
