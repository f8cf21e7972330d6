"""What the preflight knows about a model: its size, its shape, its checkpoint format.

Pure parsing of what the Hugging Face Hub publishes (`/api/models/<id>?expand=safetensors` and the
repository's `config.json`) and of the size written in a model's name. Fetching and caching live in
`components/hub.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

# Bytes per element of each safetensors dtype, as the Hub's `safetensors.parameters` names them.
# Source: the safetensors format, safetensors/src/tensor.rs (enum Dtype).
SAFETENSORS_DTYPE_BYTES: dict[str, float] = {
    "F64": 8, "I64": 8, "U64": 8,
    "F32": 4, "I32": 4, "U32": 4,
    "F16": 2, "BF16": 2, "I16": 2, "U16": 2,
    "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "I8": 1, "U8": 1, "BOOL": 1,
    "F4": 0.5, "F6_E2M3": 0.75, "F6_E3M2": 0.75,
}

# Where vLLM looks for the model's context length; it takes the smallest one present.
# Source: vLLM v0.33.0, vllm/config/model.py (_get_and_verify_max_len, possible_keys).
CONTEXT_LENGTH_KEYS = (
    "max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "model_max_length",
    "max_sequence_length", "max_seq_length", "seq_len",
)

# Where a multimodal model's config.json keeps its encoder's settings.
ENCODER_CONFIG_KEYS = ("vision_config", "audio_config")

# "8B", "0.5B", "8x7B" (all experts count), "360M"; "A3B" (active parameters) is not a size.
_SIZE_IN_NAME = re.compile(r"(?<![A-Za-z0-9.])(?:(\d+)x)?(\d+(?:\.\d+)?)([BbMm])(?![A-Za-z0-9])")


@dataclass(frozen=True)
class ModelShape:
    """The sizes that decide the KV cache and the tensor-parallel split."""

    layers: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    context_length: int | None
    # Multi-head latent attention (DeepSeek V2/V3) caches one compressed vector per token and layer.
    kv_latent_dim: int | None = None
    # The widths that size vLLM's activations at start-up (components/memory.py); None when unstated.
    hidden_size: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    # A vision (or audio) encoder beside the language model: vLLM profiles it too.
    multimodal: bool = False


@dataclass(frozen=True)
class ModelFacts:
    """What the Hub says of one model; every field may be missing when it could not be read."""

    model: str
    parameters: int | None = None
    stored_bytes: int | None = None
    config: Mapping[str, Any] | None = None

    @cached_property
    def shape(self) -> ModelShape | None:
        return shape_from_config(self.config) if self.config is not None else None

    @property
    def checkpoint_quantization(self) -> str | None:
        """The method of a pre-quantized checkpoint, which vLLM picks up on its own."""
        if self.config is None:
            return None
        quantization = _text_config(self.config).get("quantization_config") or {}
        method = quantization.get("quant_method") if isinstance(quantization, Mapping) else None
        return str(method) if method else None

    @property
    def checkpoint_dtype(self) -> str | None:
        if self.config is None:
            return None
        text = _text_config(self.config)
        dtype = text.get("torch_dtype") or text.get("dtype")
        return str(dtype) if dtype else None


def facts_from_hub(model: str, safetensors: Mapping[str, Any] | None,
                   config: Mapping[str, Any] | None) -> ModelFacts:
    """Build facts from the Hub's `safetensors` summary and `config.json`, either possibly absent."""
    parameters = stored_bytes = None
    if safetensors:
        by_dtype: Mapping[str, int] = safetensors.get("parameters") or {}
        parameters = int(safetensors.get("total") or sum(by_dtype.values())) or None
        stored_bytes = int(sum(count * SAFETENSORS_DTYPE_BYTES.get(dtype, 2)
                               for dtype, count in by_dtype.items())) or None
    return ModelFacts(model=model, parameters=parameters, stored_bytes=stored_bytes, config=config)


def _text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """Multimodal models keep the language model's sizes under `text_config`."""
    text = config.get("text_config")
    if isinstance(text, Mapping) and "num_hidden_layers" in text:
        return {**config, **text}
    return config


def _first(config: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = config.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return None


def shape_from_config(config: Mapping[str, Any]) -> ModelShape | None:
    """The model's shape from `config.json`, or None when the config lacks the usual keys."""
    c = _text_config(config)
    layers = _first(c, "num_hidden_layers", "n_layer", "num_layers", "n_layers")
    heads = _first(c, "num_attention_heads", "n_head", "num_heads", "n_heads")
    hidden = _first(c, "hidden_size", "n_embd", "d_model")
    if layers is None or heads is None:
        return None
    head_dim = _first(c, "head_dim") or (hidden // heads if hidden else None)
    if head_dim is None:
        return None
    kv_heads = _first(c, "num_key_value_heads", "n_head_kv", "num_kv_heads")
    if kv_heads is None:
        kv_heads = 1 if c.get("multi_query") else heads
    lengths = [c[key] for key in CONTEXT_LENGTH_KEYS if isinstance(c.get(key), int) and c[key] > 0]
    latent = _first(c, "kv_lora_rank")
    return ModelShape(
        layers=layers,
        attention_heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        context_length=min(lengths) if lengths else None,
        kv_latent_dim=latent + (_first(c, "qk_rope_head_dim") or 0) if latent else None,
        hidden_size=hidden,
        intermediate_size=_first(c, "intermediate_size", "n_inner", "ffn_dim"),
        vocab_size=_first(c, "vocab_size"),
        multimodal=any(isinstance(config.get(key), Mapping) for key in ENCODER_CONFIG_KEYS),
    )


def parameters_from_name(model: str) -> int | None:
    """The size a model's name states (`Llama-3.1-8B` -> 8e9), the largest if it states several."""
    sizes = []
    for experts, number, unit in _SIZE_IN_NAME.findall(model.split("/")[-1]):
        scale = 1e9 if unit in "Bb" else 1e6
        sizes.append(int(float(number) * scale * (int(experts) if experts else 1)))
    return max(sizes) if sizes else None
