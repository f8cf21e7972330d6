"""The image build's weights download (docker/fetch_weights.py), run as the Dockerfile runs it, against
the fake Hub on 127.0.0.1: which files it takes, the commit it insists on, and the token it reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_hub import GRANTED_TOKEN, fake_hub
from tests.program import ROOT

QWEN = "Qwen/Qwen2.5-7B-Instruct"
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
SCRIPT = ROOT / "docker" / "fetch_weights.py"
TAKEN = {
    "model-00001-of-00002.safetensors": b"\x01" * 4096, "model-00002-of-00002.safetensors": b"\x02" * 2048,
    "model.safetensors.index.json": b'{"weight_map": {}}', "generation_config.json": b"{}",
    "tokenizer.json": b"{}", "tokenizer_config.json": b"{}", "special_tokens_map.json": b"{}",
}
LEFT = {
    "pytorch_model-00001-of-00002.bin": b"bin", "consolidated.pth": b"pth",
    "original/consolidated.00.pth": b"p",
    "original/tokenizer.model": b"t", "onnx/model.safetensors": b"onnx", "model.gguf": b"gguf",
    "README.md": b"# card", ".gitattributes": b"*.bin lfs",
}
# The environments whose huggingface_hub runs the script: this project's, and the real vLLM tier's.
PYTHONS = [sys.executable] + [str(p) for p in [ROOT / ".venv-vllm" / "bin" / "python"] if p.exists()]


def fetch(url: str, tmp_path: Path, model: str, commit: str, token: str | None = None,
          python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    token_file = tmp_path / "secret"
    if token is not None:
        token_file.write_text(token + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env |= {"HF_ENDPOINT": url, "HF_HOME": str(tmp_path / "hf-home")}
    return subprocess.run([python, str(SCRIPT), model, commit, str(tmp_path / "weights"),
                           "--token-file", str(token_file)],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("python", PYTHONS)
def test_only_the_files_vllm_loads_are_taken_at_the_pinned_commit(tmp_path: Path, python: str) -> None:
    with fake_hub([QWEN], {QWEN: TAKEN | LEFT}) as (url, hub):
        commit = hub.models[QWEN]["sha"]
        done = fetch(url, tmp_path, QWEN, commit, python=python)
        downloads = {path for path, _ in hub.requests if "/resolve/" in path}
    assert done.returncode == 0, done.stderr[-2000:]
    folder = tmp_path / "weights"
    kept = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert kept == sorted([*TAKEN, "config.json"])
    assert all((folder / name).read_bytes() == content for name, content in TAKEN.items())
    assert {path.rsplit("/", 1)[-1] for path in downloads} <= {*TAKEN, "config.json"}
    assert all(f"/resolve/{commit}/" in path for path in downloads)
    assert done.stdout.strip().startswith(
        f"vllm-datasphere: {QWEN} at {commit}: 8 files, 0.00 GB: config.json")


def test_a_commit_the_hub_does_not_have_is_refused(tmp_path: Path) -> None:
    with fake_hub([QWEN], {QWEN: TAKEN}) as (url, _):
        done = fetch(url, tmp_path, QWEN, "0" * 40)
    assert done.returncode == 1
    assert done.stderr.strip().endswith(f"vllm-datasphere: {QWEN} has no commit {'0' * 40} on Hugging Face")
    assert not (tmp_path / "weights").exists()


@pytest.mark.parametrize("commit", ["main", "v1.0", "24668f3"])
def test_only_a_full_commit_id_is_taken(tmp_path: Path, commit: str) -> None:
    done = fetch("http://127.0.0.1:9", tmp_path, QWEN, commit)
    assert done.returncode == 1
    assert "must be a full commit id (40 hex characters)" in done.stderr


def test_a_repository_without_safetensors_is_refused(tmp_path: Path) -> None:
    with fake_hub([QWEN], {QWEN: LEFT}) as (url, hub):
        done = fetch(url, tmp_path, QWEN, hub.models[QWEN]["sha"])
    assert done.returncode == 1
    assert "has no safetensors weights at" in done.stderr


def test_a_gated_model_is_read_with_the_mounted_token_which_is_never_printed(tmp_path: Path) -> None:
    with fake_hub([LLAMA_8B], {LLAMA_8B: TAKEN}) as (url, hub):
        commit = hub.models[LLAMA_8B]["sha"]
        without = fetch(url, tmp_path / "none", LLAMA_8B, commit)
        done = fetch(url, tmp_path / "granted", LLAMA_8B, commit, token=GRANTED_TOKEN)
        sent = {auth for path, auth in hub.requests if "/resolve/" in path}
    assert without.returncode == 1
    assert "is gated and the build's token has no access to it" in without.stderr
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"Bearer {GRANTED_TOKEN}" in sent
    assert GRANTED_TOKEN not in done.stdout + done.stderr + without.stdout + without.stderr
