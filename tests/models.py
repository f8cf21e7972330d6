"""Shared by the tests of several models: example entries and the stack config that lists them."""

from __future__ import annotations

import json
from typing import Any

from tests.program import PROJECT

QWEN = "Qwen/Qwen2.5-7B-Instruct"
AWQ = "Qwen/Qwen2.5-7B-Instruct-AWQ"
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
THREE = [
    {"name": "chat", "model": QWEN, "servedModelName": "chat", "maxModelLen": 16384},
    {"name": "small", "model": AWQ, "quantization": "awq", "instanceSpec": "gt4.1", "maxModelLen": 4096},
    {"name": "llama", "model": LLAMA_8B, "maxModelLen": 8192, "instanceCount": 2, "weights": "image"},
]
# A read token for the gated model of THREE (its image build downloads the weights).
TOKEN = "hf_test_token_0123456789abcdefghij"
# One alias, two nodes: 90% to the model that serves, 10% to a longer context.
CANARY = [
    {"name": "stable", "model": QWEN, "servedModelName": "chat", "aliasName": "chat", "trafficPercent": 90},
    {"name": "next", "model": QWEN, "servedModelName": "chat", "aliasName": "chat", "trafficPercent": 10,
     "maxModelLen": 8192},
]


def models_config(entries: list[dict[str, Any]], **more: str) -> dict[str, Any]:
    """A stack of `entries`, with the token a gated model needs: the one-model form's `model` (set by the
    tests' base config) taken out."""
    return {f"{PROJECT}:model": None, f"{PROJECT}:models": json.dumps(entries),
            f"{PROJECT}:huggingFaceToken": TOKEN,
            **{f"{PROJECT}:{key}": value for key, value in more.items()}}
