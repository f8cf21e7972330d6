"""The memory estimate held to what real vLLM servers logged at start-up (docs/vllm-memory.md).

Each row is one logged start: the model's shape (its published config.json), the GPU as vLLM reported
it, the settings, and what happened. The estimate must predict the outcome (started, or refused for too
little KV cache), and its weights must be within 5% of the logged ones. Rows the logs leave too vague to
model (no model or GPU named) are listed with the reason and not run.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from components.memory import GIB, SPREAD_BYTES_PER_GPU, ModelSize, Plan, estimate, tokens_that_fit
from components.model_facts import ModelShape
from components.platform import Configuration, Gpu
from tests.test_preflight import QWEN_AWQ, recorded


@dataclass(frozen=True)
class Logged:
    source: str
    size: ModelSize
    gpu: Gpu
    gpus: int
    max_model_len: int
    utilization: float
    # vLLM's profile batch: `max_num_batched_tokens`. V0 without chunked prefill profiles a whole
    # `max_model_len`; `vllm serve` of V1 2048 on these cards.
    batched_tokens: int
    started: bool
    weights_gib_per_gpu: float | None = None
    # Tokens the KV cache held, where the log says.
    kv_tokens: int | None = None

    def plan(self) -> Plan:
        configuration = Configuration("logged", self.gpu, self.gpus, 0)
        return Plan(configuration, "auto", None, self.max_model_len, self.utilization,
                    batched_tokens=self.batched_tokens)


def dense(parameters: float, layers: int, heads: int, kv_heads: int, hidden: int, intermediate: int,
          vocab: int, context: int, *, multimodal: bool = False) -> ModelSize:
    shape = ModelShape(layers, heads, kv_heads, hidden // heads, context, hidden_size=hidden,
                       intermediate_size=intermediate, vocab_size=vocab, multimodal=multimodal)
    return ModelSize(int(parameters), "config.json", shape)


# Shapes: each model's config.json on huggingface.co; parameters: the Hub's safetensors total (the 72B
# vision model: its model card's 73.4B).
LLAMA_3_8B = dense(8_030_261_248, 32, 32, 8, 4096, 14336, 128256, 8192)
R1_DISTILL_14B = dense(14_770_033_664, 48, 40, 8, 5120, 13824, 152064, 131072)
QWEN_VL_72B = dense(73.4e9, 80, 64, 8, 8192, 29568, 152064, 128000, multimodal=True)
QWEN_1_5B = dense(1_543_714_304, 28, 12, 2, 1536, 8960, 151936, 32768)
QWEN1_5_14B = dense(14_167_290_880, 40, 40, 40, 5120, 13696, 152064, 32768)
QWEN1_5_72B = dense(72_287_920_128, 80, 64, 64, 8192, 24576, 152064, 32768)

A100_80 = Gpu("A100 80 GB", 79.22, (8, 0))
A100_40 = Gpu("A100 40 GB", 39.38, (8, 0))
T4 = Gpu("T4", 14.56, (7, 5))
V100 = Gpu("V100 32 GB", 31.7, (7, 0))
RTX_4060 = Gpu("RTX 4060 8 GB", 8.0, (8, 9))  # 0.70 x 8.0 GiB is the budget its log's figures add up to
RTX_4090 = Gpu("RTX 4090", 23.64, (8, 9))


def awq_qwen_7b() -> ModelSize:
    """The log names "a quantized variant" of Qwen2.5-7B: the recorded AWQ checkpoint stands in."""
    facts = recorded(QWEN_AWQ).facts
    return ModelSize(facts.parameters or 0, "safetensors", facts.shape, prequantized=True,
                     stored_bytes=facts.stored_bytes)


LOGS = [
    Logged("vllm PR 10511, one GPU", LLAMA_3_8B, A100_80, 1, 8192, 0.90, 2048, True, 14.96),
    Logged("vllm PR 10511, two GPUs", LLAMA_3_8B, A100_80, 2, 8192, 0.90, 2048, True, 7.48),
    Logged("vllm issue 13882 (V0)", awq_qwen_7b(), RTX_4060, 1, 4096, 0.70, 4096, False, 5.20),
    Logged("vllm issue 13061", R1_DISTILL_14B, RTX_4090, 2, 131072, 0.98, 2048, False, 13.95, 81_536),
    Logged("vllm issue 16570 (0.8.3)", QWEN_VL_72B, A100_40, 4, 128000, 0.95, 2048, False, 34.43),
    Logged("vLLM 0.7.2 log (V0)", QWEN_1_5B, T4, 1, 32768, 0.50, 32768, True, 2.89),
    Logged("QwenLM/Qwen issue 12 (V0)", QWEN1_5_14B, V100, 1, 32768, 0.95, 32768, False),
    Logged("QwenLM/Qwen issue 16 (V0)", QWEN1_5_72B, A100_80, 2, 32768, 0.90, 32768, False, kv_tokens=4_464),
]
NOT_MODELLED = {
    "vllm issue 25350": "neither the model nor the GPU is named, and its KV cache is fp8, which the stack "
                        "does not configure",
}


@pytest.mark.parametrize("log", LOGS, ids=[log.source for log in LOGS])
def test_the_estimate_predicts_what_vllm_did(log: Logged) -> None:
    result = estimate("logged", log.size, log.plan())
    assert result.fits == log.started


@pytest.mark.parametrize("log", [log for log in LOGS if log.weights_gib_per_gpu],
                         ids=[log.source for log in LOGS if log.weights_gib_per_gpu])
def test_the_weights_are_within_five_percent_of_the_logged_ones(log: Logged) -> None:
    result = estimate("logged", log.size, log.plan())
    per_gpu = result.weights_bytes / log.gpus / GIB
    assert per_gpu == pytest.approx(log.weights_gib_per_gpu, rel=0.05)


def test_the_kv_cache_left_is_near_what_vllm_found_or_less() -> None:
    """In tokens too: close where vLLM V1 profiled its usual batch, fewer (the safe side) where V0
    profiled a whole 32768-token context."""
    [v1] = [log for log in LOGS if log.source == "vllm issue 13061"]
    assert tokens_that_fit(v1.size, v1.plan()) == pytest.approx(v1.kv_tokens, rel=0.05)
    for log in LOGS:
        if log.kv_tokens is not None:
            assert tokens_that_fit(log.size, log.plan()) <= log.kv_tokens * 1.05, log.source


def test_the_overhead_errs_on_the_safe_side_of_the_logs_within_its_spread() -> None:
    """Logged overheads (activation peak and non-torch memory, per GPU) against the model: above them, or
    below by less than the spread the preview line calls unsure."""
    logged = {"vllm PR 10511, one GPU": 1.26 + 1.79, "vllm issue 13882 (V0)": 1.42 + 0.03,
              "vllm issue 13061": 0.19 + 0.25, "vllm issue 16570 (0.8.3)": 2.51 + 0.43,
              "vLLM 0.7.2 log (V0)": 2.02 + 0.01 + 0.17}
    for log in LOGS:
        if log.source in logged:
            modelled = estimate("logged", log.size, log.plan()).overhead.per_gpu / GIB
            assert logged[log.source] - modelled < SPREAD_BYTES_PER_GPU / GIB, log.source


def test_every_logged_row_is_modelled_or_says_why_not() -> None:
    assert len(LOGS) + len(NOT_MODELLED) == 9
