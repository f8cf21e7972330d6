#!/usr/bin/env python3
"""Entry point of the vLLM image: `vllm serve` with the arguments baked in at build time.

A DataSphere node starts the container without arguments, so the model and every server
flag live in ARGS_FILE, a JSON list of strings written by the Dockerfile. `--check` validates
the file during the build, so a bad image fails there and not on a paid GPU node.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ARGS_FILE = Path(os.environ.get("VLLM_SERVE_ARGS_FILE", "/etc/vllm-datasphere/serve-args.json"))


def load_args(path: Path) -> list[str]:
    try:
        args = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"vllm-datasphere: cannot read the server arguments in {path}: {exc}") from exc
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        raise SystemExit(f"vllm-datasphere: {path} must hold a non-empty JSON list of strings")
    return args


def main(argv: list[str]) -> None:
    command = ["vllm", "serve", *load_args(ARGS_FILE)]
    if argv == ["--check"]:
        print(" ".join(command))
        return
    os.execvp(command[0], command + argv)  # noqa: S606 - replacing this process is the point


if __name__ == "__main__":
    main(sys.argv[1:])
