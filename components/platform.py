"""Facts about Yandex Cloud, DataSphere and vLLM that the stack depends on.

Each fact is stated once here, with its source, so that a change on the platform side
is a change to one table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gpu:
    """One GPU model as a DataSphere configuration has it."""

    name: str
    # Total memory as vLLM (PyTorch) reports it at start-up, in GiB: less than the nominal size.
    usable_gib: float
    compute_capability: tuple[int, int]


# Usable memory: what vLLM logged as the card's total (docs/vllm-memory.md has the log lines), or,
# where no log exists, the nominal size less the margin a logged card of the same memory kind shows.
# Compute capability: NVIDIA's CUDA GPUs table.
A100_80 = Gpu("NVIDIA A100 80 GB", 79.2, (8, 0))  # logged: 79.22 GiB
# g2.8 has "320 to 640 GB" in all (DataSphere docs): 40 GB cards are possible, so they are assumed.
A100_40 = Gpu("NVIDIA A100 40 GB", 39.38, (8, 0))  # logged: 39.38 GiB
# 32 GB nominal; HBM2 like the A100, whose reported total is 99% of nominal.
V100 = Gpu("NVIDIA V100 32 GB", 31.7, (7, 0))
T4 = Gpu("NVIDIA T4 16 GB", 14.56, (7, 5))  # logged: 14.56 GiB
# The docs name no chip for T4i: "tensor cores and 24 GB of GDDR6 at 300 GB/s" (compute/concepts/gpus,
# #t4i). Its memory is taken as the T4's share of nominal (GDDR6 too): 24 x 14.56 / 16 = 21.8 GiB, and
# its compute capability as the T4's 7.5, so no bfloat16 is assumed. Those figures match an NVIDIA L4
# (8.9, about 22 GiB usable); should it be one, the stack only refuses what an L4 would run.
T4I = Gpu("NVIDIA T4i 24 GB", 21.8, (7, 5))


@dataclass(frozen=True)
class Configuration:
    """A DataSphere compute configuration (`instanceSpec`) and what it costs."""

    name: str
    gpu: Gpu | None
    gpu_count: int
    # Billing units a second of one running instance (a unit: one CPU core for one second).
    units_per_second: int

    @property
    def has_gpu(self) -> bool:
        return self.gpu is not None

    @property
    def gpu_name(self) -> str:
        return self.gpu.name if self.gpu else "no GPU"

    @property
    def gpu_memory_gib(self) -> float:
        return self.gpu.usable_gib if self.gpu else 0.0

    @property
    def compute_capability(self) -> tuple[int, int] | None:
        return self.gpu.compute_capability if self.gpu else None

    @property
    def supports_bfloat16(self) -> bool:
        # bfloat16 needs compute capability 8.0 (Ampere); V100 is 7.0 and T4 7.5.
        return self.compute_capability is not None and self.compute_capability >= (8, 0)

    def runs_quantization(self, method: str) -> bool:
        """Whether the GPU meets the method's minimum compute capability (an unknown method is not judged)."""
        needed = QUANTIZATION_MIN_CAPABILITY.get(method)
        return needed is None or (self.compute_capability is not None and self.compute_capability >= needed)

    def describe(self) -> str:
        """`1 x NVIDIA T4 16 GB`."""
        return f"{self.gpu_count} x {self.gpu_name}" if self.gpu else "CPU only"


# Sources: DataSphere docs, datasphere/concepts/configurations (the names, GPUs and their memory, from
# _includes/datasphere/migration/configurations.md) and datasphere/pricing (units a second, from
# _includes/datasphere/migration/pricing.md). c1.32, g1.4, g2.1, g2.2, g2.4, gt4.1 and gt4i.1 are open
# after a top-up of 500 RUB or on request to support; c1.80 and g2.8 to legal entities on request.
CONFIGURATIONS: dict[str, Configuration] = {
    c.name: c
    for c in (
        Configuration("c1.4", None, 0, 4),
        Configuration("c1.8", None, 0, 8),
        Configuration("c1.32", None, 0, 32),
        Configuration("c1.80", None, 0, 80),
        Configuration("gt4.1", T4, 1, 36),
        Configuration("gt4i.1", T4I, 1, 50),
        Configuration("g1.1", V100, 1, 72),
        Configuration("g1.2", V100, 2, 144),
        Configuration("g1.4", V100, 4, 288),
        Configuration("g2.1", A100_80, 1, 116),
        Configuration("g2.2", A100_80, 2, 232),
        Configuration("g2.4", A100_80, 4, 464),
        Configuration("g2.8", A100_40, 8, 928),
    )
}

GPU_CONFIGURATIONS: tuple[str, ...] = tuple(n for n, c in CONFIGURATIONS.items() if c.has_gpu)
# What `instanceSpec` takes besides a configuration: the cheapest one where the model fits.
AUTO_INSTANCE_SPEC = "auto"
DEFAULT_INSTANCE_SPEC = "g2.1"


@dataclass(frozen=True)
class Retired:
    """A configuration the docs no longer list: why, and the nearest current one."""

    reason: str
    instead: str


# Source: DataSphere docs, datasphere/release-notes: g2.mig (1/8 of an A100, about 10 GB, 18 units a
# second) retired on 2023-12-20. gt4.1 is the nearest current configuration in price and memory.
RETIRED_CONFIGURATIONS: dict[str, Retired] = {
    "g2.mig": Retired("was retired on 2023-12-20 (DataSphere release notes): 1/8 of an A100 (about 10 GB) is "
                      "no longer offered", "gt4.1"),
}

# Source: Yandex Cloud docs, _pricing/datasphere/rub-unit.md (newest version): one billing unit costs
# 0.0013176 RUB with VAT (earlier versions: 0.0012, 0.001296); prices are per second of each instance,
# from its start to its deletion (datasphere/pricing, "Эксплуатация моделей"). Months are 720 hours, as
# in the docs' price tables.
RUB_PER_UNIT = 0.0013176
HOURS_PER_MONTH = 720

# Source: Yandex Cloud docs, overview/concepts/geo-scope (ru-central1-c is retired).
ZONES: tuple[str, ...] = ("ru-central1-a", "ru-central1-b", "ru-central1-d")

# Source: Cloud Registry docs and cloudapi yandex/cloud/cloudregistry/v1 (docs/cloud-registry-api.md).
# Images live at registry.yandexcloud.net/<registryId>/<image>; a service-account API key logs in as
# user `api_key`, and its scopes limit it to pushing or pulling.
REGISTRY_HOST = "registry.yandexcloud.net"
REGISTRY_USERNAME = "api_key"
# How a DataSphere node logs in to the registry (nodeRegistryLogin): the username, and what the project
# secret holds. Which of the two a node uses against Cloud Registry is documented nowhere: DataSphere's
# docs (datasphere/operations/deploy/node-create) describe Container Registry with `json_key` and an
# authorized key JSON; Cloud Registry's Docker login lists `iam` and `api_key` (docs/cloud-registry-api.md).
NODE_REGISTRY_LOGINS: dict[str, str] = {
    "api_key": "the secret of an API key scoped to pulling only",
    "json_key": "the authorized key JSON of a service account that may only pull",
}
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
