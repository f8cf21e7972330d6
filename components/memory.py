"""How much GPU memory vLLM needs for a model, and how much a DataSphere configuration gives it.

vLLM takes `gpuMemoryUtilization` of every GPU, loads the weights (split over the GPUs by tensor
parallelism), keeps some for its runtime, and gives the rest to the KV cache, which must hold at
least one request of `maxModelLen` tokens or the server refuses to start ("... is larger than the
maximum number of tokens that can be stored in KV cache"). The estimate follows that budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from components.model_facts import ModelShape
from components.platform import Configuration

GIB = 1024**3

# CUDA context, the activations of one prefill batch and CUDA graphs, per GPU. vLLM measures these at
# start-up; this is an assumed allowance, not a measurement, and the largest single unknown here.
RUNTIME_OVERHEAD_BYTES_PER_GPU = 2 * GIB

# Without the model's config.json: the KV cache of a grouped-query model like Llama 3 8B
# (32 layers x 8 KV heads x 128 x K and V x 2 bytes = 128 KiB per token for 8B parameters).
KV_BYTES_PER_TOKEN_PER_BILLION = 16 * 1024

# Weight bytes per original parameter of a quantized model whose checkpoint size is unknown:
# 4 bits plus group scales and zeros plus the embeddings left in 16 bits (Qwen2.5-7B-Instruct-AWQ
# stores 5.7 GB for 7.6B parameters), and 8 bits plus those embeddings.
QUANTIZED_BYTES_PER_PARAMETER: dict[str, float] = {
    "awq": 0.75, "awq_marlin": 0.75, "gptq": 0.75, "gptq_marlin": 0.75, "moe_wna16": 0.75,
    "fp8": 1.1, "experts_int8": 1.1, "compressed-tensors": 1.1,
}
UNKNOWN_QUANTIZATION_BYTES_PER_PARAMETER = 1.1


@dataclass(frozen=True)
class ModelSize:
    """What the estimate needs of the model, wherever each part came from."""

    parameters: int
    parameters_source: str
    shape: ModelShape | None
    prequantized: bool = False
    # The checkpoint's own size in bytes: exact for a pre-quantized checkpoint.
    stored_bytes: int | None = None


@dataclass(frozen=True)
class Plan:
    """How the server would run: on which configuration, at which precision and length."""

    configuration: Configuration
    dtype: str
    quantization: str | None
    max_model_len: int
    gpu_memory_utilization: float

    @property
    def tensor_parallel_size(self) -> int:
        return self.configuration.gpu_count

    @property
    def precision(self) -> str:
        if self.quantization:
            return self.quantization
        return {"auto": "16-bit", "half": "float16", "float": "float32"}.get(self.dtype, self.dtype)


@dataclass(frozen=True)
class MemoryEstimate:
    model: str
    plan: Plan
    size: ModelSize
    weights_bytes: int
    kv_cache_bytes: int
    overhead_bytes: int
    available_bytes: int

    @property
    def needed_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.overhead_bytes

    @property
    def fits(self) -> bool:
        return self.needed_bytes <= self.available_bytes

    def as_output(self) -> dict[str, object]:
        return {
            "instanceSpec": self.plan.configuration.name,
            "neededGiB": gib(self.needed_bytes),
            "availableGiB": gib(self.available_bytes),
            "weightsGiB": gib(self.weights_bytes),
            "kvCacheGiB": gib(self.kv_cache_bytes),
            "overheadGiB": gib(self.overhead_bytes),
            "maxModelLen": self.plan.max_model_len,
            "tensorParallelSize": self.plan.tensor_parallel_size,
            "precision": self.plan.precision,
            "parameters": self.size.parameters,
            "parametersSource": self.size.parameters_source,
        }

    def summary(self, entry: str | None = None) -> str:
        """One line for the preview; `entry` names the model's entry of `models`."""
        label = f"memoryEstimate [{entry}]" if entry else "memoryEstimate"
        return (f"{label}: {self.model} needs {gib(self.needed_bytes)} GiB of the "
                f"{gib(self.available_bytes)} GiB vLLM may use on {self.plan.configuration.name} "
                f"(weights {gib(self.weights_bytes)} + KV cache {gib(self.kv_cache_bytes)} for "
                f"{self.plan.max_model_len} tokens + overhead {gib(self.overhead_bytes)}; "
                f"{billions(self.size.parameters)} parameters from {self.size.parameters_source})")


def gib(size: float) -> float:
    return round(size / GIB, 1)


def billions(parameters: int) -> str:
    return f"{parameters / 1e9:.1f}B"


def activation_bytes(dtype: str) -> int:
    return 4 if dtype in ("float", "float32") else 2


def weights_bytes(size: ModelSize, plan: Plan) -> int:
    if size.prequantized and size.stored_bytes:
        return size.stored_bytes
    if plan.quantization:
        per_parameter = QUANTIZED_BYTES_PER_PARAMETER.get(
            plan.quantization, UNKNOWN_QUANTIZATION_BYTES_PER_PARAMETER)
        return math.ceil(size.parameters * per_parameter)
    return size.parameters * activation_bytes(plan.dtype)


def kv_bytes_per_token(size: ModelSize, plan: Plan) -> int:
    """KV cache of one token over all GPUs; heads are split across them, or repeated when fewer."""
    element = activation_bytes(plan.dtype)
    tp = plan.tensor_parallel_size
    shape = size.shape
    if shape is None:
        return math.ceil(size.parameters / 1e9 * KV_BYTES_PER_TOKEN_PER_BILLION * element / 2)
    if shape.kv_latent_dim:
        return shape.layers * shape.kv_latent_dim * element * tp
    heads_per_gpu = max(1, shape.kv_heads // tp)
    return 2 * shape.layers * heads_per_gpu * tp * shape.head_dim * element


def available_bytes(plan: Plan) -> int:
    c = plan.configuration
    return int(c.gpu_memory_gib * GIB * c.gpu_count * plan.gpu_memory_utilization)


def estimate(model: str, size: ModelSize, plan: Plan) -> MemoryEstimate:
    return MemoryEstimate(
        model=model,
        plan=plan,
        size=size,
        weights_bytes=weights_bytes(size, plan),
        kv_cache_bytes=kv_bytes_per_token(size, plan) * plan.max_model_len,
        overhead_bytes=RUNTIME_OVERHEAD_BYTES_PER_GPU * plan.tensor_parallel_size,
        available_bytes=available_bytes(plan),
    )


def tokens_that_fit(size: ModelSize, plan: Plan) -> int:
    """The longest `maxModelLen` whose KV cache fits next to the weights (0 if none does)."""
    left = (available_bytes(plan) - weights_bytes(size, plan)
            - RUNTIME_OVERHEAD_BYTES_PER_GPU * plan.tensor_parallel_size)
    return max(0, left // kv_bytes_per_token(size, plan))
