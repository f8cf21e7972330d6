"""Facts about Yandex Cloud, DataSphere and vLLM that the stack depends on.

Each fact is stated once here, with its source, so that a change on the platform side
is a change to one table.
"""

from __future__ import annotations

from dataclasses import dataclass

# Source: DataSphere docs, datasphere/concepts/configurations.
V100 = "NVIDIA V100 32 GB"
A100 = "NVIDIA A100 80 GB"
A100_MIG = "NVIDIA A100 MIG 1g (1/8 of an A100)"


@dataclass(frozen=True)
class Configuration:
    """A DataSphere compute configuration (`instanceSpec`)."""

    name: str
    gpu: str | None
    gpu_count: int
    gpu_memory_gib: float
    compute_capability: tuple[int, int] | None

    @property
    def has_gpu(self) -> bool:
        return self.gpu is not None

    @property
    def supports_bfloat16(self) -> bool:
        # bfloat16 needs compute capability 8.0 (Ampere); V100 is 7.0.
        return self.compute_capability is not None and self.compute_capability >= (8, 0)

    def runs_quantization(self, method: str) -> bool:
        """Whether the GPU meets the method's minimum compute capability (an unknown method is not judged)."""
        needed = QUANTIZATION_MIN_CAPABILITY.get(method)
        return needed is None or (self.compute_capability is not None and self.compute_capability >= needed)


def _gpu(name: str, gpu: str, count: int, memory: float, cc: tuple[int, int]) -> Configuration:
    return Configuration(name, gpu, count, memory, cc)


def _cpu(name: str) -> Configuration:
    return Configuration(name, None, 0, 0.0, None)


# Source: DataSphere docs, datasphere/concepts/configurations.
CONFIGURATIONS: dict[str, Configuration] = {
    c.name: c
    for c in (
        _cpu("c1.4"),
        _cpu("c1.8"),
        _cpu("c1.32"),
        _cpu("c1.80"),
        _gpu("g1.1", V100, 1, 32, (7, 0)),
        _gpu("g1.2", V100, 2, 32, (7, 0)),
        _gpu("g1.4", V100, 4, 32, (7, 0)),
        _gpu("g2.mig", A100_MIG, 1, 10, (8, 0)),
        _gpu("g2.1", A100, 1, 80, (8, 0)),
        _gpu("g2.2", A100, 2, 80, (8, 0)),
        _gpu("g2.4", A100, 4, 80, (8, 0)),
        _gpu("g2.8", A100, 8, 80, (8, 0)),
    )
}

GPU_CONFIGURATIONS: tuple[str, ...] = tuple(n for n, c in CONFIGURATIONS.items() if c.has_gpu)

# Source: Yandex Cloud docs, overview/concepts/geo-scope (ru-central1-c is retired).
ZONES: tuple[str, ...] = ("ru-central1-a", "ru-central1-b", "ru-central1-d")

# Source: Cloud Registry docs and cloudapi yandex/cloud/cloudregistry/v1 (docs/cloud-registry-api.md).
# Images live at registry.yandexcloud.net/<registryId>/<image>; a service-account API key logs in as
# user `api_key`, and its scopes limit it to pushing or pulling.
REGISTRY_HOST = "registry.yandexcloud.net"
REGISTRY_USERNAME = "api_key"
IMAGE_REPOSITORY = "vllm"
REGISTRY_KIND = "DOCKER"
REGISTRY_TYPE = "LOCAL"
# Registry types an image can be pushed to: a local one, or one migrated from Container Registry.
PUSHABLE_REGISTRY_TYPES: tuple[str, ...] = ("LOCAL", "TRANSITIONAL")
SCOPE_PUSH = "yc.cloud-registry.artifacts.push"
SCOPE_PULL = "yc.cloud-registry.artifacts.pull"

# Source: Container Registry docs, container-registry/sunset.md: read-only from 2026-11-10 (no new
# registries, no pushes), switched off on 2026-12-14. Only refused, never used.
RETIRED_REGISTRY_HOST = "cr.yandex"

# Source: Cloud Registry and VPC docs, security/index (roles); see docs/cloud-registry-api.md.
ROLE_REGISTRY_PULLER = "cloud-registry.artifacts.puller"
ROLE_REGISTRY_PUSHER = "cloud-registry.artifacts.pusher"
ROLE_VPC_USER = "vpc.user"
ROLE_VPC_GATEWAYS_USER = "vpc.gateways.user"
# Calls a node through node-api; granted on the project, nothing wider.
ROLE_DATASPHERE_DEVELOPER = "datasphere.community-projects.developer"

# Source: vLLM docs, the OpenAI-compatible server listens on 8000 in `vllm/vllm-openai`.
VLLM_PORT = 8000
OFFICIAL_VLLM_REPOSITORY = "vllm/vllm-openai"
DEFAULT_VLLM_IMAGE = f"{OFFICIAL_VLLM_REPOSITORY}:v0.33.0"

# What a node pulls for the base vLLM image: its compressed size, as a registry sends it. Not measured
# here for v0.33.0 (no Docker engine on the machines this project is built on). Sources:
# vllm-project/vllm issue 27154 (2025-10: vllm/vllm-openai:latest "around 12 GB" to pull) and the
# vLLM forum thread it links, "Current vLLM docker image size is 12.64GB"; pull request 22377 (2025-12)
# gives 28.6 GB for the same image unpacked. Safetensors weights hardly compress: a layer of them is
# about their own size.
VLLM_IMAGE_PULL_BYTES = 12.64e9
# Where the weights stage puts the model in the image (docker/Dockerfile), and vLLM serves it from.
IMAGE_WEIGHTS_DIR = "/opt/vllm-datasphere/model"

# Official images from v0.9.0 on ship PyTorch builds for CUDA 12.8 and later, which have no
# sm_70 (Volta) kernels, so they cannot run on V100. Sources: vllm-project/vllm issue 18818
# (v0.9.0 image, PyTorch 2.7.0+cu128 without sm70) and pull request 39878 (default CUDA 13.0).
FIRST_OFFICIAL_RELEASE_WITHOUT_VOLTA: tuple[int, int, int] = (0, 9, 0)

# Source: vLLM v0.33.0, vllm/config/model.py (ModelDType).
DTYPES: tuple[str, ...] = ("auto", "half", "float16", "bfloat16", "float", "float32")
# No quantization method of vLLM v0.33.0 lists float32 in get_supported_act_dtypes().
FLOAT32_DTYPES: frozenset[str] = frozenset({"float", "float32"})

# Minimum compute capability of each quantization method, as (major, minor).
# Source: vLLM v0.33.0, vllm/model_executor/layers/quantization/*: get_min_capability().
QUANTIZATION_MIN_CAPABILITY: dict[str, tuple[int, int]] = {
    "awq": (7, 5),
    "awq_marlin": (7, 5),
    "gptq": (6, 0),
    "gptq_marlin": (6, 0),
    "fp8": (7, 5),
    "compressed-tensors": (7, 0),
    "moe_wna16": (7, 0),
    "experts_int8": (8, 0),
}

# Methods that only load a checkpoint quantized with them; the others (fp8, experts_int8)
# quantize an unquantized checkpoint while it loads.
# Source: vLLM v0.33.0 docs, features/quantization (supported hardware and "online" methods).
CHECKPOINT_QUANTIZATIONS: frozenset[str] = frozenset(
    {"awq", "awq_marlin", "gptq", "gptq_marlin", "compressed-tensors", "moe_wna16"})
