#!/usr/bin/env python3
"""Build step of the image target: the files vLLM loads, of one commit of a model, into a folder.

Usage: fetch_weights.py <model id> <commit> <folder> [--token-file /run/secrets/hf_token] [--endpoint URL]

Only the top level of the repository and only what vLLM reads: the safetensors weights and their
index, the model and generation configs, and the tokenizer. Never the `.bin`, `.pth` or `.pt` copies
of the same weights that many repositories also carry, nor other formats (GGUF, ONNX) or folders.
The commit must be a full commit id, so the image holds exactly what the stack pinned. The Hugging
Face token is read from the BuildKit secret file, if one is mounted, and never printed.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import shutil
import sys
from pathlib import Path

from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

# What vLLM loads from a safetensors checkpoint (its weights, configs and tokenizer files).
WANTED = ("*.safetensors", "model.safetensors.index.json", "config.json", "generation_config.json",
          "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
          "added_tokens.json", "vocab.json", "vocab.txt", "merges.txt", "*.tiktoken", "chat_template.json",
          "chat_template.jinja", "preprocessor_config.json")
COMMIT = re.compile(r"^[0-9a-f]{40}$")


def fail(message: str) -> SystemExit:
    return SystemExit(f"vllm-datasphere: {message}")


def chosen(files: list[str]) -> list[str]:
    """The files of the repository's top level that vLLM loads, sorted."""
    return sorted(name for name in files
                  if "/" not in name and any(fnmatch.fnmatchcase(name, pattern) for pattern in WANTED))


def read_token(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def fetch(model: str, commit: str, folder: Path, token: str | None, endpoint: str | None = None) -> list[str]:
    if not COMMIT.match(commit):
        raise fail(f"the commit of {model} must be a full commit id (40 hex characters), got {commit!r}")
    try:
        info = HfApi(endpoint=endpoint).model_info(model, revision=commit, token=token or False)
        names = chosen([sibling.rfilename for sibling in info.siblings or []])
        if not any(name.endswith(".safetensors") for name in names):
            raise fail(f"{model} has no safetensors weights at {commit}: weights image bakes only those. "
                       "Set weights hub, or pick a checkpoint published as safetensors")
        snapshot_download(model, revision=commit, allow_patterns=names, local_dir=folder,
                          token=token or False, endpoint=endpoint)
    # `from None`: the Hub's exception holds the request, and with it the Authorization header.
    except RevisionNotFoundError:
        raise fail(f"{model} has no commit {commit} on Hugging Face") from None
    except GatedRepoError:
        raise fail(f"{model} is gated and the build's token has no access to it (or there is none): "
                   "accept its license on Hugging Face with the account of huggingFaceToken") from None
    except RepositoryNotFoundError:
        raise fail(f"Hugging Face has no model {model} (or the build's token cannot see it)") from None
    shutil.rmtree(folder / ".cache", ignore_errors=True)  # huggingface_hub's download bookkeeping
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise fail(f"the download of {model} at {commit} lacks {missing}")
    return names


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("commit")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--token-file", type=Path, default=Path("/run/secrets/hf_token"))
    parser.add_argument("--endpoint", default="", help="a Hub mirror (empty: huggingface_hub's own)")
    args = parser.parse_args(argv)
    names = fetch(args.model, args.commit, args.folder, read_token(args.token_file), args.endpoint or None)
    size = sum((args.folder / name).stat().st_size for name in names)
    print(f"vllm-datasphere: {args.model} at {args.commit}: {len(names)} files, {size / 1e9:.2f} GB: "
          + ", ".join(names))


if __name__ == "__main__":
    main(sys.argv[1:])
