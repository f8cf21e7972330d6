"""The image tier: the project's docker/Dockerfile built for real with BuildKit, on the CPU stand-in for
the vLLM base image, and its container started as a DataSphere node starts it (no arguments).

`scripts/test.sh` starts the engine (scripts/docker-engine.sh) and makes the base image
(scripts/cpu-base-image.sh), and passes them in VLLM_DATASPHERE_DOCKER_HOST and VLLM_DATASPHERE_CPU_BASE;
where it could not, VLLM_DATASPHERE_NO_ENGINE says why. The tier's tests then skip with that reason, and
fail under CI (CI=true), where the engine must run.

The build arguments are the stack's own (components/image.py) for a tiny model that a fake Hub on
127.0.0.1 serves, gated, so that the token must reach the weights stage. What differs from a node, all
here: the server listens on 127.0.0.1 and a free port instead of 0.0.0.0:8000 (tests talk to loopback
only, and the container shares the host's network), and vLLM runs on the CPU (the base image's
environment says so).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from math import prod
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from components.image import TOKEN_SECRET_ID, build_args
from components.model_settings import ModelSettings
from tests.fake_hub import GRANTED_TOKEN, fake_hub
from tests.program import ROOT
from tests.real_vllm import SERVED, free_port, make_tiny_model, models_answer, on_loopback_port
from tests.real_vllm import unavailable as real_vllm_unavailable
from tests.stack_config import parse_settings

# The engine package's own 20.10 client: a newer docker client elsewhere on PATH wants the buildx plugin.
DOCKER = "/usr/bin/docker"
TINY = "tiny-org/tiny-llama"
TINY_COMMIT = "0123456789abcdef0123456789abcdef01234567"
START_SECONDS = 300


def unavailable() -> str | None:
    """Why the tier cannot run here, or None. The tiny model is made with the real-vLLM tier's Python."""
    if (reason := real_vllm_unavailable()) is not None:
        return reason
    if os.environ.get("VLLM_DATASPHERE_DOCKER_HOST") and os.environ.get("VLLM_DATASPHERE_CPU_BASE"):
        return None
    return (os.environ.get("VLLM_DATASPHERE_NO_ENGINE")
            or "image tier skipped: no Docker engine and CPU base image (run the tests with scripts/test.sh)")


def require() -> None:
    """Skip with the reason, or under CI fail: there the engine must run."""
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the image tier must run in CI: {reason}")
    pytest.skip(reason)


def base_image() -> str:
    return os.environ["VLLM_DATASPHERE_CPU_BASE"]


def docker(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": os.environ["VLLM_DATASPHERE_DOCKER_HOST"], "DOCKER_BUILDKIT": "1"}
    done = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout, env=env,
                          check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:2])} failed: {done.stderr[-3000:]}")
    return done


def safetensors_parameters(path: Path) -> dict[str, int]:
    """Parameter counts by dtype, from a safetensors file's header, as the Hub reports them."""
    with path.open("rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(length))
    counts: dict[str, int] = {}
    for name, tensor in header.items():
        if name != "__metadata__":
            counts[tensor["dtype"]] = counts.get(tensor["dtype"], 0) + prod(tensor["shape"])
    return counts


def tiny_hub_model(directory: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The tiny model as the fake Hub serves it, gated: its record and its files."""
    folder = make_tiny_model(directory)
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != "config.json"}
    counts = safetensors_parameters(folder / "model.safetensors")
    record = {"config": json.loads((folder / "config.json").read_text()), "gated": True,
              "safetensors": {"parameters": counts, "total": sum(counts.values())}, "sha": TINY_COMMIT}
    return record, files


@contextmanager
def tiny_hub(directory: Path) -> Iterator[str]:
    record, files = tiny_hub_model(directory)
    with fake_hub([], {TINY: files}, {TINY: record}) as (url, _):
        yield url


def tiny_model(**config: str) -> ModelSettings:
    """The stack's settings of the tiny model on the CPU base image, `weights: image` unless told."""
    raw = {"model": TINY, "servedModelName": SERVED, "maxModelLen": "512", "modelRevision": TINY_COMMIT,
           "weights": "image", "vllmImage": base_image(), "datasphereProjectId": "bt1project0000000000",
           **config}
    [model] = parse_settings(raw, stack="dev", cloud_id="b1gcloud000000000000").models
    return model


def on_loopback(args: dict[str, str], port: int) -> dict[str, str]:
    """The stack's build arguments, the server moved to 127.0.0.1 and `port` (the one change)."""
    serve = json.loads(args["VLLM_SERVE_ARGS"])
    serve["managed"] = on_loopback_port(serve["managed"], port)
    return {**args, "VLLM_SERVE_ARGS": json.dumps(serve, separators=(",", ":"))}


def stack_build_args(model: ModelSettings, hub_url: str, port: int) -> dict[str, str]:
    """components/image.py's arguments, read with the fake Hub as the deployer's HF_ENDPOINT."""
    with mock.patch.dict(os.environ, {"HF_ENDPOINT": hub_url}):
        return on_loopback(build_args(model), port)


def build(args: dict[str, str], tag: str, token_file: Path | None, *, cached: bool = True
          ) -> subprocess.CompletedProcess[str]:
    """`docker build` of docker/ as the stack builds it: BuildKit, the token as the weights stage's secret,
    the host's network (the fake Hub is on its loopback). A secret is not part of BuildKit's cache key:
    `cached=False` runs every step again."""
    command = ["build", "--network", "host", "--progress", "plain", "-t", tag, "-f",
               str(ROOT / "docker" / "Dockerfile"), *([] if cached else ["--no-cache"])]
    for key, value in args.items():
        command += ["--build-arg", f"{key}={value}"]
    if token_file is not None:
        command += ["--secret", f"id={TOKEN_SECRET_ID},src={token_file}"]
    return docker(*command, str(ROOT / "docker"), timeout=1200, check=False)


def token_file(directory: Path) -> Path:
    path = directory / "hf_token"
    path.write_text(GRANTED_TOKEN)
    return path


@contextmanager
def container(image: str, shm_size: str | None = "1g") -> Iterator[str]:
    """The image started with no arguments, as a node starts it; always removed. `shm_size` None keeps
    Docker's default /dev/shm (64 MiB)."""
    name = f"vllm-datasphere-test-{uuid.uuid4().hex[:8]}"
    options = ["--shm-size", shm_size] if shm_size else []
    docker("run", "-d", "--name", name, "--network", "host", *options, image)
    try:
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def logs(name: str) -> str:
    done = docker("logs", name, check=False)
    return done.stdout + done.stderr


def wait_serving(name: str, base_url: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while models_answer(base_url) != 200:
        state = docker("inspect", "-f", "{{.State.Running}}", name, check=False).stdout.strip()
        if state != "true" or time.monotonic() > deadline:
            raise AssertionError(f"the container did not serve: {logs(name)[-3000:]}")
        time.sleep(1)


@contextmanager
def serving_container(workdir: Path) -> Iterator[str]:
    """The tiny model's image (weights baked in) serving on loopback; its base URL."""
    port = free_port()
    with tiny_hub(workdir / "hub") as hub_url:
        done = build(stack_build_args(tiny_model(), hub_url, port), f"vllm-datasphere-test/serving:{port}",
                     token_file(workdir))
    assert done.returncode == 0, done.stderr[-3000:]
    base_url = f"http://127.0.0.1:{port}/v1"
    with container(f"vllm-datasphere-test/serving:{port}") as name:
        wait_serving(name, base_url)
        yield base_url
