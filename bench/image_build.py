"""The project's image on this machine: what each weights mode adds to the base, how long builds and a
start take. Real builds with BuildKit on the CPU stand-in for the vLLM image and a tiny model (so the
weights layer is a few MB here, where a 7B model's is about 15 GB: bench/node_start_bytes.py).

Needs the image tier's engine and base image, as scripts/test.sh makes them:
    export VLLM_DATASPHERE_DOCKER_HOST=$(bash scripts/docker-engine.sh start | tail -n 1)
    export VLLM_DATASPHERE_CPU_BASE=$(DOCKER_HOST=$VLLM_DATASPHERE_DOCKER_HOST \
        bash scripts/cpu-base-image.sh | tail -n 1)
    .venv/bin/python -m bench.image_build
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from tests.image_tier import (
    base_image,
    build,
    container,
    docker,
    stack_build_args,
    tiny_hub,
    tiny_model,
    token_file,
    unavailable,
    wait_serving,
)
from tests.real_vllm import free_port


def layer_sizes(tag: str) -> list[tuple[str, int]]:
    """(instruction, bytes) of each layer-making step, newest first."""
    lines = docker("history", "--no-trunc", "--human=false", "--format", "{{.CreatedBy}}\t{{.Size}}",
                   tag).stdout.splitlines()
    return [(created, int(size)) for created, size in (line.rsplit("\t", 1) for line in lines)]


def image_bytes(tag: str) -> int:
    return int(json.loads(docker("image", "inspect", "-f", "{{json .Size}}", tag).stdout))


def timed_build(args: dict[str, str], tag: str, token: Path | None) -> float:
    started = time.monotonic()
    done = build(args, tag, token)
    if done.returncode != 0:
        raise SystemExit(f"the build of {tag} failed: {done.stderr[-2000:]}")
    return time.monotonic() - started


def main() -> None:
    reason = unavailable()
    if reason is not None:
        raise SystemExit(reason)
    base = image_bytes(base_image())
    print(f"base {base_image()}: {base / 1e9:.2f} GB")
    with tempfile.TemporaryDirectory() as scratch, tiny_hub(Path(scratch) / "hub") as hub_url:
        token = token_file(Path(scratch))
        port = free_port()
        for weights in ("hub", "image"):
            tag = f"vllm-datasphere-bench/{weights}:1"
            docker("rmi", "-f", tag, check=False)
            docker("builder", "prune", "-f", check=False)
            seconds = timed_build(stack_build_args(tiny_model(weights=weights), hub_url, port), tag, token)
            added = image_bytes(tag) - base
            steps = [(created, size) for created, size in layer_sizes(tag) if size]
            print(f"weights {weights}: built in {seconds:.0f} s with an empty build cache; "
                  f"{added / 1e3:,.1f} kB over the base:")
            for created, size in steps[:-1]:
                print(f"  {size / 1e3:10,.1f} kB  {' '.join(created.split())[:90]}")
        flags = tiny_model(extraVllmArgs='["--enable-prefix-caching"]')
        seconds = timed_build(stack_build_args(flags, hub_url, port), "vllm-datasphere-bench/image:2", token)
        [(created, size), *_] = [(c, s) for c, s in layer_sizes("vllm-datasphere-bench/image:2") if s]
        print(f"a change of flags: rebuilt in {seconds:.0f} s; the one new layer is {size / 1e3:.1f} kB")
        started = time.monotonic()
        with container("vllm-datasphere-bench/image:1") as name:
            wait_serving(name, f"http://127.0.0.1:{port}/v1")
            print(f"start: /v1/models answered {time.monotonic() - started:.0f} s after `docker run` (vLLM "
                  "on 2 CPU cores, a tiny model; a GPU node pulls the image and loads real weights first)")


if __name__ == "__main__":
    sys.exit(main())
