"""The server command baked into the image, and the entry point that runs it."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from components.model_settings import ModelSettings
from components.vllm_command import managed_args, serve_args, serve_args_json
from tests.program import ROOT
from tests.stack_config import parse_settings

VOLTA_IMAGE = "registry.yandexcloud.net/cn100000000000000000/vllm-volta:v0.8.5"


def settings_for(**raw: str) -> ModelSettings:
    base = {"model": "Qwen/Qwen2.5-7B-Instruct", "datasphereProjectId": "bt1project0000000000"}
    [model] = parse_settings(base | raw, stack="dev", cloud_id="b1gcloud000000000000").models
    return model


def flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def test_v100_pair_runs_half_precision_on_both_gpus() -> None:
    args = serve_args(settings_for(instanceSpec="g1.2", vllmImage=VOLTA_IMAGE))
    assert args == [
        "Qwen/Qwen2.5-7B-Instruct",
        "--served-model-name", "Qwen/Qwen2.5-7B-Instruct",
        "--host", "0.0.0.0",
        "--port", "8000",
        "--tensor-parallel-size", "2",
        "--dtype", "half",
        "--gpu-memory-utilization", "0.9",
    ]


def test_a100_keeps_auto_dtype_and_spans_all_gpus() -> None:
    args = serve_args(settings_for(instanceSpec="g2.4", maxModelLen="32768", servedModelName="qwen"))
    assert flag(args, "--tensor-parallel-size") == "4"
    assert flag(args, "--dtype") == "auto"
    assert flag(args, "--max-model-len") == "32768"
    assert flag(args, "--served-model-name") == "qwen"
    assert "--quantization" not in args


def test_a_t4_is_one_gpu_in_half_precision() -> None:
    args = serve_args(settings_for(instanceSpec="gt4.1", gpuMemoryUtilization="0.85"))
    assert flag(args, "--tensor-parallel-size") == "1"
    assert flag(args, "--gpu-memory-utilization") == "0.85"
    assert flag(args, "--dtype") == "half"


def test_quantized_model_gets_the_method_and_extra_args_come_last() -> None:
    args = serve_args(settings_for(
        model="Qwen/Qwen2.5-7B-Instruct-AWQ", quantization="awq", instanceSpec="gt4.1",
        extraVllmArgs='["--enable-prefix-caching", "--max-num-seqs", "64"]',
    ))
    assert args[0] == "Qwen/Qwen2.5-7B-Instruct-AWQ"
    assert flag(args, "--quantization") == "awq"
    assert args[-3:] == ["--enable-prefix-caching", "--max-num-seqs", "64"]


def test_build_argument_keeps_the_managed_and_the_extra_arguments_apart() -> None:
    settings = settings_for(quantization="fp8", extraVllmArgs='["--enable-prefix-caching"]')
    baked = json.loads(serve_args_json(settings))
    assert baked == {"managed": managed_args(settings), "extra": ["--enable-prefix-caching"]}
    assert baked["managed"] + baked["extra"] == serve_args(settings)


def load_entrypoint(monkeypatch: pytest.MonkeyPatch, args_file: Path) -> ModuleType:
    monkeypatch.setenv("VLLM_SERVE_ARGS_FILE", str(args_file))
    spec = importlib.util.spec_from_file_location("serve", ROOT / "docker" / "serve.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_entrypoint_execs_vllm_serve_with_the_baked_arguments(monkeypatch, tmp_path) -> None:
    args_file = tmp_path / "serve-args.json"
    args_file.write_text(serve_args_json(settings_for(instanceSpec="g2.2")))
    serve = load_entrypoint(monkeypatch, args_file)
    calls = []
    monkeypatch.setattr(serve.os, "execvp", lambda file, argv: calls.append((file, argv)))
    serve.main([])
    assert calls == [("vllm", ["vllm", "serve", *serve_args(settings_for(instanceSpec="g2.2"))])]


@pytest.mark.parametrize(("spec", "cpu", "free_mib", "logged"), [
    ("g2.1", False, 64, False),   # one GPU: vLLM runs in-process, no shared-memory queues
    ("g2.2", False, 64, True),    # two GPUs in Docker's default 64 MiB: vLLM would refuse to start
    ("g2.2", False, 1024, False),
    ("g2.1", True, 64, True),     # on CPU the multiprocess executor always runs
])
def test_entrypoint_says_in_the_log_when_shared_memory_is_too_small(
        monkeypatch, tmp_path, capsys, spec: str, cpu: bool, free_mib: int, logged: bool) -> None:
    args_file = tmp_path / "serve-args.json"
    args_file.write_text(serve_args_json(settings_for(instanceSpec=spec)))
    serve = load_entrypoint(monkeypatch, args_file)
    if cpu:
        monkeypatch.setenv("VLLM_TARGET_DEVICE", "cpu")
    else:
        monkeypatch.delenv("VLLM_TARGET_DEVICE", raising=False)
    monkeypatch.setattr(serve, "shm_free_bytes", lambda *_: free_mib * 2**20)
    remounts = []
    monkeypatch.setattr(serve, "enlarge_shm", lambda: remounts.append(True) and False)
    monkeypatch.setattr(serve.os, "execvp", lambda file, argv: None)
    serve.main([])
    err = capsys.readouterr().err
    assert (err != "") is logged
    assert bool(remounts) is logged, "the image tries to enlarge it first"
    if logged:
        assert err.startswith("vllm-datasphere: /dev/shm has 64 MiB free and could not be enlarged; vLLM's "
                              "multiprocess executor (tensor-parallel-size ")
        assert "--shm-size=1g" in err
        assert err.count("\n") == 1


def toy_parse(args: list[str]) -> argparse.Namespace:
    """A stand-in for vLLM's parser with its traits: `_` spellings, prefixes, a short alias, last one wins."""
    parser = argparse.ArgumentParser(prog="vllm", exit_on_error=True)
    parser.add_argument("model_tag")
    parser.add_argument("--tensor-parallel-size", "-tp", type=int, default=1)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--enable-prefix-caching", action="store_true")
    return parser.parse_args([a.replace("_", "-") if a.startswith("--") else a for a in args])


@pytest.mark.parametrize(("extra", "refusal"), [
    ([], None),
    (["--enable-prefix-caching"], None),
    (["-tp", "2"], "change what the stack manages: tensor_parallel_size 1 -> 2"),
    (["--tensor_parallel_size", "4"], "tensor_parallel_size 1 -> 4"),
    (["--tensor-parallel", "2"], "tensor_parallel_size 1 -> 2"),
    (["--dtype", "float32"], "dtype 'auto' -> 'float32'"),
    (["second/model"], "vLLM refuses the command `vllm serve org/model second/model`"),
])
def test_the_build_check_refuses_what_vllm_refuses_or_reads_as_a_managed_setting(
        monkeypatch, tmp_path, extra: list[str], refusal: str | None) -> None:
    serve = load_entrypoint(monkeypatch, tmp_path / "unused.json")
    if refusal is None:
        assert serve.check(["org/model"], extra, toy_parse) == ["org/model", *extra]
    else:
        with pytest.raises(SystemExit, match=re.escape(refusal)):
            serve.check(["org/model"], extra, toy_parse)


def test_the_build_check_needs_the_images_vllm(monkeypatch, tmp_path, capsys) -> None:
    args_file = tmp_path / "serve-args.json"
    args_file.write_text('{"managed": ["org/model", "--dtype", "half"], "extra": []}')
    serve = load_entrypoint(monkeypatch, args_file)
    monkeypatch.setattr(serve.os, "execvp", lambda *_: pytest.fail("must not exec on --check"))
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(SystemExit, match="--check needs the image's vLLM, which does not import"):
        serve.main(["--check"])


@pytest.mark.parametrize("content", ["", "not json", "[]", '["org/model"]', '{"managed": [], "extra": []}',
                                     '{"managed": ["ok", 3], "extra": []}', '{"managed": ["ok"]}'])
def test_entrypoint_refuses_a_broken_arguments_file(monkeypatch, tmp_path, content) -> None:
    args_file = tmp_path / "serve-args.json"
    args_file.write_text(content)
    serve = load_entrypoint(monkeypatch, args_file)
    with pytest.raises(SystemExit, match=r"vllm-datasphere: .*serve-args\.json"):
        serve.main([])


def test_entrypoint_reports_a_missing_file(monkeypatch, tmp_path) -> None:
    serve = load_entrypoint(monkeypatch, tmp_path / "absent.json")
    with pytest.raises(SystemExit, match="cannot read the server arguments"):
        serve.main([])
