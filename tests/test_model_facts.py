"""Parsing what the Hub publishes: sizes, shapes and checkpoint formats."""

from __future__ import annotations

import pytest

from components.model_facts import ModelShape, facts_from_hub, parameters_from_name, shape_from_config
from tests.fake_hub import fixture


@pytest.mark.parametrize(("model", "parameters"), [
    ("Qwen/Qwen2.5-7B-Instruct", 7_000_000_000),
    ("Qwen/Qwen2.5-0.5B-Instruct", 500_000_000),
    ("meta-llama/Llama-3.1-70B-Instruct", 70_000_000_000),
    ("google/gemma-2-9b-it", 9_000_000_000),
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", 56_000_000_000),
    ("Qwen/Qwen3-30B-A3B", 30_000_000_000),
    ("HuggingFaceTB/SmolLM2-360M-Instruct", 360_000_000),
    ("microsoft/Phi-3-mini-4k-instruct", None),
    ("v3b-labs/assistant", None),
])
def test_the_size_in_a_name(model: str, parameters: int | None) -> None:
    assert parameters_from_name(model) == parameters


def test_recorded_models_give_their_shapes() -> None:
    qwen = facts_from_hub("Qwen/Qwen2.5-7B-Instruct", **_hub("Qwen/Qwen2.5-7B-Instruct"))
    assert qwen.shape == ModelShape(layers=28, attention_heads=28, kv_heads=4, head_dim=128,
                                    context_length=32768, hidden_size=3584, intermediate_size=18944,
                                    vocab_size=152064)
    assert qwen.checkpoint_quantization is None
    assert qwen.checkpoint_dtype == "bfloat16"
    llama = facts_from_hub("m", **_hub("meta-llama/Llama-3.1-70B-Instruct"))
    assert llama.shape == ModelShape(layers=80, attention_heads=64, kv_heads=8, head_dim=128,
                                     context_length=131072, hidden_size=8192, intermediate_size=28672,
                                     vocab_size=128256)


def test_a_quantized_checkpoint_is_measured_by_its_stored_bytes() -> None:
    awq = facts_from_hub("Qwen/Qwen2.5-7B-Instruct-AWQ", **_hub("Qwen/Qwen2.5-7B-Instruct-AWQ"))
    assert awq.checkpoint_quantization == "awq"
    assert awq.checkpoint_dtype == "float16"
    assert awq.parameters == 1_963_340_288
    assert awq.stored_bytes == 822_033_408 * 4 + 1_141_306_880 * 2


def test_shapes_of_other_families() -> None:
    multimodal = {"architectures": ["X"], "max_position_embeddings": 4096, "vision_config": {"depth": 32},
                  "text_config": {"num_hidden_layers": 40, "num_attention_heads": 32,
                                  "num_key_value_heads": 8, "hidden_size": 5120, "intermediate_size": 14336,
                                  "vocab_size": 131072, "max_position_embeddings": 131072}}
    assert shape_from_config(multimodal) == ModelShape(40, 32, 8, 160, 131072, hidden_size=5120,
                                                       intermediate_size=14336, vocab_size=131072,
                                                       multimodal=True)
    falcon = {"n_layer": 32, "n_head": 71, "hidden_size": 4544, "multi_query": True, "n_positions": 2048}
    assert shape_from_config(falcon) == ModelShape(32, 71, 1, 64, 2048, hidden_size=4544)
    deepseek = {"num_hidden_layers": 61, "num_attention_heads": 128, "num_key_value_heads": 128,
                "hidden_size": 7168, "kv_lora_rank": 512, "qk_rope_head_dim": 64,
                "max_position_embeddings": 163840}
    assert shape_from_config(deepseek) == ModelShape(61, 128, 128, 56, 163840, kv_latent_dim=576,
                                                     hidden_size=7168)
    two_lengths = {"num_hidden_layers": 2, "num_attention_heads": 2, "hidden_size": 8,
                   "max_position_embeddings": 4096, "seq_length": 2048}
    assert shape_from_config(two_lengths).context_length == 2048
    assert shape_from_config({"hidden_size": 4096}) is None


def _hub(model: str) -> dict:
    record = fixture(model)
    return {"safetensors": record["safetensors"], "config": record["config"]}
