"""The `vllm serve` arguments baked into the image.

A DataSphere node cannot pass container arguments, so everything the server needs is
decided here at build time and written into the image (see docker/serve.py).
"""

from __future__ import annotations

import json

from components import platform
from components.model_settings import ModelSettings


def managed_args(settings: ModelSettings) -> list[str]:
    """The arguments the stack sets, in a stable order so that the image only changes with them.

    The model is its Hub id at the pinned commit (tokenizer too), or with weights in the image the
    folder they were baked into, which holds that commit's files and needs no revision."""
    baked = settings.weights == "image"
    args = [
        platform.IMAGE_WEIGHTS_DIR if baked else settings.model,
        "--served-model-name", settings.served_model_name,
        "--host", "0.0.0.0",
        "--port", str(platform.VLLM_PORT),
        "--tensor-parallel-size", str(settings.tensor_parallel_size),
        "--dtype", settings.dtype,
        "--gpu-memory-utilization", f"{settings.gpu_memory_utilization:g}",
    ]
    if settings.model_revision is not None and not baked:
        args += ["--revision", settings.model_revision, "--tokenizer-revision", settings.model_revision]
    if settings.quantization is not None:
        args += ["--quantization", settings.quantization]
    if settings.max_model_len:
        args += ["--max-model-len", str(settings.max_model_len)]
    return args


def serve_args(settings: ModelSettings) -> list[str]:
    """The arguments after `vllm serve`: the stack's, then the user's `extraVllmArgs`."""
    return managed_args(settings) + list(settings.extra_vllm_args)


def serve_args_json(settings: ModelSettings) -> str:
    """The build argument the Dockerfile writes to the image, kept in two parts so that the build's
    check (docker/serve.py) can tell whether the extra flags change what the stack manages."""
    return json.dumps({"managed": managed_args(settings), "extra": list(settings.extra_vllm_args)},
                      separators=(",", ":"))
