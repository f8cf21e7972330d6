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

# vLLM's runtime memory besides weights and KV cache, per GPU, in the three parts its start-up log
# names (activation peak, non-torch memory, CUDA graphs). Modelled on what real servers logged
# (docs/vllm-memory.md, and tests/test_memory_calibration.py holds the model to those logs):
# - the activation peak is vLLM's profile run: one batch of `max_num_batched_tokens` tokens through the
#   widest layer (the MLP's gate and up projections, 2 x intermediate, and a few hidden-size tensors),
#   split over the GPUs, plus the sampler's float32 logits, probabilities and log-probabilities over the
#   vocabulary for `max_num_seqs` sequences;
# - non-torch memory (CUDA context, cuBLAS workspaces) was 0.01-0.43 GiB a GPU in the logs but one
#   (1.79 GiB on one A100, a development build), and NCCL's buffers add to it with tensor parallelism;
# - CUDA graphs took 0.17 GiB (one log) and 0.2-0.5 GiB in others: the upper end is taken.
# Source of the profile sizes: vLLM v0.33.0, vllm/engine/arg_utils.py (get_batch_defaults): `vllm serve`
# on an A100, V100, T4 or any card under 70 GiB profiles 2048 tokens and 256 sequences.
PROFILED_TOKENS = 2048
PROFILED_SEQUENCES = 256
SAMPLER_COPIES = 3
ACTIVATION_TENSORS_PER_TOKEN_HIDDEN = 4
NON_TORCH_BYTES_PER_GPU = int(0.4 * GIB)
NCCL_BYTES_PER_GPU = int(0.4 * GIB)
CUDA_GRAPH_BYTES_PER_GPU = int(0.5 * GIB)
# A vision or audio encoder is profiled too: Qwen2.5-VL-72B logged a 2.51 GiB activation peak, about
# 2 GiB over what its language model alone accounts for.
ENCODER_ACTIVATION_BYTES = 2 * GIB
# Without the model's widths: the largest activation peak a text model logged (2.02 GiB).
UNKNOWN_ACTIVATION_BYTES = int(2.02 * GIB)
# How far a logged overhead was above this model at worst, per GPU (1.61 GiB, the start with the 1.79 GiB
# non-torch figure above), rounded up: a verdict within this margin is stated as unsure.
SPREAD_BYTES_PER_GPU = int(1.7 * GIB)

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
    # What vLLM's start-up profile runs: `--max-num-batched-tokens` and `--max-num-seqs`.
    batched_tokens: int = PROFILED_TOKENS
    sequences: int = PROFILED_SEQUENCES

    @property
    def tensor_parallel_size(self) -> int:
        return self.configuration.gpu_count

    @property
    def precision(self) -> str:
        if self.quantization:
            return self.quantization
        return {"auto": "16-bit", "half": "float16", "float": "float32"}.get(self.dtype, self.dtype)


@dataclass(frozen=True)
class Overhead:
    """vLLM's runtime memory on each GPU, in the parts its start-up log names."""

    activation: int
    non_torch: int
    cuda_graphs: int

    @property
    def per_gpu(self) -> int:
        return self.activation + self.non_torch + self.cuda_graphs


@dataclass(frozen=True)
class MemoryEstimate:
    model: str
    plan: Plan
    size: ModelSize
    weights_bytes: int
    kv_cache_bytes: int
    overhead: Overhead
    available_bytes: int

    @property
    def overhead_bytes(self) -> int:
        return self.overhead.per_gpu * self.plan.tensor_parallel_size

    @property
    def needed_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.overhead_bytes

    @property
    def fits(self) -> bool:
        return self.needed_bytes <= self.available_bytes

    @property
    def unsure(self) -> bool:
        """Whether the verdict lies within the overhead's spread in the logs, either way."""
        spread = SPREAD_BYTES_PER_GPU * self.plan.tensor_parallel_size
        return abs(self.available_bytes - self.needed_bytes) < spread

    def doubt(self) -> str:
        """What the preview line adds where the verdict is close: the spread, and who decides."""
        if not self.unsure:
            return ""
        spread = gib(SPREAD_BYTES_PER_GPU * self.plan.tensor_parallel_size)
        return (f"; unsure: {gib(abs(self.available_bytes - self.needed_bytes))} GiB from the limit, "
                f"within the {spread} GiB that vLLM's own start-up figures have differed from this "
                "estimate by; vLLM's profile at start-up decides")

    def as_output(self) -> dict[str, object]:
        return {
            "instanceSpec": self.plan.configuration.name,
            "neededGiB": gib(self.needed_bytes),
            "availableGiB": gib(self.available_bytes),
            "weightsGiB": gib(self.weights_bytes),
            "kvCacheGiB": gib(self.kv_cache_bytes),
            "overheadGiB": gib(self.overhead_bytes),
            "overheadPerGpuGiB": {"activation": gib(self.overhead.activation),
                                  "nonTorch": gib(self.overhead.non_torch),
                                  "cudaGraphs": gib(self.overhead.cuda_graphs)},
            "unsure": self.unsure,
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
                f"{billions(self.size.parameters)} parameters from {self.size.parameters_source})"
                f"{self.doubt()}")


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


def overhead(size: ModelSize, plan: Plan) -> Overhead:
    """vLLM's runtime memory on each GPU for this model and plan (see the constants above)."""
    shape = size.shape
    tp = plan.tensor_parallel_size
    if shape is None or not (shape.hidden_size and shape.intermediate_size and shape.vocab_size):
        activation = UNKNOWN_ACTIVATION_BYTES
    else:
        widths = 2 * shape.intermediate_size + ACTIVATION_TENSORS_PER_TOKEN_HIDDEN * shape.hidden_size
        batch = plan.batched_tokens * widths * activation_bytes(plan.dtype) // tp
        sampler = plan.sequences * shape.vocab_size * 4 * SAMPLER_COPIES
        activation = batch + sampler + (ENCODER_ACTIVATION_BYTES if shape.multimodal else 0)
    non_torch = NON_TORCH_BYTES_PER_GPU + (NCCL_BYTES_PER_GPU if tp > 1 else 0)
    return Overhead(activation=activation, non_torch=non_torch, cuda_graphs=CUDA_GRAPH_BYTES_PER_GPU)


def estimate(model: str, size: ModelSize, plan: Plan) -> MemoryEstimate:
    return MemoryEstimate(
        model=model,
        plan=plan,
        size=size,
        weights_bytes=weights_bytes(size, plan),
        kv_cache_bytes=kv_bytes_per_token(size, plan) * plan.max_model_len,
        overhead=overhead(size, plan),
        available_bytes=available_bytes(plan),
    )


def tokens_that_fit(size: ModelSize, plan: Plan) -> int:
    """The longest `maxModelLen` whose KV cache fits next to the weights (0 if none does)."""
    left = (available_bytes(plan) - weights_bytes(size, plan)
            - overhead(size, plan).per_gpu * plan.tensor_parallel_size)
    return max(0, left // kv_bytes_per_token(size, plan))
