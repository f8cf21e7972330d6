"""Stream a chat completion from the deployed endpoint with the OpenAI Python SDK.

    pip install -r requirements.txt -r examples/requirements.txt   (scripts/up.sh does this)
    python -m examples.openai_client "Why is the sky blue?"

The endpoint comes from `pulumi stack output --json` (PULUMI_STACK picks the stack,
VLLM_STACK_MODEL the model of a stack that serves several), or from
VLLM_ENDPOINT_URL, VLLM_NODE_ALIAS, VLLM_FOLDER_ID and VLLM_MODEL. The IAM token comes from
YC_IAM_TOKEN, a key file named by YC_SERVICE_ACCOUNT_KEY_FILE (e.g. the stack's clientKeyJson),
or `yc iam create-token`. The token is the API key: node-api reads `Authorization: Bearer`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from openai import OpenAI

from endpoint.outputs import Endpoint
from examples.errors import asks_for_help, run_example


def ask(question: str, endpoint: Endpoint, token: str) -> None:
    client = OpenAI(base_url=endpoint.url, api_key=token,
                    default_headers=dict(endpoint.headers))
    stream = client.chat.completions.create(
        model=endpoint.model, messages=[{"role": "user", "content": question}], max_tokens=256, stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            print(chunk.choices[0].delta.content, end="", flush=True)
    print()


def main(argv: Sequence[str]) -> int:
    if asks_for_help(argv, __doc__ or ""):
        return 0
    question = " ".join(argv) or "Write a haiku about GPUs."
    return run_example(lambda endpoint, token: ask(question, endpoint, token))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
