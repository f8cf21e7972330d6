#!/usr/bin/env python3
"""Entry point of the vLLM image: `vllm serve` with the arguments baked in at build time.

A DataSphere node starts the container without arguments, so the model and every server flag live
in ARGS_FILE, written by the Dockerfile: `{"managed": [...], "extra": [...]}`, the flags the stack
sets and the user's `extraVllmArgs`. `--check` runs during the build: it parses the command with the
image's own vLLM parser, as `vllm serve` does but without starting an engine, and fails the build when
it does not parse or when the extra flags change a setting the stack manages. So a bad image fails
there, and not on a paid GPU node.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ARGS_FILE = Path(os.environ.get("VLLM_SERVE_ARGS_FILE", "/etc/vllm-datasphere/serve-args.json"))
# What `vllm serve` reads for each setting the stack manages, or must stay unset.
MANAGED_ATTRIBUTES = ("model_tag", "model", "served_model_name", "revision", "tokenizer",
                      "tokenizer_revision", "host", "port", "uds", "headless", "grpc", "tensor_parallel_size",
                      "data_parallel_size", "pipeline_parallel_size", "dtype", "quantization",
                      "max_model_len", "gpu_memory_utilization")
Parse = Callable[[list[str]], argparse.Namespace]
SHM = Path("/dev/shm")  # noqa: S108 - the shared memory vLLM uses, not a temporary file
# vLLM's multiprocess executor (always on CPU, and on GPU with tensor-parallel-size above 1) keeps two
# shared-memory message queues in /dev/shm, of 160 MiB and 240 MiB (vLLM 0.32 refused to start in
# Docker's default 64 MiB: "Insufficient space in /dev/shm"). A DataSphere node takes no runtime options,
# and its /dev/shm size is not documented.
SHM_NEEDED_BYTES = 400 * 2**20
SHM_SIZE = "1g"


def fail(message: str) -> SystemExit:
    return SystemExit(f"vllm-datasphere: {message}")


def load_args(path: Path) -> tuple[list[str], list[str]]:
    """The managed and the extra arguments."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise fail(f"cannot read the server arguments in {path}: {exc}") from exc
    if not isinstance(spec, dict) or set(spec) != {"managed", "extra"} or not spec["managed"] or not all(
            isinstance(part, list) and all(isinstance(a, str) for a in part) for part in spec.values()):
        raise fail(f'{path} must hold {{"managed": [...], "extra": [...]}}, lists of strings')
    return spec["managed"], spec["extra"]


def _parse_without_a_device() -> None:
    """The build machine has no GPU: parse as on CPU, as vLLM's own CLI does for `vllm bench`
    (vllm/entrypoints/cli/main.py), so that its defaults need no device."""
    from vllm import platforms  # only inside the image

    if platforms.current_platform.is_unspecified():
        from vllm.platforms.cpu import CpuPlatform  # only inside the image

        platforms.current_platform = CpuPlatform()


def vllm_parser() -> Parse:
    """`vllm serve ARGS` parsed with this image's vLLM, as its CLI does, without starting anything.
    The parser is built once: building it computes every config default of vLLM."""
    try:
        from vllm.entrypoints.cli.serve import ServeSubcommand  # only inside the image
        try:
            from vllm.utils.argparse_utils import FlexibleArgumentParser
        except ImportError:
            from vllm.utils import FlexibleArgumentParser  # vLLM before 0.11
    except ImportError as exc:
        raise fail(f"--check needs the image's vLLM, which does not import: {exc}") from exc
    _parse_without_a_device()
    parser = FlexibleArgumentParser(prog="vllm")
    command = ServeSubcommand()
    command.subparser_init(parser.add_subparsers(dest="subparser"))

    def parse(args: list[str]) -> argparse.Namespace:
        parsed = parser.parse_args(["serve", *args])
        command.validate(parsed)
        return parsed

    return parse


def check(managed: list[str], extra: list[str], parse: Parse | None = None) -> list[str]:
    """The command, once vLLM accepts it and the extra flags leave every managed setting as it was."""
    parse = parse or vllm_parser()
    command = [*managed, *extra]
    refused = f"vLLM refuses the command `vllm serve {' '.join(command)}`"
    try:
        alone, whole = parse(managed), parse(command)
    except SystemExit as exc:
        if isinstance(exc.code, str):  # already explained
            raise
        raise fail(f"{refused} (see vLLM's message above)") from exc  # argparse's way of refusing
    except Exception as exc:  # vLLM's own validation raises several kinds
        raise fail(f"{refused}: {exc}") from exc
    changed = [f"{name} {getattr(alone, name, None)!r} -> {getattr(whole, name, None)!r}"
               for name in MANAGED_ATTRIBUTES if getattr(alone, name, None) != getattr(whole, name, None)]
    if changed:
        raise fail(f"extraVllmArgs {extra} change what the stack manages: {'; '.join(changed)}. "
                   "Set those through the stack's config instead")
    return command


def tensor_parallel_size(args: list[str]) -> int:
    flag = "--tensor-parallel-size"
    return int(args[args.index(flag) + 1]) if flag in args else 1


def shm_free_bytes(path: Path = SHM) -> int:
    try:
        stats = os.statvfs(path)
    except OSError:
        return 0
    return stats.f_bavail * stats.f_frsize


def enlarge_shm() -> bool:
    """Remount /dev/shm larger: possible only where the container may mount (privileged)."""
    try:
        done = subprocess.run(["mount", "-o", f"remount,size={SHM_SIZE}", str(SHM)],  # noqa: S603, S607
                              capture_output=True, check=False)
    except OSError:
        return False
    return done.returncode == 0 and shm_free_bytes() >= SHM_NEEDED_BYTES


def check_shm(managed: list[str]) -> None:
    """Before vLLM starts: enough shared memory for its multiprocess executor, or one line in the node's
    log that says why it will not start and what to do."""
    tp = tensor_parallel_size(managed)
    if tp == 1 and os.environ.get("VLLM_TARGET_DEVICE") != "cpu":
        return
    free = shm_free_bytes()
    if free >= SHM_NEEDED_BYTES or enlarge_shm():
        return
    print(f"vllm-datasphere: /dev/shm has {free // 2**20} MiB free and could not be enlarged; vLLM's "
          f"multiprocess executor (tensor-parallel-size {tp}) needs about {SHM_NEEDED_BYTES // 2**20} MiB "
          "there and will refuse to start ('Insufficient space in /dev/shm'). Where the container runtime "
          f"can be told, give it --shm-size={SHM_SIZE} (or --ipc=host); a DataSphere node cannot be told "
          "(and its /dev/shm size is not documented): serve from a one-GPU configuration, or ask Yandex "
          "Cloud support for the node's shared memory size", file=sys.stderr, flush=True)


def main(argv: list[str]) -> None:
    managed, extra = load_args(ARGS_FILE)
    if argv == ["--check"]:
        print("vllm serve " + " ".join(check(managed, extra)))
        return
    check_shm(managed)
    command = ["vllm", "serve", *managed, *extra]
    os.execvp(command[0], command + argv)  # noqa: S606 - replacing this process is the point


if __name__ == "__main__":
    main(sys.argv[1:])
