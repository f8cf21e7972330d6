"""How `vllm serve` reads its flags, so that `extraVllmArgs` cannot override what the stack sets.

vLLM's parser (checked on 0.32 and 0.33: `FlexibleArgumentParser`, `EngineArgs.add_cli_args`) turns `_`
into `-` in a flag's name, accepts any unambiguous prefix of a long flag, has short aliases (`-tp`,
`-q`, `-dp`, `-pp`) and a second long name for the memory fraction, and keeps the last of a repeated
flag. What can be known without vLLM is refused at preview here; the image build then parses the whole
command with the base image's own vLLM (`docker/serve.py --check`).
"""

from __future__ import annotations

from collections.abc import Sequence

# Each flag the stack sets (or must not be set at all), with the fix for a user who sets it.
MANAGED_FLAGS: dict[str, str] = {
    "--model": "set it with pulumi config set model <id>",
    "--served-model-name": "set it with pulumi config set servedModelName <name>",
    "--revision": "set it with pulumi config set modelRevision <commit>",
    "--tokenizer": "remove it: the tokenizer is the model's own, pinned at modelRevision with its weights",
    "--tokenizer-revision": "it follows the model's: pulumi config set modelRevision <commit>",
    "--quantization": "set it with pulumi config set quantization <method>",
    "--dtype": "set it with pulumi config set dtype <precision>",
    "--max-model-len": "set it with pulumi config set maxModelLen <tokens>",
    "--gpu-memory-utilization": "set it with pulumi config set gpuMemoryUtilization <fraction>",
    "--device-memory-utilization": "set it with pulumi config set gpuMemoryUtilization <fraction>",
    "--tensor-parallel-size": "it follows the GPU count: pulumi config set instanceSpec <spec>",
    "--host": "remove it: the node's endpoint needs the server on 0.0.0.0",
    "--port": "remove it: the node's endpoint calls port 8000",
    "--uds": "remove it: the node's endpoint calls HTTP on port 8000, not a Unix socket",
    "--headless": "remove it: the node needs the HTTP server",
    "--grpc": "remove it: the node's endpoint speaks HTTP (the OpenAI API)",
    "--data-parallel-size": "remove it: every GPU of instanceSpec already serves the one model replica",
    "--pipeline-parallel-size": "remove it: every GPU of instanceSpec already serves the one model replica",
}
SHORT_ALIASES = {"-tp": "--tensor-parallel-size", "-q": "--quantization", "-dp": "--data-parallel-size",
                 "-pp": "--pipeline-parallel-size"}


def managed_flag(item: str) -> str | None:
    """The managed flag that `item` sets as vLLM reads it, or None."""
    name = item.split("=", 1)[0]
    if name in SHORT_ALIASES:
        return SHORT_ALIASES[name]
    if not name.startswith("--") or len(name) < 3:
        return None
    name = "--" + name[2:].replace("_", "-")
    if name in MANAGED_FLAGS:
        return name
    # An abbreviation: vLLM takes it for the one flag it starts, or refuses it as ambiguous.
    return next((flag for flag in MANAGED_FLAGS if flag.startswith(name)), None)


def positional_arguments(args: Sequence[str]) -> list[str]:
    """Items that can only be positional: not flags, and not the value of the flag before them."""
    found = []
    for index, item in enumerate(args):
        before = args[index - 1] if index else None
        takes_value = before is not None and before.startswith("-") and "=" not in before
        if not item.startswith("-") and not takes_value:
            found.append(item)
    return found


def flag_number(args: Sequence[str], flag: str) -> int | None:
    """The whole number the last `flag` in `args` sets (`--flag N`, `--flag=N`, `_` for `-`), or None."""
    found = None
    for index, item in enumerate(args):
        name, _, value = item.partition("=")
        if "--" + name[2:].replace("_", "-") != flag or not name.startswith("--"):
            continue
        if not value and index + 1 < len(args):
            value = args[index + 1]
        found = int(value) if value.isdigit() else found
    return found
