"""The project's Dockerfile built for real (BuildKit, the stack's build arguments) and its container
run as a DataSphere node runs it (tests/image_tier.py). Skipped with the reason where no engine runs,
and failed instead under CI."""

from __future__ import annotations

import json
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.image import build_args
from tests.fake_hub import GRANTED_TOKEN
from tests.image_tier import (
    base_image,
    build,
    container,
    docker,
    logs,
    on_loopback,
    require,
    stack_build_args,
    tiny_hub,
    tiny_model,
    token_file,
    wait_serving,
)
from tests.real_vllm import SERVED, free_port

pytestmark = pytest.mark.usefixtures("image_tier")


@pytest.fixture(scope="module")
def image_tier() -> None:
    require()


@dataclass(frozen=True)
class Built:
    tag: str
    port: int
    args: dict[str, str]
    output: str


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("image")


@pytest.fixture(scope="module")
def hub_url(workdir: Path) -> Iterator[str]:
    require()
    with tiny_hub(workdir / "hub") as url:
        yield url


@pytest.fixture(scope="module")
def baked(workdir: Path, hub_url: str) -> Built:
    """`weights: image`: the tiny model's weights downloaded from the fake Hub with the token as a secret."""
    port = free_port()
    args = stack_build_args(tiny_model(), hub_url, port)
    done = build(args, "vllm-datasphere-test/baked:1", token_file(workdir))
    assert done.returncode == 0, done.stderr[-3000:]
    return Built("vllm-datasphere-test/baked:1", port, args, done.stdout + done.stderr)


def layers(tag: str) -> list[str]:
    return json.loads(docker("inspect", "-f", "{{json .RootFS.Layers}}", tag).stdout)


def file_in(tag: str, path: str) -> str:
    return docker("run", "--rm", "--network", "none", "--entrypoint", "cat", tag, path).stdout


def test_the_build_arguments_are_the_stacks_own(baked: Built, hub_url: str) -> None:
    stack = build_args(tiny_model())
    assert set(baked.args) == {*stack, "HUB_ENDPOINT"}
    assert baked.args["HUB_ENDPOINT"] == hub_url
    assert {k: v for k, v in baked.args.items() if k not in ("VLLM_SERVE_ARGS", "HUB_ENDPOINT")} == \
        {k: v for k, v in stack.items() if k != "VLLM_SERVE_ARGS"}
    assert on_loopback(stack, baked.port) == {k: v for k, v in baked.args.items() if k != "HUB_ENDPOINT"}


def test_the_weights_are_baked_at_the_pinned_commit_and_the_command_serves_them(baked: Built) -> None:
    listing = docker("run", "--rm", "--network", "none", "--entrypoint", "ls", baked.tag,
                     "/opt/vllm-datasphere/model").stdout.split()
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(listing)
    serve = json.loads(file_in(baked.tag, "/etc/vllm-datasphere/serve-args.json"))
    assert serve["managed"][:3] == ["/opt/vllm-datasphere/model", "--served-model-name", SERVED]
    environment = docker("inspect", "-f", "{{json .Config.Env}}", baked.tag).stdout
    assert "HF_HUB_OFFLINE=1" in environment


def test_the_container_serves_started_with_no_arguments(baked: Built) -> None:
    entrypoint = json.loads(docker("inspect", "-f", "{{json .Config.Entrypoint}}", baked.tag).stdout)
    assert entrypoint == ["python3", "/usr/local/bin/vllm-datasphere-serve"]
    base_url = f"http://127.0.0.1:{baked.port}/v1"
    with container(baked.tag) as name:
        wait_serving(name, base_url)
        done = subprocess.run(["curl", "-sf", f"{base_url}/models"], capture_output=True, text=True,
                              check=False, timeout=30)
    served = [entry["id"] for entry in json.loads(done.stdout)["data"]]
    assert served == [SERVED]


def test_the_token_is_in_no_layer_history_or_label(baked: Built, workdir: Path) -> None:
    history = docker("history", "--no-trunc", baked.tag).stdout
    inspected = docker("inspect", baked.tag).stdout
    saved = workdir / "saved.tar"
    docker("save", "-o", str(saved), baked.tag)
    with tarfile.open(saved) as archive:
        members = [archive.extractfile(m) for m in archive.getmembers() if m.isfile()]
        contents = [m.read() for m in members if m is not None]
    # Every layer's tar and the image's config, searched byte for byte.
    assert len(contents) >= len(layers(baked.tag))
    token = GRANTED_TOKEN.encode()
    assert not [c for c in contents if token in c]
    assert GRANTED_TOKEN not in history + inspected + baked.output


def test_without_the_token_the_gated_model_does_not_build(workdir: Path, hub_url: str) -> None:
    args = stack_build_args(tiny_model(), hub_url, free_port())
    done = build(args, "vllm-datasphere-test/no-token:1", None, cached=False)
    assert done.returncode != 0
    assert "is gated and the build's token has no access to it" in done.stderr


def test_a_change_of_flags_rebuilds_only_the_top_layer(baked: Built, hub_url: str, workdir: Path) -> None:
    model = tiny_model(extraVllmArgs='["--enable-prefix-caching"]')
    args = stack_build_args(model, hub_url, baked.port)
    done = build(args, "vllm-datasphere-test/baked:2", token_file(workdir))
    assert done.returncode == 0, done.stderr[-3000:]
    before, after = layers(baked.tag), layers("vllm-datasphere-test/baked:2")
    assert len(before) == len(after)
    assert before[:-1] == after[:-1], "the weights and everything under them are the same layers"
    assert before[-1] != after[-1]
    assert flags_layer_bytes("vllm-datasphere-test/baked:2") < 1_000_000


def flags_layer_bytes(tag: str) -> int:
    """The size of the layer that writes the server's arguments (the Dockerfile's last RUN)."""
    history = docker("history", "--no-trunc", "--human=false", "--format", "{{.CreatedBy}}\t{{.Size}}",
                     tag).stdout.splitlines()
    [size] = [line.rsplit("\t", 1)[1] for line in history if "serve-args.json" in line]
    return int(size)


def test_a_bad_extra_flag_fails_the_build_with_vllms_parser(hub_url: str, workdir: Path) -> None:
    model = tiny_model(weights="hub", extraVllmArgs='["--enable-prefix-cache"]')
    done = build(stack_build_args(model, hub_url, free_port()), "vllm-datasphere-test/bad:1", None)
    assert done.returncode != 0
    assert "vllm-datasphere: vLLM refuses the command `vllm serve tiny-org/tiny-llama" in done.stderr


def test_weights_from_the_hub_build_without_a_weights_stage(hub_url: str) -> None:
    model = tiny_model(weights="hub")
    args = stack_build_args(model, hub_url, free_port())
    assert "MODEL_ID" not in args
    done = build(args, "vllm-datasphere-test/hub:1", None)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(layers("vllm-datasphere-test/hub:1")) == len(layers(base_image())) + 2
    serve = json.loads(file_in("vllm-datasphere-test/hub:1", "/etc/vllm-datasphere/serve-args.json"))
    assert serve["managed"][0] == "tiny-org/tiny-llama"


def test_dockers_default_shared_memory_is_named_in_the_log(baked: Built) -> None:
    with container(baked.tag, shm_size=None) as name:
        done = docker("wait", name, timeout=300)
        output = logs(name)
    assert done.stdout.strip() != "0", "vLLM cannot start its multiprocess executor in 64 MiB"
    assert ("vllm-datasphere: /dev/shm has 64 MiB free and could not be enlarged; vLLM's multiprocess "
            "executor (tensor-parallel-size 1) needs about 400 MiB there") in output
