#!/usr/bin/env bash
# Make `vllm serve`'s parser of one vLLM release importable beside the CPU build of .venv-vllm: the
# release's `vllm` package alone, taken from its wheel on PyPI (no dependencies: the parser needs only
# orjson beyond what the CPU build has), in .venv-vllm/parser-VERSION. Prints that folder. Idempotent.
#   bash scripts/vllm-parser.sh VERSION
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: scripts/vllm-parser.sh VERSION}
target=.venv-vllm/parser-$version
[ -d .venv-vllm ] || { echo "no .venv-vllm: run scripts/vllm-cpu.sh first" >&2; exit 1; }
if [ ! -f "$target/.ready" ]; then
  rm -rf "$target" "$target.wheel"
  .venv-vllm/bin/python -m pip download --quiet --disable-pip-version-check --no-deps \
    --dest "$target.wheel" "vllm==$version" >&2
  mkdir -p "$target"
  .venv-vllm/bin/python -m zipfile -e "$target.wheel/vllm-$version-"*.whl "$target"
  find "$target" -mindepth 1 -maxdepth 1 ! -name vllm -exec rm -rf {} +
  .venv-vllm/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$target" orjson==3.13.0 >&2
  rm -rf "$target.wheel"
  touch "$target/.ready"
fi
echo "$PWD/$target"
